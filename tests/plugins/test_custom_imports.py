"""`custom_imports` in a config imports any importable package (mmengine's mechanism), so a
module that is not an installed plugin can still register components."""
import pytest
from mmengine.config import Config

from upertool.registry import MODELS

HEADS = '''
from torch import nn
from upertool.registry import MODELS

@MODELS.register_module()
class CustomImportedHead(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)
'''


def test_config_custom_imports_registers_a_package_module(plugin_site, tmp_path):
    package = plugin_site / 'my_ext_pkg' / 'heads'
    package.mkdir(parents=True)
    (plugin_site / 'my_ext_pkg' / '__init__.py').write_text('')
    (package / '__init__.py').write_text('')
    (package / 'lite.py').write_text(HEADS)
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(
        "custom_imports = dict(imports=['my_ext_pkg.heads.lite'], allow_failed_imports=False)\n"
        "model = dict(type='CustomImportedHead', channels=4)\n")

    cfg = Config.fromfile(str(cfg_file))
    head = MODELS.build(cfg.model)

    assert type(head).__module__ == 'my_ext_pkg.heads.lite'
    assert head.conv.in_channels == 4


def test_custom_imports_of_a_missing_module_fails_loudly(plugin_site, tmp_path):
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text("custom_imports = dict(imports=['no_such_ext_pkg.heads'])\n")
    with pytest.raises(ImportError, match='no_such_ext_pkg'):
        Config.fromfile(str(cfg_file))
