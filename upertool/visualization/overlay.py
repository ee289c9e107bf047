"""Plain-numpy drawing of label maps: colour overlay, class-name labels, legend, palette."""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

Palette = Sequence[Sequence[int]]
LUT_CLASSES = 16  # overlay_mask: up to this many classes present, one cv2.LUT pass per class


def present_classes(mask: np.ndarray, num_classes: int) -> list[int]:
    """The labels in `mask` in [0, num_classes) (ignore values such as 255 left out),
    ascending; a histogram, not np.unique's sort of every pixel."""
    mask = np.asarray(mask)
    if not mask.size:
        return []
    low, high = int(mask.min()), int(mask.max())
    values = mask.ravel() if low >= 0 and high < num_classes else \
        mask[(mask >= 0) & (mask < num_classes)]
    return [int(v) for v in np.flatnonzero(np.bincount(values.astype(np.intp, copy=False),
                                                          minlength=num_classes))]


def random_palette(num_classes: int, seed: int = 42) -> list[list[int]]:
    """A fixed pseudo-random RGB palette, for label maps whose dataset gives none."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (num_classes, 3)).tolist()


def _check(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'overlay_mask: image must be (H, W, 3), got {image.shape}')
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[0] == 1:
        mask = mask[0]
    if mask.shape != image.shape[:2]:
        raise ValueError(f'overlay_mask: mask {mask.shape} does not match image '
                         f'{image.shape[:2]}')
    return mask


def overlay_mask(image_bgr: np.ndarray, mask: np.ndarray, palette: Palette,
                 alpha: float = 0.5, present: Sequence[int] | None = None) -> np.ndarray:
    """Blend class colours into an image.

    Args:
        image_bgr: (H, W, 3) uint8, BGR as cv2 reads it.
        mask: (H, W) or (1, H, W) integer label map.
        palette: RGB colour per class (a dataset's `metainfo['palette']`).
        alpha: weight of the colour; 0 leaves the image, 1 paints solid colour.
        present: `present_classes(mask, len(palette))` when the caller has it already.

    Returns:
        (H, W, 3) uint8 BGR: `round((1 - alpha) * image + alpha * colour)` where the label
        has a palette entry; pixels with other labels (ignore_index, e.g. 255) are left
        as they are rather than darkened.
    """
    mask = _check(image_bgr, mask).astype(np.int64, copy=False)
    if not 0 <= alpha <= 1:
        raise ValueError(f'overlay_mask: alpha must be in [0, 1], got {alpha}')
    colours_bgr = np.asarray(palette, np.float64).reshape(-1, 3)[:, ::-1]
    if image_bgr.dtype == np.uint8:
        # the same float64 arithmetic and rounding, done once per (class, channel, value) in
        # 256-entry tables and looked up per pixel
        values = np.arange(256, dtype=np.float64)
        tables = np.clip(np.rint((1 - alpha) * values + alpha * colours_bgr[:, :, None]),
                         0, 255).astype(np.uint8)  # (K, 3, 256)
        if present is None:
            present = present_classes(mask, len(colours_bgr))
        if len(present) <= LUT_CLASSES:
            # a few classes: the whole image through each class's table (cv2.LUT), copied
            # where that class is (~4x faster than the per-pixel gather at 512 x 512)
            image_bgr = np.ascontiguousarray(image_bgr)
            out = image_bgr.copy()
            for label in present:
                lut = np.ascontiguousarray(tables[label].T).reshape(256, 1, 3)
                cv2.copyTo(cv2.LUT(image_bgr, lut), (mask == label).view(np.uint8), out)
            return out
        valid = (mask >= 0) & (mask < len(colours_bgr))
        labels = np.where(valid, mask, 0)
        out = np.empty_like(image_bgr)
        for c in range(3):
            out[..., c] = np.where(valid, tables[labels, c, image_bgr[..., c]],
                                   image_bgr[..., c])
        return out
    valid = (mask >= 0) & (mask < len(colours_bgr))
    out = image_bgr.astype(np.float64)
    out[valid] = (1 - alpha) * out[valid] + alpha * colours_bgr[mask[valid]]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _label_anchor(region: np.ndarray) -> tuple[int, int]:
    """(x, y) of the region's pixel farthest from its border, so the text sits inside.

    Large masks are searched on every `step`-th pixel (at most ~128 per side): a label's
    place needs no finer grid, and the transform per class costs 1/step^2 as much."""
    step = max(1, min(region.shape) // 128)
    coarse = region[::step, ::step]
    if not coarse.any():  # a region thinner than the grid: search it at full resolution
        coarse, step = region, 1
    dist = cv2.distanceTransform(np.pad(coarse, 1).astype(np.uint8), cv2.DIST_L2, 3)
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return (int(x) - 1) * step, (int(y) - 1) * step


def draw_class_names(image_bgr: np.ndarray, mask: np.ndarray, classes: Sequence[str],
                     palette: Palette, present: Sequence[int] | None = None) -> np.ndarray:
    """Write each present class's name, on a box of its colour, inside its region.

    Args:
        image_bgr: (H, W, 3) uint8 BGR, usually already overlaid.
        mask: (H, W) integer label map.
        classes: class names indexed by label.
        palette: RGB colour per class.
        present: the labels to name (default: those in `mask` with a class and a colour).

    Returns:
        A new (H, W, 3) uint8 BGR image.
    """
    mask = _check(image_bgr, mask)
    out = np.ascontiguousarray(image_bgr.copy())
    height, width = mask.shape
    scale = max(min(height, width) / 500, 0.3)
    thickness = 1 if min(height, width) < 300 else 2
    font = cv2.FONT_HERSHEY_SIMPLEX
    if present is None:
        present = present_classes(mask, min(len(classes), len(palette)))
    for label in present:
        x, y = _label_anchor(mask == label)
        text = str(classes[label])
        (tw, th), base = cv2.getTextSize(text, font, scale, thickness)
        # Keep the box on the image: centre on the anchor, then clamp.
        x0 = int(np.clip(x - tw // 2, 0, max(width - tw, 0)))
        y0 = int(np.clip(y - th // 2, 0, max(height - th - base, 0)))
        colour = tuple(int(c) for c in palette[label][::-1])
        cv2.rectangle(out, (x0, y0), (x0 + tw, y0 + th + base), colour, -1)
        cv2.putText(out, text, (x0, y0 + th), font, scale, (255, 255, 255), thickness,
                    cv2.LINE_AA)
    return out


def draw_legend(width: int, labels: Sequence[int], classes: Sequence[str],
                palette: Palette, row_height: int = 20) -> np.ndarray:
    """A strip listing `labels` as colour swatch + name, wrapped to `width`.

    Returns:
        (rows * row_height, width, 3) uint8 BGR, white background; (0, width, 3) if no labels.
    """
    font, scale, thickness = cv2.FONT_HERSHEY_SIMPLEX, row_height / 40, 1
    entries = []
    for label in labels:
        text = str(classes[label]) if label < len(classes) else str(label)
        (tw, _), _ = cv2.getTextSize(text, font, scale, thickness)
        entries.append((label, text, row_height + 4 + tw + 12))
    rows, x = [[]], 0
    for entry in entries:
        if rows[-1] and x + entry[2] > width:
            rows.append([])
            x = 0
        rows[-1].append(entry)
        x += entry[2]
    if not entries:
        return np.zeros((0, width, 3), np.uint8)
    strip = np.full((len(rows) * row_height, width, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        x, top = 0, r * row_height
        for label, text, entry_width in row:
            colour = tuple(int(c) for c in palette[label][::-1])
            cv2.rectangle(strip, (x + 2, top + 3), (x + row_height - 2, top + row_height - 3),
                          colour, -1)
            cv2.putText(strip, text, (x + row_height + 4, top + int(row_height * 0.72)), font,
                        scale, (0, 0, 0), thickness, cv2.LINE_AA)
            x += entry_width
    return strip
