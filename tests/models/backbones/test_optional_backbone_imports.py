"""timm and transformers stay optional: importing upertool and its models imports neither timm nor
torchvision, and building TIMMBackbone / HFBackbone without their package is an ImportError
saying how to install it. (transformers itself is imported by mmengine's optimizer registry
whenever it is installed, so its absence from sys.modules is not upertool's to promise.)"""
import subprocess
import sys

import pytest

from upertool.registry import MODELS

FRESH_INTERPRETER = '''
import sys
import upertool
from upertool.registry import MODELS
MODELS.import_from_location()
import upertool.models.backbones as backbones
assert 'TIMMBackbone' in MODELS.module_dict and 'HFBackbone' in MODELS.module_dict
print(sorted(m for m in ('timm', 'torchvision') if m in sys.modules))
'''


def test_importing_upertool_models_imports_neither_timm_nor_torchvision():
    result = subprocess.run([sys.executable, '-c', FRESH_INTERPRETER], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == '[]'


@pytest.mark.parametrize('type_,package,args', [
    ('TIMMBackbone', 'timm', dict(model_name='resnet18')),
    ('HFBackbone', 'transformers', dict(config=dict(model_type='resnet'))),
])
def test_building_without_the_package_says_how_to_install_it(monkeypatch, type_, package, args):
    monkeypatch.setitem(sys.modules, package, None)  # `import <package>` now fails
    with pytest.raises(ImportError, match=rf'{type_} needs {package}.*`pip install {package}`'):
        MODELS.build(dict(type=type_, **args))
