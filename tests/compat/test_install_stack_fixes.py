"""install_stack_fixes: light fixes at `import upertool`, the runner's when it is used; once."""
import subprocess
import sys

from upertool.compat import (
    checkpoint_loading,
    cpu_distributed,
    env_collection,
    install_stack_fixes,
    package_lookup,
)

CHECK_PATCHED = '''
import mmengine.config.utils as config_utils
import mmengine.dist.utils as dist_utils
import mmengine.runner.runner as runner
import mmengine.utils.package_utils as package_utils
from mmengine.model.wrappers.distributed import MMDistributedDataParallel
from mmengine.runner.checkpoint import CheckpointLoader
from upertool.compat import checkpoint_loading

print(CheckpointLoader._get_checkpoint_loader('x.pth') is checkpoint_loading.load_from_local_safe)
patched = [package_utils.is_installed, package_utils.get_installed_path,
           config_utils._get_package_and_cfg_path, config_utils._get_cfg_metainfo,
           dist_utils._init_dist_pytorch, MMDistributedDataParallel.__init__,
           runner.collect_env]
print(all(hasattr(f, '__upertool_replaces__') for f in patched))
print(sorted(m for m in ('torchvision', 'safetensors', 'pkg_resources') if m in sys.modules))
'''
# `import upertool` first (no runner yet); a Runner's first build through the registries
# installs the runner's fixes before it could load a checkpoint.
IMPORT_THEN_RUNNER = '''
import sys
import upertool
launcher = sys.modules['mmengine.dist.utils']._init_dist_pytorch
print(hasattr(launcher, '__upertool_replaces__'), 'mmengine.runner' in sys.modules)
from mmengine.runner import Runner
from upertool.registry import LOG_PROCESSORS
LOG_PROCESSORS.build(dict(type='LogProcessor'))
''' + CHECK_PATCHED
# The tools import mmengine.runner before upertool: everything is installed at import.
RUNNER_THEN_IMPORT = '''
import sys
from mmengine.runner import Runner
import upertool
''' + CHECK_PATCHED


def _run(code: str) -> list[str]:
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.split('\n')


def test_import_installs_light_fixes_and_the_first_runner_build_the_rest():
    out = _run(IMPORT_THEN_RUNNER)
    assert out[:2] == ['True False', 'True']  # launcher fix at import, runner not imported
    # Installed, and without importing torchvision, safetensors or pkg_resources.
    assert out[2:4] == ['True', '[]']


def test_import_after_the_runner_installs_every_fix():
    assert _run(RUNNER_THEN_IMPORT)[:3] == ['True', 'True', '[]']


def _patched_objects():
    import mmengine.config.utils as config_utils
    import mmengine.dist.utils as dist_utils
    import mmengine.runner.runner as runner
    import mmengine.utils.package_utils as package_utils
    from mmengine.model.wrappers.distributed import MMDistributedDataParallel
    from mmengine.runner.checkpoint import CheckpointLoader
    return [package_utils.is_installed, package_utils.get_installed_path,
            package_utils.package2module, config_utils._get_package_and_cfg_path,
            config_utils._get_cfg_metainfo, dist_utils._init_dist_pytorch,
            MMDistributedDataParallel.__init__, runner.collect_env,
            *CheckpointLoader._schemes.values()]


def test_installers_are_idempotent():
    install_stack_fixes()
    before = _patched_objects()
    for module in (package_lookup, checkpoint_loading, cpu_distributed, env_collection):
        module.install()
    install_stack_fixes()
    after = _patched_objects()
    assert all(a is b for a, b in zip(before, after, strict=True))
    for obj in after[:8]:  # each wraps mmengine's own function, not another replacement
        assert not hasattr(obj.__upertool_replaces__, '__upertool_replaces__')
