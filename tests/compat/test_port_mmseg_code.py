"""tools/misc/port_mmseg_code.py: the mmsegmentation-style project in tests/compat/mmseg_style is
ported inside the test, then built, trained 2 iterations and tested with upertool's tools."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from upertool.utils.port_mmseg import port_files, rewrite_source

ROOT = Path(__file__).resolve().parents[2]
PROJECT = Path(__file__).parent / 'mmseg_style'
CONFIG = 'mmseg_style/configs/attnhead_r18-tiny_1xb2-2iter_tinyshapes-32x32.py'


def run(args, cwd=ROOT, pythonpath=None):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    if pythonpath:
        env['PYTHONPATH'] = os.pathsep.join([str(pythonpath), env.get('PYTHONPATH', '')])
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


def test_rewrite_keeps_formatting_and_rewrites_scopes():
    src = ("from mmseg.registry import MODELS  # keep me\nimport mmseg.models as m\n"
           "default_scope = 'mmseg'\n_base_ = ['mmseg::_base_/default_runtime.py']\n"
           "x = dict(type=\"mmseg.UPerHead\", note='mmseg is great', name=mmseg.__name__)\n")
    assert rewrite_source(src) == (
        "from upertool.registry import MODELS  # keep me\nimport upertool.models as m\n"
        "default_scope = 'upertool'\n_base_ = ['upertool::_base_/default_runtime.py']\n"
        "x = dict(type=\"upertool.UPerHead\", note='mmseg is great', name=upertool.__name__)\n")


def test_unmapped_names_are_listed_with_file_and_line(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text('import torch\nfrom mmseg.models.decode_heads import CCHead, FCNHead\n'
                   'from mmcv.runner import BaseModule\nfrom mmseg.utils import nothing_here\n'
                   "cfg = dict(type='mmseg.NoSuchHead')\n")
    (result,) = port_files([bad])
    shown = [str(p) for p in result.problems]
    assert len(shown) == 4, shown
    assert re.search(r'bad.py:2: mmseg.models.decode_heads.CCHead: .*mmcv.ops.CrissCrossAttention',
                     shown[0])
    assert 'bad.py:3: mmcv.runner: ' in shown[1] and 'out of scope' in shown[1]
    assert 'bad.py:4: mmseg.utils.nothing_here: upertool has no' in shown[2]
    assert "bad.py:5: mmseg.NoSuchHead: no upertool registry has 'NoSuchHead'" in shown[3]


def test_bad_paths_fail_with_a_message(tmp_path):
    code, out = run(['tools/misc/port_mmseg_code.py', str(tmp_path / 'missing')])
    assert code == 2 and 'no such file or folder' in out
    broken = tmp_path / 'broken.py'
    broken.write_text('def f(:\n    """unterminated\n')
    code, out = run(['tools/misc/port_mmseg_code.py', str(broken)])
    assert code == 2 and 'broken.py: cannot be tokenized' in out


def _write_tiny_shapes(root: Path) -> None:
    rng = np.random.default_rng(0)
    for split, count in (('train', 4), ('val', 2)):
        (root / 'img_dir' / split).mkdir(parents=True)
        (root / 'ann_dir' / split).mkdir(parents=True)
        for i in range(count):
            img = rng.integers(0, 60, (32, 32, 3), dtype=np.uint8)
            mask = np.zeros((32, 32), np.uint8)
            x, y = rng.integers(2, 14, 2)
            mask[y:y + 10, x:x + 10] = 1
            cv2.circle(mask, (24, 24), 5, 2, -1)
            img[mask > 0] += np.uint8(150)
            cv2.imwrite(str(root / 'img_dir' / split / f'{i}.png'), img)
            cv2.imwrite(str(root / 'ann_dir' / split / f'{i}.png'), mask)


@pytest.mark.slow
def test_ported_project_trains_and_tests_with_upertools_tools(tmp_path):
    pkgs = tmp_path / 'pkgs'
    shutil.copytree(PROJECT, pkgs / 'mmseg_style', ignore=shutil.ignore_patterns('__pycache__'))
    before = {p: p.read_text() for p in (pkgs / 'mmseg_style').rglob('*.py')}

    code, dry = run(['tools/misc/port_mmseg_code.py', str(pkgs / 'mmseg_style'), '--dry-run'])
    assert code == 0, dry
    assert all(p.read_text() == text for p, text in before.items())  # --dry-run wrote nothing
    assert '-from mmseg.models.decode_heads.decode_head import BaseDecodeHead' in dry
    assert '+from upertool.models.decode_heads.decode_head import BaseDecodeHead' in dry
    assert "+default_scope = 'upertool'" in dry and "+    type='upertool.EncoderDecoder'," in dry

    code, out = run(['tools/misc/port_mmseg_code.py', str(pkgs / 'mmseg_style')])
    assert code == 0, out
    assert 'Every mmseg name found has an upertool counterpart.' in out, out
    code_lines = [ln for p in (pkgs / 'mmseg_style').rglob('*.py')
                  for ln in p.read_text().splitlines() if not ln.lstrip().startswith('#')]
    assert not [ln for ln in code_lines if re.search(r'\bmmseg\b(?!_style)', ln)]

    data = tmp_path / 'tiny_shapes'
    _write_tiny_shapes(data)
    work = tmp_path / 'work'
    options = ['--cfg-options'] + [f'{loader}.dataset.data_root={data}' for loader in (
        'train_dataloader', 'val_dataloader', 'test_dataloader')]
    code, out = run(['tools/train.py', str(pkgs / CONFIG), '--work-dir', str(work), *options],
                    pythonpath=pkgs)
    assert code == 0, out[-4000:]
    assert re.search(r'Iter\(train\) \[2/2\].*decode\.loss_ce: [\d.]+.*decode\.loss_l1: [\d.]+',
                     out), out[-3000:]
    assert (work / 'iter_2.pth').is_file()

    code, out = run(['tools/test.py', str(pkgs / CONFIG), str(work / 'iter_2.pth'),
                     '--work-dir', str(work), *options], pythonpath=pkgs)
    assert code == 0, out[-4000:]
    assert re.search(r'Iter\(test\) \[2/2\]\s+aAcc: [\d.]+\s+mIoU: [\d.]+', out), out[-3000:]
    assert re.search(r'\|\s+disc\s+\|', out), out[-3000:]  # the project's METAINFO classes
