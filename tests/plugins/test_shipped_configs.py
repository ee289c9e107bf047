"""upertool's configs ship inside the package (`upertool/.mim/configs`), so a config anywhere
inherits them with `_base_ = ['upertool::...']`: from a wheel install and from the editable
install of a checkout."""
import importlib.metadata as metadata
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(str(p.relative_to(ROOT / 'configs')) for p in (ROOT / 'configs').rglob('*.py'))

LEAF = '''_base_ = ['upertool::_base_/models/upernet_r50.py', 'upertool::_base_/default_runtime.py']
model = dict(decode_head=dict(num_classes=5))
'''
# Loads LEAF in a fresh interpreter and prints where upertool and its configs came from.
PROBE = '''
import os, sys, mmengine.utils, upertool
from mmengine.config import Config
cfg = Config.fromfile(sys.argv[1])
root = mmengine.utils.get_installed_path('upertool')
base = os.path.join(root, '.mim', 'configs', '_base_', 'models', 'upernet_r50.py')
print(upertool.__file__)
print(root)
print(os.path.realpath(base))
print(cfg.model.decode_head.type, cfg.model.decode_head.num_classes, cfg.default_scope)
'''


def probe(leaf: Path, pythonpath: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env['OMP_NUM_THREADS'] = '1'
    if pythonpath:
        env['PYTHONPATH'] = pythonpath
    # cwd outside the checkout, so only the installed upertool can be imported
    proc = subprocess.run([sys.executable, '-c', PROBE, str(leaf)], cwd=leaf.parent, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().split('\n')[-4:]


def copy_source(dest: Path) -> Path:
    """What a wheel is built from, copied so that the build leaves the checkout untouched."""
    src = dest / 'src'
    src.mkdir()
    for name in ('setup.py', 'README.md'):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc')
    for name in ('requirements', 'configs'):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    shutil.copytree(ROOT / 'upertool', src / 'upertool', symlinks=True, ignore=ignore)
    return src


@pytest.fixture(scope='module')
def wheel_site(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp('wheel')
    src = copy_source(base)
    pip = [sys.executable, '-m', 'pip', '--disable-pip-version-check', '-q']
    subprocess.run(pip + ['wheel', '--no-deps', '--no-build-isolation', '-w',
                          str(base / 'dist'), str(src)], check=True, timeout=600)
    wheel = next((base / 'dist').glob('upertool-*.whl'))
    subprocess.run(pip + ['install', '--no-deps', '--target', str(base / 'site'), str(wheel)],
                   check=True, timeout=600)
    return wheel, base / 'site'


def test_checkout_links_the_package_configs_to_configs():
    link = ROOT / 'upertool' / '.mim' / 'configs'
    assert link.is_symlink() and os.readlink(link) == '../../configs'
    assert link.resolve() == (ROOT / 'configs').resolve()


def test_wheel_holds_every_config(wheel_site):
    wheel, _ = wheel_site
    with zipfile.ZipFile(wheel) as zf:
        shipped = sorted(n[len('upertool/.mim/configs/'):] for n in zf.namelist()
                         if n.startswith('upertool/.mim/configs/'))
    assert 'upernet/upernet_r50_4xb4-160k_ade20k-512x512.py' in shipped
    assert shipped == CONFIGS


def test_config_inherits_from_the_wheel_install(wheel_site, tmp_path):
    _, site = wheel_site
    leaf = tmp_path / 'leaf.py'
    leaf.write_text(LEAF)

    module, root, base, summary = probe(leaf, str(site))

    assert module == str(site / 'upertool' / '__init__.py')
    assert root == str(site / 'upertool')
    assert base == str(site / 'upertool' / '.mim' / 'configs' / '_base_' / 'models' /
                       'upernet_r50.py')  # a real file in the install, no link back
    assert summary == 'UPerHead 5 upertool'


def test_config_inherits_from_the_editable_install(tmp_path):
    # (the checkout's own upertool.egg-info may come first on sys.path: look at them all)
    urls = [json.loads(d.read_text('direct_url.json') or '{}')
            for d in metadata.distributions() if d.metadata['Name'] == 'upertool']
    if not any(u.get('dir_info', {}).get('editable') for u in urls):
        pytest.skip('upertool is not installed in editable mode in this environment')
    leaf = tmp_path / 'leaf.py'
    leaf.write_text(LEAF)

    module, root, base, summary = probe(leaf, None)

    assert module == str(ROOT / 'upertool' / '__init__.py')
    assert root == str(ROOT / 'upertool')
    assert base == str((ROOT / 'configs' / '_base_' / 'models' / 'upernet_r50.py').resolve())
    assert summary == 'UPerHead 5 upertool'


def test_build_refuses_a_checkout_without_the_configs_link(tmp_path):
    src = copy_source(tmp_path)
    link = src / 'upertool' / '.mim' / 'configs'
    link.unlink()
    link.write_text('../../configs')  # what git writes with core.symlinks=false
    proc = subprocess.run([sys.executable, 'setup.py', '--version'], cwd=src,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert 'does not lead to the configs folder' in proc.stderr
    assert 'git config core.symlinks true' in proc.stderr
