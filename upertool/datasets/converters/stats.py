"""Dataset statistics: class pixel frequencies, image sizes and suggested class weights.

Backs ``tools/analysis/dataset_stats.py``. Masks are read through the dataset's own
``LoadAnnotations`` (so ``label_map`` and ``reduce_zero_label`` apply and the numbers
are in the label space the loss sees); images are not decoded, only their headers read.
"""
from __future__ import annotations

import copy
import json
import os
import os.path as osp
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from .common import Log

WEIGHT_METHODS = ('median_frequency', 'inverse_log')


class _ReadImageSize:
    """Pipeline step: ``ori_shape`` from the image header, so LoadAnnotations can check the
    mask's size without decoding the image."""

    def __call__(self, results: dict) -> dict:
        with Image.open(results['img_path']) as img:
            width, height = img.size
        results['ori_shape'] = results['img_shape'] = (height, width)
        return results


def stats_dataset_cfg(dataset_cfg: dict) -> dict:
    """A copy of a dataset config whose pipeline(s) only read sizes and masks.

    Wrappers (``ConcatDataset``'s ``datasets``, ``RepeatDataset``'s ``dataset``) are
    followed, so e.g. the VOC aug training set is measured as a whole.
    """
    cfg = copy.deepcopy(dict(dataset_cfg))
    if 'datasets' in cfg:
        cfg['datasets'] = [stats_dataset_cfg(c) for c in cfg['datasets']]
    elif 'dataset' in cfg:
        cfg['dataset'] = stats_dataset_cfg(cfg['dataset'])
    else:
        cfg['pipeline'] = [_ReadImageSize(), dict(type='LoadAnnotations')]
    return cfg


def class_weights(pixel_counts: np.ndarray, image_pixels: np.ndarray,
                  method: str = 'median_frequency') -> np.ndarray:
    """Suggested per-class loss weights (float32, one per class).

    Args:
        pixel_counts: (C,) labelled pixels of each class.
        image_pixels: (C,) total labelled pixels of the images in which each class occurs.
        method: 'median_frequency' (Eigen & Fergus: ``median(f) / f_c`` with
            ``f_c = pixel_counts[c] / image_pixels[c]``) or 'inverse_log' (ENet:
            ``1 / ln(1.02 + p_c)`` with ``p_c`` the class's share of all labelled pixels).

    Classes that never occur get the largest weight of those that do, so a class seen
    only in other data is not silently switched off.
    """
    if method not in WEIGHT_METHODS:
        raise ValueError(f'class weight method must be one of {WEIGHT_METHODS}, got {method!r}')
    counts = np.asarray(pixel_counts, np.float64)
    present = counts > 0
    if not present.any():
        raise ValueError('no labelled pixel of any class: cannot suggest class weights')
    weights = np.zeros_like(counts)
    if method == 'median_frequency':
        freq = counts[present] / np.asarray(image_pixels, np.float64)[present]
        weights[present] = np.median(freq) / freq
    else:
        share = counts[present] / counts.sum()
        weights[present] = 1.0 / np.log(1.02 + share)
    weights[~present] = weights[present].max()
    return weights.astype(np.float32)


def compute_stats(dataset: Any, num_classes: int, ignore_index: int = 255,
                  max_samples: int | None = None, log: Log = print,
                  log_every: int = 500) -> dict:
    """Walk a dataset whose pipeline yields ``gt_seg_map`` and ``img_shape``.

    Returns:
        dict with ``num_samples``, ``pixel_counts`` (C,), ``image_counts`` (C,) (images
        containing the class), ``image_pixels`` (C,) (labelled pixels of those images),
        ``ignored_pixels``, ``frequencies`` (C,) (share of labelled pixels) and
        ``image_sizes`` (list of [height, width, count], most common first).
    """
    total = len(dataset) if max_samples is None else min(len(dataset), max_samples)
    pixel_counts = np.zeros(num_classes, np.int64)
    image_counts = np.zeros(num_classes, np.int64)
    image_pixels = np.zeros(num_classes, np.int64)
    ignored = 0
    sizes: Counter = Counter()
    for i in range(total):
        results = dataset[i]
        seg = np.asarray(results['gt_seg_map'])
        hist = np.bincount(seg.ravel(), minlength=256)
        ignored += int(hist[ignore_index]) if ignore_index < hist.size else 0
        hist = hist[:num_classes]
        pixel_counts += hist
        image_counts += hist > 0
        image_pixels[hist > 0] += int(hist.sum())
        sizes[tuple(results['img_shape'][:2])] += 1
        if (i + 1) % max(1, log_every) == 0 or i + 1 == total:
            log(f'dataset stats: {i + 1}/{total} samples')
    labelled = pixel_counts.sum()
    return dict(
        num_samples=total, pixel_counts=pixel_counts, image_counts=image_counts,
        image_pixels=image_pixels, ignored_pixels=ignored,
        frequencies=pixel_counts / labelled if labelled else np.zeros(num_classes),
        image_sizes=[[h, w, n] for (h, w), n in sizes.most_common()])


def save_class_weights(weights: np.ndarray, path: str) -> str:
    """Save a 1-d float32 array that ``CrossEntropyLoss(class_weight=path)`` reads."""
    if not path.endswith('.npy'):
        raise ValueError(f'class weights file {path!r} must end with .npy (np.save would '
                         'append it, and the loss only reads .npy files)')
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    np.save(path, np.asarray(weights, np.float32).reshape(-1), allow_pickle=False)
    return path


def format_table(stats: dict, classes: Sequence[str], weights: np.ndarray) -> str:
    """A plain-text table: class, pixels, share, images, suggested weight."""
    rows = [f'{"class":<24}{"pixels":>14}{"share %":>10}{"images":>9}{"weight":>10}']
    for c, name in enumerate(classes):
        rows.append(f'{str(name)[:23]:<24}{int(stats["pixel_counts"][c]):>14}'
                    f'{100 * float(stats["frequencies"][c]):>10.3f}'
                    f'{int(stats["image_counts"][c]):>9}{float(weights[c]):>10.4f}')
    sizes = ', '.join(f'{h}x{w} (HxW) x{n}' for h, w, n in stats['image_sizes'][:5])
    rows.append(f'{stats["num_samples"]} samples; ignored pixels: {stats["ignored_pixels"]}; '
                f'image sizes: {sizes}')
    return '\n'.join(rows)


def write_report(stats: dict, classes: Sequence[str], weights: np.ndarray, path: str) -> None:
    """The statistics as JSON (lists, not arrays), with class names and weights."""
    out = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in stats.items()}
    out.update(classes=list(classes), class_weights=np.asarray(weights).tolist())
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(out, f, indent=1)
