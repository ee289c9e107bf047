"""pkg_resources-free package lookups, as mmengine's configs and hub use them."""
import os.path as osp

import mmcv
import mmengine
import pytest
from mmengine.config import Config
from mmengine.config import config as config_module
from mmengine.utils import package_utils

import upertool
from upertool.compat import install_stack_fixes, package_lookup


def is_installed(package):
    return mmengine.utils.is_installed(package)


def get_installed_path(package):
    return mmengine.utils.get_installed_path(package)


@pytest.fixture(autouse=True, scope='module')
def fixes_installed():
    install_stack_fixes()


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    """A package `fakecfgpkg` from distribution `fake-cfg-dist`, shipping .mim configs."""
    site = tmp_path / 'site'
    package = site / 'fakecfgpkg'
    (package / '.mim' / 'configs' / 'sub').mkdir(parents=True)
    (package / '__init__.py').write_text('')
    (package / '.mim' / 'configs' / 'x.py').write_text("a = 1\nb = dict(c=2)\n")
    (package / '.mim' / 'configs' / 'sub' / 'y.py').write_text("_base_ = ['../x.py']\ne = 5\n")
    dist_info = site / 'fake_cfg_dist-0.1.dist-info'
    dist_info.mkdir()
    (dist_info / 'METADATA').write_text(
        'Metadata-Version: 2.1\nName: fake-cfg-dist\nVersion: 0.1\n')
    (dist_info / 'top_level.txt').write_text('fakecfgpkg\n')
    (dist_info / 'RECORD').write_text('fakecfgpkg/__init__.py,,\n')
    (site / 'nsonly').mkdir()  # a namespace package: no __init__.py
    monkeypatch.syspath_prepend(str(site))
    return tmp_path, package


def test_mmengine_functions_are_replaced_everywhere():
    from mmengine.utils import is_installed as imported_after_the_fix

    assert package_utils.is_installed is package_lookup.is_installed
    assert imported_after_the_fix is package_lookup.is_installed
    assert config_module.is_installed is package_lookup.is_installed  # imported before it
    assert config_module.get_installed_path is package_lookup.get_installed_path
    assert mmengine.utils.get_installed_path is package_lookup.get_installed_path


def test_is_installed():
    assert is_installed('mmengine')
    assert is_installed('mmcv-lite')  # distribution name only
    assert not is_installed('surely_not_installed_pkg_42')


def test_installed_paths_of_wheel_and_editable_installs():
    assert get_installed_path('mmengine') == osp.dirname(mmengine.__file__)
    assert get_installed_path('mmcv-lite') == osp.dirname(mmcv.__file__)  # dist != module
    assert get_installed_path('upertool') == osp.dirname(upertool.__file__)  # editable
    assert package_utils.package2module('mmcv-lite') == 'mmcv'
    with pytest.raises(ModuleNotFoundError, match='surely_not_installed_pkg_42'):
        get_installed_path('surely_not_installed_pkg_42')


def test_package_on_sys_path_with_dist_info(fake_site):
    _, package = fake_site
    assert is_installed('fake-cfg-dist') and is_installed('fakecfgpkg')
    assert get_installed_path('fakecfgpkg') == str(package)
    assert get_installed_path('fake-cfg-dist') == str(package)
    with pytest.raises(RuntimeError, match='namespace'):
        get_installed_path('nsonly')


def test_config_inherits_from_package_config(fake_site):
    tmp_path, _ = fake_site
    cfg_file = tmp_path / 'leaf.py'
    cfg_file.write_text("_base_ = ['fakecfgpkg::x.py']\nb = dict(d=3)\n")

    cfg = Config.fromfile(str(cfg_file))

    assert cfg.a == 1
    assert cfg.b == dict(c=2, d=3)


def test_get_config_from_package(fake_site):
    from mmengine.hub import get_config

    cfg = get_config('fakecfgpkg::sub/y.py')

    assert cfg.a == 1 and cfg.e == 5


def test_bad_external_config_paths():
    split = package_lookup.get_package_and_cfg_path
    assert split('mmseg::upernet/x.py') == ('mmsegmentation', 'upernet/x.py')
    assert split('upertool::x.py') == ('upertool', 'x.py')
    for bad in ('::x.py', 'pkg::', 'a::b::c.py', 'no-sep.py', '1pkg::x.py'):
        with pytest.raises(ValueError, match='package::path'):
            split(bad)
