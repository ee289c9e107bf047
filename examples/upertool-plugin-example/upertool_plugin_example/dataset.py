"""ToyBlobsDataset: squares and discs on a noisy background, generated on first use.

A dataset subclasses `upertool.datasets.BaseSegDataset` and points it at an image folder and
a mask folder (mmsegmentation's layout); BaseSegDataset scans them, pairs images with
masks and reports missing files. Here the folders are generated from a seed first, so the
example needs no download.
"""
from __future__ import annotations

import os
import os.path as osp
import shutil
import tempfile
from typing import Any

import cv2
import numpy as np

from upertool.datasets import BaseSegDataset
from upertool.registry import DATASETS

_SPLITS = {'train': 0, 'val': 1}


def _draw(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One (size, size, 3) uint8 BGR image and its (size, size) uint8 mask (0, 1, 2)."""
    img = rng.normal(110, 25, size=(size, size, 3))
    mask = np.zeros((size, size), np.uint8)
    yy, xx = np.mgrid[:size, :size]
    for _ in range(rng.integers(1, 4)):
        label = int(rng.integers(1, 3))
        r = rng.uniform(0.12, 0.25) * size
        cy, cx = rng.uniform(r, size - r, size=2)
        inside = (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r) if label == 1 \
            else (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        img[inside] = rng.uniform(0, 255, size=3)
        mask[inside] = label
    return np.clip(img, 0, 255).astype(np.uint8), mask


def generate_toy_blobs(root: str, num_images: int, image_size: int, seed: int,
                       split: str) -> None:
    """Write `root`/img/*.png and `root`/ann/*.png; a temporary folder renamed into place,
    so a concurrent reader never sees half a set."""
    parent = osp.dirname(osp.abspath(root))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.toy_blobs-', dir=parent)
    try:
        os.makedirs(osp.join(tmp, 'img'))
        os.makedirs(osp.join(tmp, 'ann'))
        for i in range(num_images):
            img, mask = _draw(np.random.default_rng([seed, _SPLITS[split], i]), image_size)
            cv2.imwrite(osp.join(tmp, 'img', f'{i:04d}.png'), img)
            cv2.imwrite(osp.join(tmp, 'ann', f'{i:04d}.png'), mask)
        try:
            os.rename(tmp, root)
        except OSError:
            if not osp.isdir(osp.join(root, 'img')):  # not another process's finished copy
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@DATASETS.register_module()
class ToyBlobsDataset(BaseSegDataset):
    """Background, squares and discs; `num_images` images of `image_size` px per split.

    Args:
        split: 'train' or 'val' (different images from the same seed).
        num_images: images in this split.
        image_size: side of the square images.
        seed: generation seed.
        data_root: folder holding one generated set per parameter combination.
        **kwargs: BaseSegDataset's arguments (pipeline, test_mode, ...).
    """

    METAINFO = dict(classes=('background', 'square', 'disc'),
                    palette=[[0, 0, 0], [230, 120, 40], [40, 160, 230]])

    def __init__(self, split: str = 'train', num_images: int = 16, image_size: int = 32,
                 seed: int = 0, data_root: str = 'data/toy_blobs', **kwargs: Any) -> None:
        if split not in _SPLITS:
            raise ValueError(f'ToyBlobsDataset: split must be one of {list(_SPLITS)}, '
                             f'got {split!r}')
        if num_images < 1 or image_size < 8:
            raise ValueError('ToyBlobsDataset: needs num_images >= 1 and image_size >= 8, got '
                             f'{num_images} and {image_size}')
        root = osp.join(data_root, f'{split}-n{num_images}-s{image_size}-seed{seed}')
        if not osp.isdir(root):
            generate_toy_blobs(root, num_images, image_size, seed, split)
        super().__init__(data_root=root, data_prefix=dict(img_path='img', seg_map_path='ann'),
                         img_suffix='.png', seg_map_suffix='.png', **kwargs)
