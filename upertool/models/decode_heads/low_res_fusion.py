"""UPerHead's `fpn_bottleneck` with the coarse levels mixed at their own resolution.

The plain head upsamples every coarse level to the finest resolution, concatenates, and
runs one 3x3 convolution: most of UPerNet's multiplications. A 3x3 convolution is a sum
over its nine taps of a 1x1 channel mixing followed by a spatial shift, and channel
mixing commutes with every per-channel linear spatial operator (bilinear resize, shift,
zero padding). So each coarse level is mixed into `9 x out_channels` maps at its own
resolution (4x, 16x, 64x fewer pixels), and only then resized and shifted:

    conv3x3(up(x)) = sum_{ky,kx} shift_{ky,kx}(up(W_{ky,kx} x))

Bilinear resizing is separable, and a resize followed by a shift is one matrix per axis,
so after the 1x1 mixing each level costs two matrix products: along the width with the
three horizontal taps stacked (`(.., 3w) @ (3w, W)`), then along the height with the three
vertical taps stacked (`(H, 3h) @ (.., 3h, W)`). The result equals the plain form up to
fp32 rounding, with the same parameters, so every checkpoint works unchanged.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor

from upertool.models.utils.resize import bilinear_resize_matrix

_INFERENCE_CHUNK = 128  # output channels per pass of a coarse level without autograd


@lru_cache(maxsize=64)
def _shifted_resize_matrix(src: int, dst: int, align_corners: bool,
                           dtype: torch.dtype, device: torch.device) -> Tensor:
    """(3 * src, dst): rows k*src .. (k+1)*src-1 map a 1-d signal of length `src` to its
    bilinear resize to `dst` shifted for 3x3 tap k (output x reads x + k - 1, zero outside).
    """
    with torch.inference_mode(False), torch.no_grad():
        padded = F.pad(bilinear_resize_matrix(src, dst, align_corners), (1, 1))
        taps = [padded[:, k:k + dst] for k in range(3)]  # column X + k is X + k - 1
        return torch.cat(taps, dim=0).to(dtype=dtype, device=device)


def _coarse_level_share(x: Tensor, weight: Tensor, size: tuple[int, int],
                        align_corners: bool) -> Tensor:
    """conv3x3(weight, bilinear_resize(x, size), padding=1) without the full-size resize.

    Args:
        x: (B, C_in, h, w) a coarse level.
        weight: (C_out, C_in, 3, 3) this level's slice of the convolution weight.
        size: (H, W) the finest level's size.

    Returns:
        (B, C_out, H, W).
    """
    batch, _, h, w = x.shape
    height, width = size
    c_out = weight.shape[0]
    # 1x1 mixing for all nine taps at the coarse resolution; channel order (ky, kx, c_out)
    mixing = weight.permute(2, 3, 0, 1).reshape(9 * c_out, -1, 1, 1)
    taps = F.conv2d(x, mixing).reshape(batch, 3, 3, c_out, h, w)
    # width: stack the three horizontal taps along the last axis, one product with the
    # stacked shifted-resize matrices sums them: (B, ky, C, h, 3w) @ (3w, W)
    along_w = taps.permute(0, 1, 3, 4, 2, 5).reshape(batch, 3, c_out, h, 3 * w)
    rows = along_w @ _shifted_resize_matrix(w, width, align_corners, x.dtype, x.device)
    # height: the same with the vertical taps: (H, 3h) @ (B, C, 3h, W)
    rows = rows.permute(0, 2, 1, 3, 4).reshape(batch, c_out, 3 * h, width)
    cols = _shifted_resize_matrix(h, height, align_corners, x.dtype, x.device).t()
    return cols @ rows


def conv3x3_over_upsampled_levels(levels: Sequence[Tensor], weight: Tensor,
                                  align_corners: bool) -> Tensor:
    """conv3x3(cat([levels[0], up(levels[1]), ...]), weight, padding=1), bias excluded.

    Args:
        levels: L maps (B, C_i, h_i, w_i), finest first; the others are bilinearly
            resized to the finest one's size in the plain form.
        weight: (C_out, sum C_i, 3, 3).
        align_corners: the resize's `align_corners`.
    """
    size = tuple(levels[0].shape[2:])
    splits = torch.split(weight, [level.shape[1] for level in levels], dim=1)
    out = F.conv2d(levels[0], splits[0], padding=1)
    for level, level_weight in zip(levels[1:], splits[1:], strict=True):
        if tuple(level.shape[2:]) == size:
            out = out + F.conv2d(level, level_weight, padding=1)
        elif torch.is_grad_enabled():
            out = out + _coarse_level_share(level, level_weight, size, align_corners)
        else:
            # inference: a slice of output channels at a time, added in place, so the
            # 9-tap temporaries stay small (R-50 at 512 px: 19 instead of 75 MB)
            for start in range(0, level_weight.shape[0], _INFERENCE_CHUNK):
                chunk = level_weight[start:start + _INFERENCE_CHUNK]
                out[:, start:start + len(chunk)] += _coarse_level_share(
                    level, chunk, size, align_corners)
    return out
