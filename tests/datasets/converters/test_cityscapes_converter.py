"""Cityscapes labelIds -> labelTrainIds: the table, the files, reruns, refusals, bad input."""
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from upertool.datasets import CityscapesDataset
from upertool.datasets.converters import (
    CITYSCAPES_LABELS,
    convert_cityscapes,
    label_ids_to_train_ids,
)

# The 19 evaluated classes by label id, in train-id order (Cityscapes' label definition).
EVALUATED = [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33]
FRAMES = [('aachen', 'aachen_000000_000019'), ('bochum', 'bochum_000000_000313')]


def test_table():
    assert [lid for lid, _, _ in CITYSCAPES_LABELS] == list(range(34))
    ids = np.arange(34, dtype=np.uint8)[None]
    train = label_ids_to_train_ids(ids)[0]
    for label_id in range(34):
        expected = EVALUATED.index(label_id) if label_id in EVALUATED else 255
        assert train[label_id] == expected, label_id
    names = {name: tid for _, name, tid in CITYSCAPES_LABELS}
    assert names['road'] == 0 and names['bicycle'] == 18 and names['caravan'] == 255


@pytest.fixture
def gt_root(tmp_path, seg_io):
    gt = tmp_path / 'cityscapes' / 'gtFine'
    truth = {}
    for i, (city, frame) in enumerate(FRAMES):
        ids = np.random.default_rng(i).integers(0, 34, (6, 9)).astype(np.uint8)
        base = str(gt / 'train' / city / frame)
        seg_io.write_mask(base + '_gtFine_labelIds.png', ids)
        seg_io.write_mask(base + '_gtFine_instanceIds.png', ids)
        Image.fromarray(np.zeros((6, 9, 3), np.uint8)).save(base + '_gtFine_color.png')
        (gt / 'train' / city / (frame + '_gtFine_polygons.json')).write_text('{}')
        seg_io.write_image(str(tmp_path / 'cityscapes' / 'leftImg8bit' / 'train' / city /
                               (frame + '_leftImg8bit.png')), 6, 9, seed=i)
        truth[base + '_gtFine_labelTrainIds.png'] = ids
    return str(gt), truth


def test_converts_reruns_and_feeds_the_dataset(gt_root):
    gt, truth = gt_root
    lines = []
    summary = convert_cityscapes(gt, log=lines.append, log_every=1)
    assert (summary.total, summary.written) == (2, 2)
    assert any('1/2' in ln for ln in lines) and any('2/2' in ln for ln in lines)
    lut = {lid: tid for lid, _, tid in CITYSCAPES_LABELS}
    for path, ids in truth.items():
        with Image.open(path) as img:
            out = np.asarray(img)
        expected = np.vectorize(lut.get)(ids).astype(np.uint8)
        np.testing.assert_array_equal(out, expected)
    stamps = {p: (os.stat(p).st_mtime_ns, open(p, 'rb').read()) for p in truth}
    again = convert_cityscapes(gt, log=lines.append)
    assert (again.written, again.unchanged) == (0, 2)
    assert stamps == {p: (os.stat(p).st_mtime_ns, open(p, 'rb').read()) for p in truth}
    ds = CityscapesDataset(data_root=osp.dirname(gt), pipeline=[
        dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')],
        data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'))
    assert len(ds) == 2
    np.testing.assert_array_equal(ds[0]['gt_seg_map'], np.asarray(Image.open(sorted(truth)[0])))


def test_parallel_gives_the_same_files(gt_root):
    gt, truth = gt_root
    convert_cityscapes(gt, nproc=2, log=lambda s: None)
    first = {p: open(p, 'rb').read() for p in truth}
    for p in truth:
        os.remove(p)
    convert_cityscapes(gt, nproc=1, log=lambda s: None)
    assert first == {p: open(p, 'rb').read() for p in truth}


def test_refuses_a_folder_with_unrelated_files(gt_root):
    gt, truth = gt_root
    stray = osp.join(gt, 'train', 'aachen', 'my_notes.txt')
    open(stray, 'w').close()
    with pytest.raises(FileExistsError, match='my_notes.txt'):
        convert_cityscapes(gt, log=lambda s: None)
    assert not any(osp.exists(p) for p in truth)  # refused before writing anything


def test_bad_input_is_named(gt_root, tmp_path, seg_io):
    gt, truth = gt_root
    with pytest.raises(FileNotFoundError, match='nowhere'):
        convert_cityscapes(str(tmp_path / 'nowhere'))
    empty = tmp_path / 'empty_gt'
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match='no \\*_gtFine_labelIds.png'):
        convert_cityscapes(str(empty))
    bad = osp.join(gt, 'train', 'bochum', 'bochum_000000_000313_gtFine_labelIds.png')
    seg_io.write_mask(bad, np.full((6, 9), 40, np.uint8))
    with pytest.raises(ValueError, match=r'bochum_000000_000313_gtFine_labelIds.png.*\[40\]'):
        convert_cityscapes(gt, log=lambda s: None)
