"""collect_env reports a torchvision whose import fails instead of crashing the Runner."""
import sys

import mmengine.runner.runner as runner_module
import mmengine.utils.dl_utils as dl_utils
import pytest

from upertool.compat import env_collection, install_stack_fixes


@pytest.fixture(autouse=True, scope='module')
def fixes_installed():
    install_stack_fixes()


@pytest.fixture
def broken_torchvision(tmp_path, monkeypatch):
    """A torchvision that fails on import the way a CUDA wheel next to CPU torch does."""
    package = tmp_path / 'torchvision'
    package.mkdir()
    (package / '__init__.py').write_text(
        "raise RuntimeError('operator torchvision::nms does not exist')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == 'torchvision' or m.startswith('torchvision.')]:
        monkeypatch.delitem(sys.modules, name)


def test_runner_and_dl_utils_use_the_replacement():
    assert runner_module.collect_env is dl_utils.collect_env
    assert dl_utils.collect_env.__upertool_replaces__ is not None


def test_original_crashes_on_broken_torchvision(broken_torchvision):
    with pytest.raises(RuntimeError, match='torchvision::nms'):
        dl_utils.collect_env.__upertool_replaces__()


@pytest.mark.parametrize('collect_env', [lambda: dl_utils.collect_env(),
                                         lambda: runner_module.collect_env()])
def test_broken_torchvision_is_reported(broken_torchvision, collect_env):
    env = collect_env()

    assert env['TorchVision'] == (
        'unusable (RuntimeError: operator torchvision::nms does not exist)')
    keys = list(env)
    assert keys.index('PyTorch') < keys.index('TorchVision') < keys.index('MMEngine')
    assert 'torchvision' not in sys.modules  # the temporary block was lifted


def test_working_or_absent_torchvision_is_left_to_mmengine(tmp_path, monkeypatch):
    package = tmp_path / 'torchvision'
    package.mkdir()
    (package / '__init__.py').write_text("__version__ = '0.0.test'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, 'torchvision', raising=False)

    assert env_collection.torchvision_status() == '0.0.test'
    assert dl_utils.collect_env()['TorchVision'] == '0.0.test'

    monkeypatch.setitem(sys.modules, 'torchvision', None)  # as if not installed
    assert env_collection.torchvision_status() is None
    assert 'TorchVision' not in dl_utils.collect_env()
