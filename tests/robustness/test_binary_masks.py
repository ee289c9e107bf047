"""Case 3: binary masks stored as 0/255 under ignore_index=255 are caught, and fixable."""

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from PIL import Image

from upertool.datasets import FolderSegDataset
from upertool.evaluation import IoUMetric
from upertool.structures import SegDataSample


def _tree(root, n=4):
    import cv2

    for i in range(n):
        (root / 'images').mkdir(parents=True, exist_ok=True)
        (root / 'masks').mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / 'images' / f'{i}.png'), np.full((6, 6, 3), 40 * i, np.uint8))
        mask = np.zeros((6, 6), np.uint8)
        mask[1:4, 1:4] = 255  # the object, as many tools save binary masks
        Image.fromarray(mask).save(root / 'masks' / f'{i}.png')
    return root


LOAD = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]


def test_zero_255_masks_with_two_classes_stop_at_build_with_the_fix(tmp_path):
    root = _tree(tmp_path / 'data')
    with pytest.raises(ValueError, match=r'only 0 and 255.*binary=True'):
        FolderSegDataset(data_root=str(root), metainfo=dict(classes=['bg', 'object']))


def test_binary_true_maps_255_to_class_1(tmp_path):
    root = _tree(tmp_path / 'data')
    ds = FolderSegDataset(
        data_root=str(root), metainfo=dict(classes=['bg', 'object']), binary=True, pipeline=LOAD
    )
    mask = ds[0]['gt_seg_map']
    assert set(np.unique(mask).tolist()) == {0, 1}
    assert (mask == 1).sum() == 9


def test_binary_needs_two_classes(tmp_path):
    root = _tree(tmp_path / 'data')
    with pytest.raises(ValueError, match='exactly two classes'):
        FolderSegDataset(data_root=str(root), metainfo=dict(classes=['a', 'b', 'c']), binary=True)


def test_metric_says_when_a_class_never_occurs(log_messages):
    """The audit's aAcc 100 / mIoU 100: background alone, the object ignored."""
    metric = IoUMetric()
    metric.dataset_meta = dict(classes=['bg', 'object'])
    sample = SegDataSample(metainfo=dict(img_path='x.png'))
    gt = torch.zeros((1, 4, 4), dtype=torch.long)
    gt[0, 1:3, 1:3] = 255
    sample.gt_sem_seg = PixelData(data=gt)
    sample.pred_sem_seg = PixelData(data=torch.zeros((1, 4, 4), dtype=torch.long))
    metric.process({}, [sample])
    metrics = metric.compute_metrics(metric.results)
    assert metrics['mIoU'] == 100.0  # the number itself stays what it is ...
    assert any(
        'no ground-truth pixel' in m and "'object'" in m and 'binary=True' in m
        for m in log_messages
    )  # ... but it is never reported silently
