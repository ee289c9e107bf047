import os.path as osp

import numpy as np
import pytest

from upertool.datasets import CityscapesDataset

PREFIX = dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train')
FRAMES = [('aachen', 'aachen_000001_000019'), ('aachen', 'aachen_000000_000019'),
          ('bremen', 'bremen_000000_000019')]


@pytest.fixture
def city_root(tmp_path, seg_io):
    root = str(tmp_path / 'cityscapes')
    for i, (city, frame) in enumerate(FRAMES):
        seg_io.write_image(osp.join(root, 'leftImg8bit/train', city,
                                    f'{frame}_leftImg8bit.png'), 6, 12, seed=i)
        mask = np.full((6, 12), i, np.uint8)
        mask[0] = 255  # ignored pixels, as the converted train-id masks have
        gt = osp.join(root, 'gtFine/train', city, frame)
        seg_io.write_mask(gt + '_gtFine_labelTrainIds.png', mask)
        # the other files of the real archive sit beside it and must be ignored
        seg_io.write_mask(gt + '_gtFine_labelIds.png', mask + 7)
        seg_io.write_mask(gt + '_gtFine_color.png', mask)
    return root


def test_metainfo(city_root):
    ds = CityscapesDataset(data_root=city_root, data_prefix=PREFIX)
    assert len(ds.metainfo['classes']) == 19 and len(ds.metainfo['palette']) == 19
    assert ds.metainfo['classes'][0] == 'road' and ds.metainfo['palette'][0] == [128, 64, 128]
    assert ds.metainfo['classes'][-1] == 'bicycle' and ds.reduce_zero_label is False


def test_recursive_scan_pairs_city_subfolders(city_root):
    ds = CityscapesDataset(data_root=city_root, data_prefix=PREFIX)
    assert len(ds) == 3
    infos = [ds.get_data_info(i) for i in range(3)]
    expected = sorted(FRAMES)
    for info, (city, frame) in zip(infos, expected, strict=True):
        assert info['img_path'] == osp.join(city_root, 'leftImg8bit/train', city,
                                            f'{frame}_leftImg8bit.png')
        assert info['seg_map_path'] == osp.join(city_root, 'gtFine/train', city,
                                                f'{frame}_gtFine_labelTrainIds.png')


def test_loads_train_ids_with_ignore(city_root):
    ds = CityscapesDataset(data_root=city_root, data_prefix=PREFIX,
                           pipeline=[dict(type='LoadImageFromFile'),
                                     dict(type='LoadAnnotations')])
    seg = ds[2]['gt_seg_map']  # bremen, written with value 2
    assert seg.shape == (6, 12)
    assert set(np.unique(seg).tolist()) == {2, 255}


def test_missing_train_id_mask_is_named(city_root):
    import os
    os.remove(osp.join(city_root, 'gtFine/train/bremen/bremen_000000_000019'
                                  '_gtFine_labelTrainIds.png'))
    with pytest.raises(FileNotFoundError, match='bremen_000000_000019_gtFine_labelTrainIds'):
        CityscapesDataset(data_root=city_root, data_prefix=PREFIX)
