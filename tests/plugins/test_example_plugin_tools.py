"""The example plugin installed with pip into a temporary folder: tools/train.py and
tools/test.py run its config, found through its entry point, with no `custom_imports`."""
import importlib.metadata as metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / 'examples' / 'upertool-plugin-example'
CONFIG_NAME = 'litefuse_tinyconv_1xb4-200_toyblobs-32x32.py'
pytestmark = pytest.mark.slow


def tiny_options(data_root: Path, max_iters: int) -> list[str]:
    """2 iterations on 8 training and 4 validation images, batch 2."""
    opts = [f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={max_iters}',
            f'default_hooks.checkpoint.interval={max_iters}', 'default_hooks.logger.interval=1',
            f'param_scheduler.0.end={max_iters}']
    for loader, count in (('train_dataloader', 8), ('val_dataloader', 4),
                          ('test_dataloader', 4)):
        opts += [f'{loader}.dataset.data_root={data_root}',
                 f'{loader}.dataset.num_images={count}', f'{loader}.batch_size=2']
    return opts


def run_tool(args: list[str], site: Path, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.update(PYTHONPATH=str(site), OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{args} failed:\n{output[-4000:]}'
    return output


@pytest.fixture(scope='module')
def installed(tmp_path_factory) -> Path:
    """pip install (no deps, no build isolation: offline) of a copy of the example."""
    base = tmp_path_factory.mktemp('plugin')
    src = base / 'src'
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns(
        '__pycache__', '*.egg-info', 'build'))
    subprocess.run([sys.executable, '-m', 'pip', '--disable-pip-version-check', '-q',
                    'install', '--no-deps', '--no-build-isolation', '--target',
                    str(base / 'site'), str(src)], check=True, timeout=600)
    return base / 'site'


def test_install_exposes_the_entry_point(installed):
    dists = list(metadata.distributions(path=[str(installed)]))
    assert [d.metadata['Name'] for d in dists] == ['upertool-plugin-example']
    eps = dists[0].entry_points.select(group='upertool.plugins')
    assert [(ep.name, ep.value) for ep in eps] == [('example', 'upertool_plugin_example')]


def test_train_then_test_with_only_the_plugin_components(installed, tmp_path):
    config = installed / 'upertool_plugin_example' / 'configs' / CONFIG_NAME
    assert 'custom_imports =' not in config.read_text()
    work, data = tmp_path / 'work', tmp_path / 'data'

    out = run_tool([str(ROOT / 'tools' / 'train.py'), str(config), '--work-dir', str(work),
                    '--cfg-options', *tiny_options(data, 2)], installed, cwd=tmp_path)

    assert 'Iter(train) [2/2]' in out
    assert 'decode.loss_softiou' in out  # SoftIoULoss from the plugin computed a loss
    assert (work / 'iter_2.pth').is_file()
    dumped = (work / CONFIG_NAME).read_text()  # the config the run used, as mmengine saved it
    for plugin_type in ('TinyConvNet', 'LiteFuseHead', 'SoftIoULoss', 'ToyBlobsDataset',
                        'RandomInvert'):
        assert f"type='{plugin_type}'" in dumped, plugin_type
    assert 'custom_imports' not in dumped
    assert sorted(os.listdir(data)) == ['train-n8-s32-seed0', 'val-n4-s32-seed0']

    out = run_tool([str(ROOT / 'tools' / 'test.py'), str(config), str(work / 'iter_2.pth'),
                    '--work-dir', str(tmp_path / 'test'),
                    '--cfg-options', *tiny_options(data, 2)], installed, cwd=tmp_path)

    found = re.findall(r'Iter\(test\) \[(\d+)/\1\]\s+aAcc: ([\d.]+)\s+mIoU: ([\d.]+)', out)
    assert len(found) == 1, out[-3000:]
    assert 0.0 <= float(found[0][2]) <= 100.0
    # the per-class table lists the plugin dataset's classes
    assert re.search(r'\| square\s+\|', out) and re.search(r'\| disc\s+\|', out)
