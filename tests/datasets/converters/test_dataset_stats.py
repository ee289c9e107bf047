"""Dataset statistics and class weights; the weights file feeds CrossEntropyLoss."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from upertool.datasets import FolderSegDataset
from upertool.datasets.converters.stats import (
    class_weights,
    compute_stats,
    format_table,
    save_class_weights,
    stats_dataset_cfg,
    write_report,
)
from upertool.models.losses import CrossEntropyLoss


def test_median_frequency_by_hand():
    counts = np.array([60, 30, 10, 0])
    image_pixels = np.array([100, 100, 50, 0])  # class 2 occurs only in a 50-px image
    w = class_weights(counts, image_pixels, 'median_frequency')
    freq = [0.6, 0.3, 0.2]  # median 0.3
    np.testing.assert_allclose(w[:3], [0.3 / f for f in freq], rtol=1e-6)
    assert w[3] == pytest.approx(w[:3].max())  # never seen: the largest weight, not 0
    assert w.dtype == np.float32


def test_inverse_log_by_hand():
    w = class_weights(np.array([75, 25]), np.array([100, 100]), 'inverse_log')
    np.testing.assert_allclose(w, [1 / np.log(1.77), 1 / np.log(1.27)], rtol=1e-6)
    with pytest.raises(ValueError, match='method'):
        class_weights(np.array([1]), np.array([1]), 'magic')
    with pytest.raises(ValueError, match='no labelled pixel'):
        class_weights(np.array([0, 0]), np.array([0, 0]))


@pytest.fixture
def folder_ds(tmp_path, seg_io):
    masks = [np.array([[0, 0, 1, 1], [0, 0, 1, 255]], np.uint8),
             np.array([[2, 2, 2, 2], [2, 2, 0, 0], [0, 0, 0, 0]], np.uint8)]
    for i, mask in enumerate(masks):
        seg_io.write_image(str(tmp_path / 'images' / f'{i}.png'), *mask.shape, seed=i)
        seg_io.write_mask(str(tmp_path / 'masks' / f'{i}.png'), mask)
    cfg = dict(type='FolderSegDataset', data_root=str(tmp_path),
               metainfo=dict(classes=['a', 'b', 'c', 'd']),
               pipeline=[dict(type='LoadImageFromFile'), dict(type='RandomFlip', prob=1.0)])
    return cfg, masks


def test_stats_of_a_dataset(folder_ds, tmp_path):
    cfg, masks = folder_ds
    cfg = stats_dataset_cfg(cfg)
    assert cfg['pipeline'][-1] == dict(type='LoadAnnotations')  # training pipeline replaced
    ds = FolderSegDataset(**{k: v for k, v in cfg.items() if k != 'type'})
    lines = []
    stats = compute_stats(ds, 4, log=lines.append, log_every=1)
    assert stats['pixel_counts'].tolist() == [4 + 6, 3, 6, 0]
    assert stats['image_counts'].tolist() == [2, 1, 1, 0]
    assert stats['image_pixels'].tolist() == [7 + 12, 7, 12, 0]
    assert stats['ignored_pixels'] == 1
    assert stats['image_sizes'] == [[2, 4, 1], [3, 4, 1]]
    np.testing.assert_allclose(stats['frequencies'], np.array([10, 3, 6, 0]) / 19)
    assert lines == ['dataset stats: 1/2 samples', 'dataset stats: 2/2 samples']
    weights = class_weights(stats['pixel_counts'], stats['image_pixels'])
    table = format_table(stats, ['a', 'b', 'c', 'd'], weights)
    assert 'a' in table.splitlines()[1] and '2 samples; ignored pixels: 1' in table
    write_report(stats, ['a', 'b', 'c', 'd'], weights, str(tmp_path / 'r' / 'stats.json'))
    report = json.loads((tmp_path / 'r' / 'stats.json').read_text())
    assert report['pixel_counts'] == [10, 3, 6, 0] and len(report['class_weights']) == 4


def test_mask_size_is_checked_against_the_image_header(folder_ds, tmp_path, seg_io):
    cfg, masks = folder_ds
    seg_io.write_image(str(tmp_path / 'images' / '1.png'), 5, 5)
    with pytest.raises(ValueError, match=r'masks/1.png.*4x3 \(WxH\).*5x5'):  # at build time
        ds = FolderSegDataset(**{k: v for k, v in stats_dataset_cfg(cfg).items() if k != 'type'})
        compute_stats(ds, 4, log=lambda s: None)


def test_weights_file_is_what_cross_entropy_reads(tmp_path):
    weights = np.array([0.5, 2.0, 1.25], np.float32)
    path = save_class_weights(weights, str(tmp_path / 'w' / 'class_weights.npy'))
    loss = CrossEntropyLoss(class_weight=path, reduction='sum')
    logits = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    label = torch.randint(0, 3, (2, 4, 5), generator=torch.Generator().manual_seed(1))
    expected = F.cross_entropy(logits, label, weight=torch.tensor(weights), reduction='none')
    torch.testing.assert_close(loss(logits, label), expected.sum())
    with pytest.raises(ValueError, match='.npy'):
        save_class_weights(weights, str(tmp_path / 'w.txt'))
