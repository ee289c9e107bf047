"""Whole-image / sliding-window inference and mapping logits back to the original image.

Kept apart from EncoderDecoder so that other segmentors (and test-time augmentation) can reuse
them: each takes the function that turns an image batch into logits.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from upertool.models.utils import resize
from upertool.models.utils.arg_checks import to_2tuple
from upertool.models.utils.precision import PRECISIONS

# (inputs (N, C, h, w), batch_img_metas) -> logits (N, K, h, w)
EncodeFn = Callable[[Tensor, list[dict]], Tensor]


TEST_MODES = ('whole', 'slide')


def check_slide_window(crop_size: int | Sequence[int],
                       stride: int | Sequence[int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """(crop_size, stride) as (h, w) pairs; a stride larger than the crop is an error.

    Raises:
        ValueError: for non-positive sizes, or windows that would leave pixels uncovered.
    """
    crop, step = to_2tuple(crop_size, 'crop_size'), to_2tuple(stride, 'stride')
    if step[0] > crop[0] or step[1] > crop[1]:
        raise ValueError(f'slide stride {step} is larger than crop_size {crop}, which '
                         'would leave pixels that no window covers')
    return crop, step


def slide_settings(test_cfg: dict | None
                   ) -> tuple[tuple[int, int], tuple[int, int], int] | None:
    """Checks a segmentor's test_cfg; (crop_size, stride, batch_size) in slide mode, else None.

    Raises:
        ValueError: naming the test_cfg key that is missing or wrong.
    """
    cfg = test_cfg if test_cfg is not None else {}
    if cfg.get('precision', 'fp32') not in PRECISIONS:
        raise ValueError(f'test_cfg.precision must be one of {PRECISIONS}, '
                         f"got {cfg['precision']!r}")
    mode = cfg.get('mode', 'whole')
    if mode not in TEST_MODES:
        raise ValueError(f'test_cfg.mode must be one of {TEST_MODES}, got {mode!r}')
    if mode != 'slide':
        return None
    for key in ('crop_size', 'stride'):
        if cfg.get(key) is None:
            raise ValueError(f"test_cfg.mode='slide' needs test_cfg.{key} (h, w)")
    batch_size = cfg.get('batch_size', 1)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f'test_cfg.batch_size must be a positive int, got {batch_size!r}')
    return (*check_slide_window(cfg['crop_size'], cfg['stride']), batch_size)


def slide_windows(h_img: int, w_img: int, crop_size: tuple[int, int],
                  stride: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """mmsegmentation's window grid over an (h_img, w_img) image.

    There are `max(h_img - h_crop + h_stride - 1, 0) // h_stride + 1` rows (columns alike).
    A window that would run past the image is shifted back inside it, and a crop larger than
    the image is clipped to it, so every window lies in the image and all have one shape.

    Returns:
        (y1, y2, x1, x2) per window, row by row.
    """
    (h_crop, w_crop), (h_stride, w_stride) = check_slide_window(crop_size, stride)
    h_grids = max(h_img - h_crop + h_stride - 1, 0) // h_stride + 1
    w_grids = max(w_img - w_crop + w_stride - 1, 0) // w_stride + 1
    windows = []
    for h_idx in range(h_grids):
        for w_idx in range(w_grids):
            y2 = min(h_idx * h_stride + h_crop, h_img)
            x2 = min(w_idx * w_stride + w_crop, w_img)
            windows.append((max(y2 - h_crop, 0), y2, max(x2 - w_crop, 0), x2))
    return windows


def _crop_metas(batch_img_metas: Sequence[dict], shape: torch.Size, repeat: int) -> list[dict]:
    """Metas telling a head to return logits at `shape`.

    mmsegmentation's heads resize to `img_shape` when it is a torch.Size (its mark for slide
    windows) and otherwise to `pad_shape`; setting both serves either reading.
    """
    metas = []
    for meta in batch_img_metas:
        meta = dict(meta)
        meta['img_shape'] = meta['pad_shape'] = torch.Size(shape)
        metas.append(meta)
    return metas * repeat


def whole_inference(encode: EncodeFn, inputs: Tensor, batch_img_metas: Sequence[dict]) -> Tensor:
    """Logits (N, K, H, W) for the whole (padded) batch (N, C, H, W) at once."""
    logits = encode(inputs, _crop_metas(batch_img_metas, inputs.shape[2:], 1))
    _check_logits(logits, inputs, 'whole inference')
    return logits


def _window_logits(encode: EncodeFn, inputs: Tensor, batch_img_metas: Sequence[dict],
                   windows: Sequence[tuple[int, int, int, int]], batch_size: int):
    """Yields (windows, logits) per group of `batch_size` windows; logits of window k are
    rows k*N .. (k+1)*N-1 for the N images."""
    for start in range(0, len(windows), batch_size):
        group = windows[start:start + batch_size]
        crops = torch.cat([inputs[:, :, y1:y2, x1:x2] for y1, y2, x1, x2 in group])
        logits = encode(crops, _crop_metas(batch_img_metas, crops.shape[2:], len(group)))
        _check_logits(logits, crops, 'slide inference')
        yield group, logits


def slide_inference(encode: EncodeFn, inputs: Tensor, batch_img_metas: Sequence[dict],
                    crop_size: tuple[int, int], stride: tuple[int, int],
                    batch_size: int = 1) -> Tensor:
    """Logits (N, K, H, W) from overlapping windows, averaged where they overlap.

    Args:
        encode: image batch -> logits at the batch's size.
        inputs: (N, C, H, W) images.
        batch_img_metas: one meta dict per image.
        crop_size: window (h, w); clipped to the image when larger.
        stride: window step (h, w), at most `crop_size`.
        batch_size: windows run through the network at once (each holding all N images);
            only speed and memory change, not the result.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f'test_cfg.batch_size must be a positive int, got {batch_size!r}')
    n, _, h_img, w_img = inputs.shape
    windows = slide_windows(h_img, w_img, crop_size, stride)
    preds = None
    count = inputs.new_zeros((1, 1, h_img, w_img))
    for group, logits in _window_logits(encode, inputs, batch_img_metas, windows, batch_size):
        if preds is None:
            preds = logits.new_zeros((n, logits.shape[1], h_img, w_img), dtype=torch.float32)
        for k, (y1, y2, x1, x2) in enumerate(group):
            preds[:, :, y1:y2, x1:x2] += logits[k * n:(k + 1) * n]
            count[:, :, y1:y2, x1:x2] += 1
    return preds / count.to(preds.dtype)


def slide_labels(encode: EncodeFn, inputs: Tensor, batch_img_metas: Sequence[dict],
                 crop_size: tuple[int, int], stride: tuple[int, int],
                 to_labels: Callable[[Tensor], Tensor], batch_size: int = 1) -> Tensor:
    """Labels (N, H, W) of `slide_inference`'s averaged logits, in bounded memory.

    Windows come row by row and a window row never reaches above the previous one, so
    the rows above the current window row are final: they are turned into labels by
    `to_labels` ((N, K, h, W) averaged logits -> (N, h, W)) and dropped. The accumulator
    holds at most one window height of rows (N x K x crop_h x W), never K x H x W.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f'test_cfg.batch_size must be a positive int, got {batch_size!r}')
    n, _, h_img, w_img = inputs.shape
    windows = slide_windows(h_img, w_img, crop_size, stride)
    band_h = min(crop_size[0], h_img)
    labels = torch.empty((n, h_img, w_img), dtype=torch.int64, device=inputs.device)
    band = count = None
    top = 0  # image row of the band's first row; rows above it are final

    def finalize(rows: int) -> None:
        for r in range(0, rows, 32):  # a few rows at a time: no band-sized temporaries
            r2 = min(r + 32, rows)
            labels[:, top + r:top + r2] = to_labels(band[:, :, r:r2] / count[:, :, r:r2])

    for (y1, _), row in itertools.groupby(windows, key=lambda window: window[:2]):
        row = list(row)
        if band is not None and y1 > top:
            done = y1 - top
            finalize(done)
            # move the open rows up by `done`, in chunks whose source and target are apart
            for dst in range(0, band_h - done, done):
                rows = min(done, band_h - done - dst)
                band[:, :, dst:dst + rows] = band[:, :, dst + done:dst + done + rows]
                count[:, :, dst:dst + rows] = count[:, :, dst + done:dst + done + rows]
            band[:, :, band_h - done:] = 0
            count[:, :, band_h - done:] = 0
            top = y1
        for group, logits in _window_logits(encode, inputs, batch_img_metas, row, batch_size):
            if band is None:
                band = logits.new_zeros((n, logits.shape[1], band_h, w_img),
                                         dtype=torch.float32)
                count = logits.new_zeros((1, 1, band_h, w_img), dtype=torch.float32)
            for k, (a, b, c, d) in enumerate(group):
                band[:, :, a - top:b - top, c:d] += logits[k * n:(k + 1) * n]
                count[:, :, a - top:b - top, c:d] += 1
    finalize(h_img - top)
    return labels


def _check_logits(logits: Tensor, inputs: Tensor, where: str) -> None:
    if logits.dim() != 4 or logits.shape[0] != inputs.shape[0] \
            or logits.shape[2:] != inputs.shape[2:]:
        raise RuntimeError(f'{where}: the decode head returned logits of shape '
                           f'{tuple(logits.shape)} for inputs {tuple(inputs.shape)}; its predict() '
                           'must return (N, K, H, W) at the size given by img_shape/pad_shape')


def _padding(img_meta: dict) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) padding: `img_padding_size`, else `padding_size`."""
    padding = img_meta.get('img_padding_size', img_meta.get('padding_size', (0, 0, 0, 0)))
    left, right, top, bottom = (int(p) for p in padding)
    return left, right, top, bottom


# the axes RandomFlip mirrors for each direction ('diagonal' = both, a 180 degree turn)
_FLIP_DIMS = {'horizontal': (-1,), 'vertical': (-2,), 'diagonal': (-2, -1)}


def unpad_unflip(maps: Tensor, img_meta: dict) -> Tensor:
    """(..., H, W) maps on the padded, maybe flipped input -> the unpadded, unflipped view.

    Removes the padding (`img_padding_size`, else `padding_size`: left, right, top, bottom)
    and undoes a flip (`flip`, `flip_direction`).
    """
    h, w = maps.shape[-2:]
    left, right, top, bottom = _padding(img_meta)
    maps = maps[..., top:h - bottom, left:w - right]
    if img_meta.get('flip', False):
        direction = img_meta.get('flip_direction', None)
        if direction not in _FLIP_DIMS:
            raise ValueError(f'flip_direction must be one of {tuple(_FLIP_DIMS)} to undo a flip, '
                             f'got {direction!r}')
        maps = maps.flip(dims=_FLIP_DIMS[direction])
    return maps


def needs_resize(padded_shape: Sequence[int], img_meta: dict) -> bool:
    """Whether restoring this image's predictions resizes them (labels cannot be resized)."""
    left, right, top, bottom = _padding(img_meta)
    unpadded = (padded_shape[0] - top - bottom, padded_shape[1] - left - right)
    return tuple(img_meta.get('ori_shape', unpadded))[:2] != unpadded


def restore_logits(logits: Tensor, img_meta: dict, align_corners: bool | None) -> Tensor:
    """One image's logits (K, H, W) on the padded input -> (K, *ori_shape).

    Removes the padding, undoes a flip (`unpad_unflip`) and resizes bilinearly to `ori_shape`.
    """
    logits = unpad_unflip(logits, img_meta)[None]
    ori_shape = tuple(img_meta.get('ori_shape', logits.shape[2:]))[:2]
    logits = resize(logits, size=ori_shape, mode='bilinear', align_corners=align_corners)
    return logits[0]
