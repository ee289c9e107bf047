"""`add_prefix` and `stack_batch` of mmsegmentation 1.x's `mmseg.utils.misc`."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from upertool.models.data_preprocessor import padded_shape
from upertool.models.segmentors.encoder_decoder import add_prefix
from upertool.structures import SegDataSample

__all__ = ['add_prefix', 'stack_batch']


def stack_batch(inputs: list[torch.Tensor], data_samples: Sequence[SegDataSample] | None = None,
                size: tuple[int, int] | None = None, size_divisor: int | None = None,
                pad_val: int | float = 0, seg_pad_val: int | float = 255
                ) -> tuple[torch.Tensor, list]:
    """Pad (C, H, W) images (and their `gt_sem_seg`) at the bottom/right and stack them.

    Exactly one of `size` (pad up to this (h, w); a larger image grows the batch instead of
    failing the stack) and `size_divisor` (pad the largest image to a multiple) is given, as
    mmsegmentation requires.

    Returns:
        (B, C, H, W) images, and the samples with `img_shape`, `pad_shape` and `padding_size`
        set (or, without samples, dicts of `img_padding_size` and `pad_shape`).
    """
    if not isinstance(inputs, list) or not inputs:
        raise TypeError(f'stack_batch: inputs must be a non-empty list of (C, H, W) tensors, '
                        f'got {type(inputs).__name__}')
    if any(not isinstance(t, torch.Tensor) or t.dim() != 3 for t in inputs):
        raise ValueError('stack_batch: every input must be a (C, H, W) tensor, got '
                         f'{[tuple(getattr(t, "shape", ())) for t in inputs]}')
    if len({t.shape[0] for t in inputs}) != 1:
        raise ValueError(f'stack_batch: inputs differ in channels {[t.shape[0] for t in inputs]}')
    if (size is None) == (size_divisor is None):
        raise ValueError('stack_batch: give exactly one of size and size_divisor, got '
                         f'size={size!r}, size_divisor={size_divisor!r}')
    if data_samples is not None and len(data_samples) != len(inputs):
        raise ValueError(f'stack_batch: {len(inputs)} inputs but {len(data_samples)} samples')
    target = padded_shape([tuple(t.shape[-2:]) for t in inputs],
                          tuple(size[-2:]) if size is not None else None, size_divisor)
    padded, samples = [], []
    for i, img in enumerate(inputs):
        padding = (0, target[1] - img.shape[-1], 0, target[0] - img.shape[-2])
        padded.append(F.pad(img, padding, value=pad_val))
        if data_samples is None:
            samples.append(dict(img_padding_size=padding, pad_shape=target))
            continue
        sample = data_samples[i]
        if 'gt_sem_seg' in sample:
            gt = sample.gt_sem_seg.data
            del sample.gt_sem_seg.data  # PixelData checks a new map against the old shape
            sample.gt_sem_seg.data = F.pad(gt, padding, value=seg_pad_val)
        sample.set_metainfo(dict(img_shape=tuple(img.shape[-2:]), pad_shape=target,
                                 padding_size=padding))
        samples.append(sample)
    return torch.stack(padded, dim=0), samples
