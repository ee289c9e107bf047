"""COCO-Stuff 10k: .mat 'S' maps -> train ids 1-171 (0 unlabeled), images copied; reruns."""
import os

import numpy as np
import pytest
import scipy.io as sio
from PIL import Image

from upertool.datasets import COCOStuffDataset
from upertool.datasets.converters import category_to_10k_train_id, convert_coco_stuff_10k

UNUSED = {12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91}
USED = [c for c in range(1, 183) if c not in UNUSED]


def test_mapping_is_mmsegmentations():
    lut = category_to_10k_train_id()
    assert lut[0] == 0 and lut[183] == 0
    assert [int(lut[c]) for c in USED] == list(range(1, 172))
    assert all(lut[c] == 0 for c in UNUSED)
    assert (lut[11], lut[13], lut[92], lut[182]) == (11, 12, 81, 171)


@pytest.fixture
def tenk(tmp_path, seg_io):
    root = tmp_path / 'cocostuff-10k-v1.1'
    (root / 'imageLists').mkdir(parents=True)
    (root / 'annotations').mkdir()
    stems = {'train': ['COCO_train2014_000000000077', 'COCO_train2014_000000000078'],
             'test': ['COCO_train2014_000000000321']}
    truth = {}
    for split, names in stems.items():
        (root / 'imageLists' / f'{split}.txt').write_text('\n'.join(names) + '\n')
        for i, stem in enumerate(names):
            seg_io.write_image(str(root / 'images' / f'{stem}.jpg'), 5, 7, seed=i)
            ids = np.zeros((5, 7), np.uint16)
            ids[0] = [1, 11, 13, 91, 92, 182, 183]  # person, ..., unused 91, banner, wood, other
            ids[1:3, 2:5] = 7 + i
            sio.savemat(str(root / 'annotations' / f'{stem}.mat'), {'S': ids})
            truth[(split, stem)] = ids
    return root, truth


def test_converts_copies_and_reruns_unchanged(tenk, tmp_path):
    root, truth = tenk
    out = tmp_path / 'coco_stuff10k'
    lines = []
    summary = convert_coco_stuff_10k(str(root), str(out), log=lines.append, log_every=1)
    assert (summary.total, summary.written) == (3, 3)
    assert any('3/3' in ln for ln in lines)
    lut = {0: 0, 183: 0, **{c: i + 1 for i, c in enumerate(USED)}, **{c: 0 for c in UNUSED}}
    for (split, stem), ids in truth.items():
        folder = 'train2014' if split == 'train' else 'test2014'
        label = np.asarray(Image.open(out / 'annotations' / folder / f'{stem}_labelTrainIds.png'))
        np.testing.assert_array_equal(label, np.vectorize(lut.get)(ids))
        assert (out / 'images' / folder / f'{stem}.jpg').read_bytes() == (
            root / 'images' / f'{stem}.jpg').read_bytes()
    files = sorted(p for p in out.rglob('*') if p.is_file())
    stamps = [(p.stat().st_mtime_ns, p.read_bytes()) for p in files]
    again = convert_coco_stuff_10k(str(root), str(out), nproc=2, log=lines.append)
    assert (again.written, again.unchanged) == (0, 3)
    assert stamps == [(p.stat().st_mtime_ns, p.read_bytes()) for p in files]
    ds = COCOStuffDataset(data_root=str(out), reduce_zero_label=True,
                          data_prefix=dict(img_path='images/train2014',
                                           seg_map_path='annotations/train2014'),
                          pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')])
    seg = ds[0]['gt_seg_map']
    assert seg[0].tolist() == [0, 10, 11, 255, 80, 170, 255]


def test_default_output_is_the_root(tenk):
    root, _ = tenk
    convert_coco_stuff_10k(str(root), log=lambda s: None)
    assert sorted(os.listdir(root / 'annotations' / 'test2014')) == [
        'COCO_train2014_000000000321_labelTrainIds.png']


def test_refuses_unrelated_files(tenk, tmp_path):
    root, _ = tenk
    out = tmp_path / 'out'
    (out / 'annotations' / 'train2014').mkdir(parents=True)
    (out / 'annotations' / 'train2014' / 'readme.md').write_text('mine')
    with pytest.raises(FileExistsError, match='readme.md'):
        convert_coco_stuff_10k(str(root), str(out), log=lambda s: None)
    assert not (out / 'images').exists()


def test_bad_input_is_named(tenk):
    root, _ = tenk
    os.remove(root / 'annotations' / 'COCO_train2014_000000000078.mat')
    with pytest.raises(FileNotFoundError, match=r'COCO_train2014_000000000078.mat'):
        convert_coco_stuff_10k(str(root))
    sio.savemat(str(root / 'annotations' / 'COCO_train2014_000000000078.mat'),
                {'labels': np.zeros((5, 7))})
    with pytest.raises(ValueError, match=r'000000000078.mat.*no variable "S"'):
        convert_coco_stuff_10k(str(root), log=lambda s: None)
    os.remove(root / 'images' / 'COCO_train2014_000000000321.jpg')
    with pytest.raises(FileNotFoundError, match=r'images/COCO_train2014_000000000321.jpg'):
        convert_coco_stuff_10k(str(root))
    os.remove(root / 'imageLists' / 'test.txt')
    with pytest.raises(FileNotFoundError, match=r'imageLists/test.txt'):
        convert_coco_stuff_10k(str(root))
