"""The VOC / VOC aug / COCO-Stuff base configs build their datasets on tiny real layouts."""
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from upertool.registry import DATASETS

CONFIGS = Path(__file__).resolve().parents[2] / 'configs' / '_base_' / 'datasets'


def voc_tree(root: Path, seg_io) -> None:
    stems = {'train': ['2007_000032'], 'val': ['2007_000033'], 'aug': ['2008_000002', 'x_1']}
    for split, names in stems.items():
        folder = 'SegmentationClassAug' if split == 'aug' else 'SegmentationClass'
        for i, stem in enumerate(names):
            seg_io.write_image(str(root / 'JPEGImages' / f'{stem}.jpg'), 8, 10, seed=i)
            seg_io.write_mask(str(root / folder / f'{stem}.png'),
                              np.full((8, 10), 3 + i, np.uint8), palette=True)
        lists = root / 'ImageSets' / 'Segmentation'
        lists.mkdir(parents=True, exist_ok=True)
        (lists / f'{split}.txt').write_text('\n'.join(names) + '\n')


def test_voc_aug_concatenates_train_and_aug(tmp_path, seg_io):
    voc_tree(tmp_path, seg_io)
    cfg = Config.fromfile(str(CONFIGS / 'pascal_voc12_aug.py'))
    init_default_scope('upertool')
    train = cfg.train_dataloader.dataset
    for part in train.datasets:
        part.data_root = str(tmp_path)
    ds = DATASETS.build(train)
    assert type(ds).__name__ == 'ConcatDataset' and len(ds) == 3
    assert len(ds.metainfo['classes']) == 21
    masks = [ds.get_data_info(i)['seg_map_path'] for i in range(3)]
    assert 'SegmentationClass/2007_000032.png' in masks[0]
    assert all('SegmentationClassAug/' in m for m in masks[1:])
    sample = ds[1]  # the full training pipeline
    assert sample['inputs'].shape[1:] == sample['data_samples'].gt_sem_seg.shape
    assert set(sample['data_samples'].gt_sem_seg.data.unique().tolist()) <= {3, 255}
    val_cfg = cfg.val_dataloader.dataset
    val_cfg.data_root = str(tmp_path)
    val = DATASETS.build(val_cfg)
    assert len(val) == 1 and val.get_data_info(0)['img_path'].endswith('2007_000033.jpg')


def test_plain_voc_config(tmp_path, seg_io):
    voc_tree(tmp_path, seg_io)
    cfg = Config.fromfile(str(CONFIGS / 'pascal_voc12.py'))
    init_default_scope('upertool')
    cfg.train_dataloader.dataset.data_root = str(tmp_path)
    assert len(DATASETS.build(cfg.train_dataloader.dataset)) == 1


@pytest.mark.parametrize('name, split, value, expected', [
    ('coco-stuff164k', 'val2017', 170, 170),
    ('coco-stuff10k', 'test2014', 171, 170),  # 10k maps are 1-based: reduce_zero_label
])
def test_coco_stuff_configs(tmp_path, seg_io, name, split, value, expected):
    seg_io.write_image(str(tmp_path / 'images' / split / 'a.jpg'), 6, 6)
    mask = np.full((6, 6), value, np.uint8)
    seg_io.write_mask(str(tmp_path / 'annotations' / split / 'a_labelTrainIds.png'), mask)
    cfg = Config.fromfile(str(CONFIGS / f'{name}.py'))
    init_default_scope('upertool')
    cfg.val_dataloader.dataset.data_root = str(tmp_path)
    ds = DATASETS.build(cfg.val_dataloader.dataset)
    seg = ds[0]['data_samples'].gt_sem_seg.data
    assert seg.unique().tolist() == [expected]
    assert cfg.train_dataloader.dataset.data_prefix.seg_map_path.endswith(
        split.replace('val', 'train').replace('test', 'train'))
