"""Helpers that write tiny images and masks in the real datasets' layouts."""
import os
import os.path as osp
from collections.abc import Callable
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from PIL import Image


def write_image(path: str, h: int = 12, w: int = 16, seed: int = 0) -> np.ndarray:
    """Write a random BGR image (lossless unless the suffix is .jpg); return it."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    assert cv2.imwrite(path, img)
    return img


def write_mask(path: str, mask: np.ndarray, palette: bool = False) -> None:
    """Write a class-index PNG, grey ('L') or palette ('P') mode."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    img = Image.fromarray(mask.astype(np.uint8))
    if palette:
        # Colours unrelated to the indices, so reading colours instead would show.
        img.putpalette([(i * 37) % 256 for i in range(768)])
    img.save(path)


@pytest.fixture
def make_seg_tree(tmp_path) -> Callable:
    """Create ``root/img_dir/split`` + ``root/ann_dir/split`` from {stem: mask} dicts."""

    def make(masks: dict[str, np.ndarray], img_suffix: str = '.jpg',
             seg_map_suffix: str = '.png', split: str = 'train',
             root: str | None = None) -> str:
        root = root or str(tmp_path / 'data')
        for i, (stem, mask) in enumerate(masks.items()):
            h, w = mask.shape
            write_image(osp.join(root, 'img_dir', split, stem + img_suffix), h, w, seed=i)
            write_mask(osp.join(root, 'ann_dir', split, stem + seg_map_suffix), mask)
        return root

    return make


@pytest.fixture
def seg_io() -> SimpleNamespace:
    """``write_image`` and ``write_mask`` for tests (conftest modules are not importable)."""
    return SimpleNamespace(write_image=write_image, write_mask=write_mask)
