"""COCOStuffDataset on tiny 164k and 10k trees in mmsegmentation's converted layout."""
import os.path as osp

import numpy as np
import pytest

from upertool.datasets import COCOStuffDataset

LOAD = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]


def make_tree(root, split, masks, seg_io):
    for i, (stem, mask) in enumerate(masks.items()):
        seg_io.write_image(osp.join(root, 'images', split, stem + '.jpg'), *mask.shape, seed=i)
        seg_io.write_mask(osp.join(root, 'annotations', split, stem + '_labelTrainIds.png'),
                          mask)
        # the official pixel maps may sit beside the converted ones; they must be skipped
        seg_io.write_mask(osp.join(root, 'annotations', split, stem + '.png'), mask)


def test_metainfo():
    meta = COCOStuffDataset.METAINFO
    assert len(meta['classes']) == 171 and len(meta['palette']) == 171
    assert len(set(meta['classes'])) == 171
    assert meta['classes'][0] == 'person' and meta['classes'][79] == 'toothbrush'
    assert meta['classes'][80] == 'banner' and meta['classes'][-1] == 'wood'


def test_164k_train_ids_with_255_ignore(tmp_path, seg_io):
    root = str(tmp_path / 'coco_stuff164k')
    mask = np.full((8, 12), 255, np.uint8)
    mask[:4] = 0
    mask[4:, :6] = 170
    make_tree(root, 'val2017', {'000000000139': mask, '000000000285': mask[::-1].copy()},
              seg_io)
    ds = COCOStuffDataset(data_root=root, pipeline=LOAD,
                          data_prefix=dict(img_path='images/val2017',
                                           seg_map_path='annotations/val2017'))
    assert len(ds) == 2 and not ds.reduce_zero_label
    assert ds.get_data_info(0)['seg_map_path'].endswith('000000000139_labelTrainIds.png')
    np.testing.assert_array_equal(ds[0]['gt_seg_map'], mask)


def test_10k_reduce_zero_label(tmp_path, seg_io):
    root = str(tmp_path / 'coco_stuff10k')
    mask = np.zeros((6, 6), np.uint8)  # 0 = unlabeled in the 10k maps
    mask[0] = 1
    mask[1] = 171
    make_tree(root, 'train2014', {'COCO_train2014_000000000077': mask}, seg_io)
    ds = COCOStuffDataset(data_root=root, pipeline=LOAD, reduce_zero_label=True,
                          data_prefix=dict(img_path='images/train2014',
                                           seg_map_path='annotations/train2014'))
    seg = ds[0]['gt_seg_map']
    assert seg[0].tolist() == [0] * 6 and seg[1].tolist() == [170] * 6
    assert (seg[2:] == 255).all()


def test_164k_value_171_is_reported(tmp_path, seg_io):
    root = str(tmp_path / 'c')
    make_tree(root, 'val2017', {'a': np.full((4, 4), 171, np.uint8)}, seg_io)
    with pytest.raises(ValueError, match=r'a_labelTrainIds.png.*\[171\]'):  # at build time
        COCOStuffDataset(data_root=root, pipeline=LOAD,
                         data_prefix=dict(img_path='images/val2017',
                                          seg_map_path='annotations/val2017'))[0]
