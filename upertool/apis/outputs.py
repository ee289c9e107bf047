"""What an inferencer writes: class-index palette PNGs and overlays with a legend.

Files are encoded in memory and moved into place with `os.replace`, so a reader (or a killed
run) never sees half a file; `remove_outputs` takes back what one input wrote when a later
step for the same input fails.
"""
from __future__ import annotations

import io
import os
import os.path as osp
from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image

from upertool.visualization import draw_class_names, draw_legend, overlay_mask
from upertool.visualization.overlay import present_classes


def write_bytes(path: str, data: bytes) -> None:
    """Write `data` to `path` through a temporary name in the same folder."""
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    tmp = osp.join(osp.dirname(path), f'.{osp.basename(path)}.tmp-{os.getpid()}')
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def encode_label_png(mask: np.ndarray, palette: Sequence[Sequence[int]]) -> bytes:
    """(H, W) class indices as a lossless PNG: a palette PNG with the model's colours when the
    labels fit in 8 bits (any viewer shows colours, `np.array(Image.open(f))` gives labels),
    else a 16-bit greyscale PNG of the indices."""
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[0]
    if mask.size and (mask.min() < 0 or mask.max() > 65535):
        raise ValueError(f'labels outside [0, 65535] cannot be written as PNG: '
                         f'{mask.min()}..{mask.max()}')
    if len(palette) <= 256 and (not mask.size or mask.max() < 256):
        image = Image.fromarray(mask.astype(np.uint8), mode='P')
        flat = [int(v) for colour in palette for v in colour]
        image.putpalette(flat + [0] * (768 - len(flat)))
        buffer = io.BytesIO()
        # zlib level 1: still lossless, ~3x faster than Pillow's default 6 on label maps,
        # files a few percent larger
        image.save(buffer, format='PNG', compress_level=1)
        return buffer.getvalue()
    ok, data = cv2.imencode('.png', mask.astype(np.uint16))
    if not ok:
        raise RuntimeError('cv2 could not encode the label map as PNG')
    return data.tobytes()


def present_labels(mask: np.ndarray, num_classes: int) -> list[int]:
    """The labels in `mask` that are classes (ignore values such as 255 left out), ascending."""
    return present_classes(mask, num_classes)


def draw_overlay(image_bgr: np.ndarray, mask: np.ndarray, classes: Sequence[str],
                 palette: Sequence[Sequence[int]], opacity: float, with_labels: bool,
                 legend: bool = True) -> np.ndarray:
    """The image with its classes blended in (BGR); with `legend`, a strip below naming the
    classes present, each beside a swatch of its colour."""
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[0]
    coloured = present_classes(mask, len(palette))  # one histogram for all three steps
    labels = [label for label in coloured if label < len(classes)]
    drawn = overlay_mask(image_bgr, mask, palette, opacity, present=coloured)
    if with_labels:
        drawn = draw_class_names(drawn, mask, classes, palette, present=labels)
    if not legend:
        return drawn
    row = max(14, min(24, image_bgr.shape[1] // 16))
    strip = draw_legend(drawn.shape[1], labels, classes, palette, row_height=row)
    return np.concatenate([drawn, strip], axis=0)


def encode_image(path_like: str, image_bgr: np.ndarray) -> bytes:
    """Encode in the format the name's suffix asks for (PNG when cv2 cannot write it)."""
    suffix = osp.splitext(path_like)[1].lower() or '.png'
    ok, data = cv2.imencode(suffix, image_bgr)
    if not ok:
        ok, data = cv2.imencode('.png', image_bgr)
    if not ok:
        raise RuntimeError(f'cv2 could not encode {path_like}')
    return data.tobytes()


def remove_outputs(paths: Sequence[str]) -> None:
    """Delete what one input wrote (after a failure later in its processing)."""
    for path in paths:
        if osp.exists(path):
            os.remove(path)
