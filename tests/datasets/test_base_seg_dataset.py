import os
import os.path as osp

import numpy as np
import pytest

from upertool.datasets import BaseSegDataset
from upertool.registry import DATASETS

PREFIX = dict(img_path='img_dir/train', seg_map_path='ann_dir/train')


class FourClassDataset(BaseSegDataset):
    METAINFO = dict(classes=('a', 'b', 'c', 'd'),
                    palette=[[1, 1, 1], [2, 2, 2], [3, 3, 3], [4, 4, 4]])


def _masks(n=3, h=6, w=8):
    return {f'img{i}': np.full((h, w), i % 4, np.uint8) for i in range(n)}


def test_scan_lists_pairs_sorted_with_full_data_infos(make_seg_tree):
    masks = {'b': np.zeros((6, 8), np.uint8), 'a': np.ones((6, 8), np.uint8),
             'c': np.ones((6, 8), np.uint8)}
    root = make_seg_tree(masks)
    ds = FourClassDataset(data_root=root, data_prefix=PREFIX)
    assert len(ds) == 3
    infos = [ds.get_data_info(i) for i in range(3)]
    assert [osp.basename(i['img_path']) for i in infos] == ['a.jpg', 'b.jpg', 'c.jpg']
    first = infos[0]
    assert first['img_path'] == osp.join(root, 'img_dir/train', 'a.jpg')
    assert first['seg_map_path'] == osp.join(root, 'ann_dir/train', 'a.png')
    assert first['label_map'] is None
    assert first['reduce_zero_label'] is False
    assert first['seg_fields'] == []
    assert first['num_classes'] == 4 and first['ignore_index'] == 255
    assert ds.num_classes == 4


def test_split_file_selects_and_orders_stems(make_seg_tree, tmp_path):
    root = make_seg_tree(_masks(4))
    with open(osp.join(root, 'split.txt'), 'w') as f:
        f.write('img3\n\nimg1\n')
    ds = FourClassDataset(data_root=root, data_prefix=PREFIX, ann_file='split.txt')
    assert [osp.basename(ds.get_data_info(i)['img_path']) for i in range(len(ds))] == \
        ['img3.jpg', 'img1.jpg']


def test_split_file_stem_without_image_is_named(make_seg_tree):
    root = make_seg_tree(_masks(2))
    with open(osp.join(root, 'split.txt'), 'w') as f:
        f.write('img0\nghost\n')
    with pytest.raises(FileNotFoundError, match=r"split\.txt.*ghost\.jpg"):
        FourClassDataset(data_root=root, data_prefix=PREFIX, ann_file='split.txt')


def test_missing_data_root_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere'):
        FourClassDataset(data_root=str(tmp_path / 'nowhere'), data_prefix=PREFIX)


@pytest.mark.parametrize('key', ['img_path', 'seg_map_path'])
def test_missing_folder_is_named(make_seg_tree, key):
    root = make_seg_tree(_masks(1))
    prefix = dict(PREFIX, **{key: 'no_such_folder'})
    with pytest.raises(FileNotFoundError, match=f"{key}.*no_such_folder"):
        FourClassDataset(data_root=root, data_prefix=prefix)


def test_zero_samples_reports_folder_suffix_and_other_files(make_seg_tree):
    root = make_seg_tree(_masks(3), img_suffix='.jpeg')
    with pytest.raises(ValueError) as err:
        FourClassDataset(data_root=root, data_prefix=PREFIX)
    msg = str(err.value)
    assert "'.jpg'" in msg and 'img_dir/train' in msg and '3 .jpeg' in msg


def test_image_without_mask_names_both_paths(make_seg_tree):
    root = make_seg_tree(_masks(3))
    os.remove(osp.join(root, 'ann_dir/train/img1.png'))
    with pytest.raises(FileNotFoundError) as err:
        FourClassDataset(data_root=root, data_prefix=PREFIX)
    assert 'img_dir/train/img1.jpg' in str(err.value)
    assert 'ann_dir/train/img1.png' in str(err.value)


def test_lazy_init_defers_the_scan(make_seg_tree):
    root = make_seg_tree(_masks(1))
    ds = FourClassDataset(data_root=root, data_prefix=dict(PREFIX, img_path='missing'),
                          lazy_init=True)
    with pytest.raises(FileNotFoundError, match='missing'):
        ds.full_init()


def test_no_mask_prefix_gives_image_only_infos(make_seg_tree):
    root = make_seg_tree(_masks(2))
    ds = FourClassDataset(data_root=root, data_prefix=dict(img_path='img_dir/train'))
    assert 'seg_map_path' not in ds.get_data_info(0)


def test_class_subset_gives_label_map_and_palette_subset(make_seg_tree):
    mask = np.array([[0, 1, 2, 3], [3, 2, 1, 0]], np.uint8)
    root = make_seg_tree({'x': mask})
    ds = FourClassDataset(data_root=root, data_prefix=PREFIX, metainfo=dict(classes=('d', 'b')),
                          pipeline=[dict(type='LoadImageFromFile'),
                                    dict(type='LoadAnnotations')])
    assert ds.label_map == {0: 255, 1: 1, 2: 255, 3: 0}
    assert ds.metainfo['palette'] == [[4, 4, 4], [2, 2, 2]]
    assert ds.num_classes == 2
    expected = np.vectorize({0: 255, 1: 1, 2: 255, 3: 0}.get)(mask)
    np.testing.assert_array_equal(ds[0]['gt_seg_map'], expected)


def test_classes_not_a_subset_raise(make_seg_tree):
    root = make_seg_tree(_masks(1))
    with pytest.raises(ValueError, match="'zebra'"):
        FourClassDataset(data_root=root, data_prefix=PREFIX,
                         metainfo=dict(classes=('a', 'zebra')))


def test_missing_palette_is_random_but_seeded(make_seg_tree):
    root = make_seg_tree(_masks(1))
    meta = dict(classes=('x', 'y', 'z'))
    p1 = BaseSegDataset(data_root=root, data_prefix=PREFIX, metainfo=meta).metainfo['palette']
    state = np.random.get_state()
    p2 = BaseSegDataset(data_root=root, data_prefix=PREFIX, metainfo=meta).metainfo['palette']
    assert p1 == p2 and len(p1) == 3 and len(set(map(tuple, p1))) == 3
    assert all(0 <= v < 256 for colour in p1 for v in colour)
    # The global RNG is left alone (training randomness does not depend on the palette).
    assert np.random.get_state()[1].tolist() == state[1].tolist()


def test_test_mode_requires_classes(make_seg_tree):
    root = make_seg_tree(_masks(1))
    with pytest.raises(ValueError, match='classes'):
        BaseSegDataset(data_root=root, data_prefix=PREFIX, test_mode=True)


def test_pipeline_dicts_resolve_in_upertool_without_default_scope(make_seg_tree):
    root = make_seg_tree(_masks(2))
    ds = DATASETS.build(dict(
        type='BaseSegDataset', data_root=root, data_prefix=PREFIX,
        metainfo=dict(classes=('a', 'b', 'c', 'd')),
        pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                  dict(type='PackSegInputs')]))
    out = ds[1]
    assert out['inputs'].shape == (3, 6, 8)
    assert int(out['data_samples'].gt_sem_seg.data.max()) == 1


def test_indices_and_serialize(make_seg_tree):
    root = make_seg_tree(_masks(4))
    ds = FourClassDataset(data_root=root, data_prefix=PREFIX, indices=2, serialize_data=False)
    assert len(ds) == 2
    with pytest.raises(ValueError, match='no samples'):
        FourClassDataset(data_root=root, data_prefix=PREFIX, indices=[])
