import os.path as osp

import numpy as np
import pytest

from upertool.datasets import ADE20KDataset
from upertool.registry import DATASETS

PREFIX = dict(img_path='images/training', seg_map_path='annotations/training')


@pytest.fixture
def ade_root(tmp_path, seg_io):
    root = str(tmp_path / 'ADEChallengeData2016')
    for i, stem in enumerate(['ADE_train_00000002', 'ADE_train_00000001']):
        seg_io.write_image(osp.join(root, 'images/training', stem + '.jpg'), 8, 10, seed=i)
        mask = np.zeros((8, 10), np.uint8)
        mask[:, 5:] = 1 + i
        mask[0, 0] = 150
        seg_io.write_mask(osp.join(root, 'annotations/training', stem + '.png'), mask)
    # validation split, as in the real archive; it must not leak into training
    seg_io.write_image(osp.join(root, 'images/validation/ADE_val_00000001.jpg'), 8, 10)
    seg_io.write_mask(osp.join(root, 'annotations/validation/ADE_val_00000001.png'),
                      np.zeros((8, 10), np.uint8))
    return root


def test_metainfo_and_defaults(ade_root):
    ds = ADE20KDataset(data_root=ade_root, data_prefix=PREFIX)
    meta = ds.metainfo
    assert len(meta['classes']) == 150 and len(meta['palette']) == 150
    assert meta['classes'][0] == 'wall' and meta['classes'][-1] == 'flag'
    assert meta['palette'][0] == [120, 120, 120] and meta['palette'][-1] == [92, 0, 255]
    assert ds.img_suffix == '.jpg' and ds.seg_map_suffix == '.png'
    assert ds.reduce_zero_label is True and meta['reduce_zero_label'] is True


def test_scan_finds_training_pairs_in_order(ade_root):
    ds = ADE20KDataset(data_root=ade_root, data_prefix=PREFIX)
    assert len(ds) == 2
    info = ds.get_data_info(0)
    assert info['img_path'] == osp.join(ade_root, 'images/training/ADE_train_00000001.jpg')
    assert info['seg_map_path'] == osp.join(ade_root,
                                            'annotations/training/ADE_train_00000001.png')
    assert info['reduce_zero_label'] is True and info['num_classes'] == 150


def test_reduce_zero_label_maps_zero_to_ignore_and_shifts(ade_root):
    ds = DATASETS.build(dict(
        type='ADE20KDataset', data_root=ade_root, data_prefix=PREFIX,
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations', reduce_zero_label=True)]))
    seg = ds[1]['gt_seg_map']  # ADE_train_00000002: raw values 0, 1 (right half), 150
    raw = np.zeros((8, 10), np.uint8)
    raw[:, 5:] = 1
    raw[0, 0] = 150
    expected = np.where(raw == 0, 255, raw.astype(int) - 1)
    np.testing.assert_array_equal(seg, expected)
    assert seg.dtype == np.uint8


def test_contradicting_reduce_zero_label_raises(ade_root):
    ds = ADE20KDataset(data_root=ade_root, data_prefix=PREFIX,
                       pipeline=[dict(type='LoadImageFromFile'),
                                 dict(type='LoadAnnotations', reduce_zero_label=False)])
    with pytest.raises(ValueError, match='reduce_zero_label'):
        ds[0]


def test_label_above_150_is_reported_with_the_file(ade_root, seg_io):
    bad = osp.join(ade_root, 'annotations/training/ADE_train_00000001.png')
    mask = np.zeros((8, 10), np.uint8)
    mask[2, 2] = 151  # -> 150 after reduce_zero_label, not a class
    seg_io.write_mask(bad, mask)
    with pytest.raises(ValueError, match=r'ADE_train_00000001\.png.*\[150\]'):  # at build
        ADE20KDataset(data_root=ade_root, data_prefix=PREFIX,
                      pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')])[0]


def test_base_config_pipelines_run(ade_root):
    """The train and test pipelines of configs/_base_/datasets/ade20k.py, scaled down."""
    train = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', reduce_zero_label=True),
             dict(type='RandomResize', scale=(40, 10), ratio_range=(0.5, 2.0), keep_ratio=True),
             dict(type='RandomCrop', crop_size=(8, 8), cat_max_ratio=0.75),
             dict(type='RandomFlip', prob=0.5), dict(type='PhotoMetricDistortion'),
             dict(type='PackSegInputs')]
    ds = ADE20KDataset(data_root=ade_root, data_prefix=PREFIX, pipeline=train)
    out = ds[0]
    assert out['inputs'].shape[0] == 3 and out['inputs'].shape[1] <= 8
    assert out['data_samples'].gt_sem_seg.data.shape[1:] == out['inputs'].shape[1:]
    test = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(40, 20), keep_ratio=True),
            dict(type='LoadAnnotations', reduce_zero_label=True), dict(type='PackSegInputs')]
    ds = ADE20KDataset(data_root=ade_root, data_prefix=PREFIX, pipeline=test, test_mode=True)
    out = ds[0]
    # keep_ratio: long side 10 -> <= 40, short side 8 -> <= 20, so factor min(4, 2.5)
    assert tuple(out['inputs'].shape) == (3, 20, 25)
    # annotations are loaded after resizing: they keep the original size
    assert tuple(out['data_samples'].gt_sem_seg.data.shape) == (1, 8, 10)
    assert out['data_samples'].ori_shape == (8, 10)
