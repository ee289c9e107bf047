"""The converter command lines (thin wrappers): arguments reach the library, progress shows."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
from PIL import Image
from pycocotools import mask as mask_utils

ROOT = Path(__file__).resolve().parents[2]


def load_tool(name: str):
    path = ROOT / 'tools' / 'dataset_converters' / f'{name}.py'
    spec = importlib.util.spec_from_file_location(f'tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_cityscapes_tool(tmp_path, capsys):
    ids = np.array([[7, 8, 0], [26, 33, 4]], np.uint8)
    write_png(tmp_path / 'gtFine' / 'val' / 'ulm' / 'ulm_000000_000019_gtFine_labelIds.png', ids)
    tool = load_tool('cityscapes')
    tool.main([str(tmp_path), '--nproc', '1', '--log-every', '1'])
    out = tmp_path / 'gtFine' / 'val' / 'ulm' / 'ulm_000000_000019_gtFine_labelTrainIds.png'
    assert np.asarray(Image.open(out)).tolist() == [[0, 1, 255], [13, 18, 255]]
    assert '1/1 (1 written, 0 unchanged)' in capsys.readouterr().out
    tool.main([str(tmp_path), '--nproc', '1'])
    assert '1 masks, 0 written, 1 already up to date' in capsys.readouterr().out


def test_voc_aug_tool(tmp_path, capsys):
    voc = tmp_path / 'VOCdevkit' / 'VOC2012'
    (voc / 'ImageSets' / 'Segmentation').mkdir(parents=True)
    (voc / 'ImageSets' / 'Segmentation' / 'train.txt').write_text('a\n')
    (voc / 'ImageSets' / 'Segmentation' / 'val.txt').write_text('b\n')
    sbd = tmp_path / 'SBD' / 'dataset'
    (sbd / 'cls').mkdir(parents=True)
    (sbd / 'train.txt').write_text('c\n')
    (sbd / 'val.txt').write_text('b\n')
    for stem in 'abc':
        write_png(voc / 'JPEGImages' / f'{stem}.jpg', np.zeros((3, 3, 3), np.uint8))
    for stem in 'bc':
        sio.savemat(str(sbd / 'cls' / f'{stem}.mat'),
                    {'GTcls': {'Segmentation': np.full((3, 3), 5, np.uint8)}})
    out = tmp_path / 'aug_masks'
    load_tool('voc_aug').main([str(tmp_path / 'VOCdevkit'), str(tmp_path / 'SBD'), '-o', str(out)])
    assert sorted(p.name for p in out.iterdir()) == ['b.png', 'c.png']
    assert (voc / 'ImageSets' / 'Segmentation' / 'aug.txt').read_text() == 'c\n'
    assert 'SBD .mat -> PNG: 2/2' in capsys.readouterr().out


def test_coco_stuff_tool_164k_and_10k(tmp_path, capsys):
    h, w = 4, 6
    sky = np.zeros((h, w), np.uint8)
    sky[:2] = 1
    rle = mask_utils.encode(np.asfortranarray(sky))
    images = [dict(id=1, file_name='x.jpg', height=h, width=w)]
    stuff = dict(images=images, categories=[], annotations=[dict(
        id=1, image_id=1, category_id=157,
        segmentation=dict(size=[h, w], counts=rle['counts'].decode()))])
    things = dict(images=images, categories=[], annotations=[dict(
        id=2, image_id=1, category_id=1, iscrowd=0, segmentation=[[0, 2, 3, 2, 3, 4, 0, 4]])])
    (tmp_path / 's.json').write_text(json.dumps(stuff))
    (tmp_path / 't.json').write_text(json.dumps(things))
    tool = load_tool('coco_stuff')
    out = tmp_path / 'ann'
    tool.main(['164k', '--stuff-json', str(tmp_path / 's.json'), '--thing-json',
               str(tmp_path / 't.json'), '--out-dir', str(out), '--nproc', '1'])
    label = np.asarray(Image.open(out / 'x_labelTrainIds.png'))
    assert label[:2].tolist() == [[145] * 6] * 2  # sky-other: category 157 -> train id 145
    assert label[2:, :3].tolist() == [[0] * 3] * 2 and (label[2:, 3:] == 255).all()
    assert 'COCO-Stuff 164k JSON -> PNG: 1/1' in capsys.readouterr().out

    tenk = tmp_path / '10k'
    (tenk / 'imageLists').mkdir(parents=True)
    (tenk / 'annotations').mkdir()
    for split, stem in (('train', 'p'), ('test', 'q')):
        (tenk / 'imageLists' / f'{split}.txt').write_text(stem + '\n')
        write_png(tenk / 'images' / f'{stem}.jpg', np.zeros((2, 2, 3), np.uint8))
        sio.savemat(str(tenk / 'annotations' / f'{stem}.mat'), {'S': np.full((2, 2), 182)})
    tool.main(['10k', str(tenk), '--nproc', '1'])
    label = np.asarray(Image.open(tenk / 'annotations' / 'test2014' / 'q_labelTrainIds.png'))
    assert (label == 171).all()
    assert 'COCO-Stuff 10k .mat -> PNG: 2/2' in capsys.readouterr().out


@pytest.mark.slow  # a fresh interpreter imports torch: seconds
def test_tool_runs_as_a_script(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / 'tools' / 'dataset_converters' / 'coco_stuff.py'), '164k',
         '--stuff-json', str(tmp_path / 'missing.json'), '--thing-json', 'x', '--out-dir', 'y'],
        capture_output=True, text=True, timeout=120, env={'OMP_NUM_THREADS': '1',
                                                           'PATH': '/usr/bin:/bin'})
    assert proc.returncode != 0
    assert "COCO stuff annotation file '" in proc.stderr and 'missing.json' in proc.stderr


@pytest.mark.parametrize('name', ['cityscapes', 'voc_aug', 'coco_stuff'])
def test_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_tool(name).main(['--help'])
    assert exit_info.value.code == 0
    assert 'usage' in capsys.readouterr().out
