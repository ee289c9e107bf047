"""install_stack_fixes: installed by importing upertool.registry, once, cheaply."""
import subprocess
import sys

from upertool.compat import (
    checkpoint_loading,
    cpu_distributed,
    env_collection,
    install_stack_fixes,
    package_lookup,
)

FRESH_INTERPRETER = '''
import sys
import upertool.registry
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


def test_registry_import_installs_every_fix_in_a_fresh_interpreter():
    result = subprocess.run([sys.executable, '-c', FRESH_INTERPRETER], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # Installed, and without importing torchvision, safetensors or pkg_resources.
    assert result.stdout.split('\n')[:3] == ['True', 'True', '[]']


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
