"""Draw samples as the model receives them (after the training pipeline), masks overlaid.

Backs ``tools/analysis/browse_dataset.py``.
"""
from __future__ import annotations

import os
import os.path as osp
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from upertool.visualization.overlay import draw_legend, overlay_mask

from .common import Log


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def render_sample(sample: dict, classes: Sequence[str], palette: Sequence[Sequence[int]],
                  alpha: float = 0.5, ignore_index: int = 255) -> np.ndarray:
    """``image | image with mask overlay`` above a legend of the classes present.

    Args:
        sample: a packed sample (``PackSegInputs``): ``inputs`` (C, H, W) BGR and
            ``data_samples.gt_sem_seg`` (1, H, W).
        classes, palette: the dataset's metainfo.
        alpha: overlay opacity.
        ignore_index: label left unpainted (e.g. padding and borders), shown as is.

    Returns:
        (H + legend, 2W, 3) uint8 BGR.
    """
    image = _to_numpy(sample['inputs'])
    if image.ndim != 3:
        raise ValueError(f'expected packed inputs (C, H, W), got shape {image.shape}')
    image = np.clip(image.transpose(1, 2, 0), 0, 255).astype(np.uint8)
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    data_sample = sample['data_samples']
    if 'gt_sem_seg' not in data_sample:
        raise ValueError('the pipeline produced no gt_sem_seg: add LoadAnnotations before '
                         'PackSegInputs')
    label = _to_numpy(data_sample.gt_sem_seg.data)[0].astype(np.int64)
    overlay = overlay_mask(image, label, palette, alpha)
    panel = np.concatenate([image, overlay], axis=1)
    present = [int(v) for v in np.unique(label) if v != ignore_index and v < len(classes)]
    legend = draw_legend(panel.shape[1], present, classes, palette)
    return np.concatenate([panel, legend], axis=0) if legend.size else panel


def browse_dataset(dataset: Any, out_dir: str, max_samples: int = 20, alpha: float = 0.5,
                   log: Log = print) -> list[str]:
    """Write ``out_dir/<index>_<image name>.png`` for the first ``max_samples`` samples.

    Each sample goes through the dataset's pipeline (random augmentations included, so
    two runs differ unless seeded), exactly as in training.

    Returns:
        The written paths.
    """
    meta = dataset.metainfo
    classes, palette = meta.get('classes') or (), meta.get('palette') or ()
    ignore_index = getattr(dataset, 'ignore_index', 255)
    os.makedirs(out_dir, exist_ok=True)
    total = min(len(dataset), max_samples)
    paths = []
    for i in range(total):
        sample = dataset[i]
        drawing = render_sample(sample, classes, palette, alpha, ignore_index)
        name = osp.splitext(osp.basename(sample['data_samples'].metainfo.get(
            'img_path') or f'sample{i}'))[0]
        path = osp.join(out_dir, f'{i:05d}_{name}.png')
        if not cv2.imwrite(path, drawing):
            raise OSError(f'could not write {path!r}')
        paths.append(path)
        log(f'browse_dataset: {i + 1}/{total} -> {path}')
    return paths
