"""Drawing samples after the training pipeline: image | overlay, legend, files."""
import os

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from upertool.datasets import FolderSegDataset
from upertool.datasets.converters.browse import browse_dataset, render_sample
from upertool.structures import SegDataSample
from upertool.visualization import overlay_mask

PALETTE = [[255, 0, 0], [0, 255, 0]]


def packed(image: np.ndarray, label: np.ndarray) -> dict:
    sample = SegDataSample()
    sample.gt_sem_seg = PixelData(data=torch.from_numpy(label[None].astype(np.int64)))
    return dict(inputs=torch.from_numpy(image.transpose(2, 0, 1).copy()), data_samples=sample)


def test_render_sample_panels():
    image = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    label = np.zeros((6, 8), np.int64)
    label[3:] = 1
    label[0, 0] = 255
    out = render_sample(packed(image, label), ['sky', 'grass'], PALETTE, alpha=0.5)
    assert out.shape[1] == 16 and out.shape[0] > 6  # legend strip below
    np.testing.assert_array_equal(out[:6, :8], image)
    np.testing.assert_array_equal(out[:6, 8:], overlay_mask(image, label, PALETTE, 0.5))
    assert (out[0, 8] == image[0, 0]).all()  # ignored pixel left as it is


def test_render_without_labels_explains():
    sample = dict(inputs=torch.zeros(3, 4, 4, dtype=torch.uint8), data_samples=SegDataSample())
    with pytest.raises(ValueError, match='LoadAnnotations'):
        render_sample(sample, ['a'], [[0, 0, 0]])


def test_browse_writes_pipeline_output(tmp_path, seg_io):
    for i in range(3):
        seg_io.write_image(str(tmp_path / 'images' / f'im{i}.png'), 6, 8, seed=i)
        seg_io.write_mask(str(tmp_path / 'masks' / f'im{i}.png'), np.full((6, 8), i % 2))
    ds = FolderSegDataset(data_root=str(tmp_path), metainfo=dict(classes=['a', 'b'],
                                                                   palette=PALETTE),
                          pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                                    dict(type='Resize', scale=(16, 12), keep_ratio=False),
                                    dict(type='PackSegInputs')])
    lines = []
    paths = browse_dataset(ds, str(tmp_path / 'vis'), max_samples=2, log=lines.append)
    assert [os.path.basename(p) for p in paths] == ['00000_im0.png', '00001_im1.png']
    drawing = cv2.imread(paths[1])
    assert drawing.shape[1] == 32  # the resized (pipeline) size, doubled
    expected = overlay_mask(cv2.resize(cv2.imread(str(tmp_path / 'images' / 'im1.png')),
                                       (16, 12), interpolation=cv2.INTER_LINEAR),
                            np.ones((12, 16)), PALETTE, 0.5)
    assert np.abs(drawing[:12, 16:].astype(int) - expected).max() <= 1
    assert len(lines) == 2
