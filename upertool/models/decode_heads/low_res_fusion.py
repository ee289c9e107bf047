"""UPerHead's `fpn_bottleneck` with the coarse levels mixed at their own resolution.

The plain head upsamples every coarse level to the finest resolution, concatenates, and
runs one 3x3 convolution: most of UPerNet's multiplications. A 3x3 convolution is a sum
over its nine taps of a 1x1 channel mixing followed by a spatial shift, and channel
mixing commutes with every per-channel linear spatial operator (bilinear resize, shift,
zero padding). So each coarse level is mixed into `9 x out_channels` maps at its own
resolution (4x, 16x, 64x fewer pixels), and only then resized and shifted:

    conv3x3(up(x)) = sum_{ky,kx} shift_{ky,kx}(up(W_{ky,kx} x))

Bilinear resizing is separable, and a resize followed by a shift is one banded matrix per
axis, so after the 1x1 mixing each level costs two products with those matrices. Everything
runs in channels-last order, where each step reads the previous one's output as a plain
matrix: the mixing is three 1x1 convolutions, one per vertical tap `ky`, each giving
`(h, w, kx, c)` maps; the height pass multiplies `(H, h)` into `(h, w * 3 * C_out)`; the width
pass multiplies `(W, 3w)` (columns ordered `(x, kx)`, so it also sums the three horizontal
taps) into each output row's `(3w, C_out)`. Both products go band by band over the output,
contracting only over the source rows and columns a band reads (bilinear weights are zero
elsewhere), and the width pass adds straight into the output. The result equals the plain
form up to fp32 rounding, with the same parameters, so every checkpoint works unchanged.

At eval in fp32 on CPU, where numba is installed, the height and width passes of all coarse
levels run instead as one compiled loop over output rows (`fused_resize_passes`): one 1x1
convolution per level gives its nine tap maps, and each output row is summed in cache and
added to the output once, without the full-resolution intermediates of the products.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.weak import WeakIdKeyDictionary

from upertool.models.decode_heads import fused_resize_passes
from upertool.models.utils.folded_conv import can_prepack, kept_beside, prepacked_conv2d
from upertool.models.utils.resize import bilinear_resize_matrix

_BAND = 16  # output rows (height pass) or columns (width pass) per product
# a fusion weight -> its per-level weights (`_level_weights`, `kept_beside`)
_TAPS = WeakIdKeyDictionary()


@lru_cache(maxsize=64)
def _shifted_resize_matrix(src: int, dst: int, align_corners: bool,
                           dtype: torch.dtype, device: torch.device) -> Tensor:
    """(3, src, dst): [k] maps a 1-d signal of length `src` to its bilinear resize to `dst`
    shifted for 3x3 tap k (output x reads x + k - 1, zero outside)."""
    with torch.inference_mode(False), torch.no_grad():
        padded = F.pad(bilinear_resize_matrix(src, dst, align_corners), (1, 1))
        taps = [padded[:, k:k + dst] for k in range(3)]  # column X + k is X + k - 1
        return torch.stack(taps).to(dtype=dtype, device=device)


@lru_cache(maxsize=64)
def _bands(src: int, dst: int, align_corners: bool) -> tuple[tuple[int, int, int, int], ...]:
    """For each band of `_BAND` output positions of the shifted resizes `src` -> `dst`: its
    (first, last) output position and the (first, last) source positions any tap reads."""
    with torch.inference_mode(False), torch.no_grad():
        taps = _shifted_resize_matrix(src, dst, align_corners, torch.float64,
                                      torch.device('cpu'))
        reads = taps.abs().sum(0).t()  # (dst, src)
    out = []
    for start in range(0, dst, _BAND):
        stop = min(start + _BAND, dst)
        used = reads[start:stop].sum(0).nonzero()  # never empty: the centre tap reads
        out.append((start, stop, int(used.min()), int(used.max()) + 1))
    return tuple(out)


def _height_matrices(src: int, dst: int, align_corners: bool, dtype: torch.dtype,
                     device: torch.device) -> Tensor:
    """(3, dst, src): [ky] resizes a column to `dst` and shifts it for vertical tap ky."""
    return _shifted_resize_matrix(src, dst, align_corners, dtype, device).transpose(1, 2)


@lru_cache(maxsize=64)
def _width_matrix(src: int, dst: int, align_corners: bool, dtype: torch.dtype,
                  device: torch.device) -> Tensor:
    """(dst, 3 * src): column 3x + kx resizes a row to `dst` and shifts it for tap kx."""
    taps = _shifted_resize_matrix(src, dst, align_corners, dtype, device)  # (3, src, dst)
    with torch.inference_mode(False), torch.no_grad():
        return taps.permute(2, 1, 0).reshape(dst, 3 * src).contiguous()


def _level_weights(weight: Tensor, sizes: Sequence[int]
                   ) -> tuple[Tensor, list[tuple[Tensor, tuple[Tensor, Tensor, Tensor]]]]:
    """`weight` split by level (channel slices `sizes[i]`): the finest level's
    (C_out, C_0, 3, 3) weight, and per coarser level its (9 * C_out, C_i, 1, 1) tap weight,
    output channels ordered (ky, kx, c), with its three slices per vertical tap ky. Without
    autograd they are kept per weight tensor until it changes (a 9.4 MB rearrangement per
    level and call saved for R-50 UPerNet), as the same tensors each call, so that oneDNN's
    reordered copies of them can be kept too (`prepacked_conv2d`)."""
    def split() -> tuple[Tensor, list[tuple[Tensor, tuple[Tensor, Tensor, Tensor]]]]:
        finest, *coarse = torch.split(weight, list(sizes), dim=1)
        taps = [w.permute(2, 3, 0, 1).reshape(9 * weight.shape[0], -1, 1, 1).contiguous()
                for w in coarse]
        return finest.contiguous(), [(t, tuple(t.chunk(3))) for t in taps]
    if torch.is_grad_enabled() or weight.is_inference():  # the latter have no version
        return split()
    return kept_beside(_TAPS, weight, (tuple(sizes),), split)


def _conv(x: Tensor, weight: Tensor, bias: Tensor | None = None, padding: int = 0) -> Tensor:
    """conv2d, with the weight kept reordered for oneDNN where that may run (eval, CPU)."""
    if can_prepack(x, weight):
        return prepacked_conv2d(x, weight, bias, padding)
    return F.conv2d(x, weight, bias, padding=padding)


def _mixed_along_height(x: Tensor, taps: Sequence[Tensor], height: int,
                        align_corners: bool) -> Tensor:
    """A coarse level's 1x1 tap mixing and height pass: (B * H, 3w, C_out), entry
    (b, Y, 3x + kx, c) = sum over ky of the level mixed for tap (ky, kx), resized along the
    height to `height` and shifted for ky, at source column x.

    Args:
        x: (B, C_in, h, w) a coarse level.
        taps: its three (3 * C_out, C_in, 1, 1) tap weights (`_level_weights`).
    """
    batch, _, h, w = x.shape
    c_out = taps[0].shape[0] // 3
    x = x.contiguous(memory_format=torch.channels_last)
    # mixing: per vertical tap, a 1x1 conv to channels (kx, c) -> memory (B, h, w, 3, C)
    mixed = [_conv(x, taps[ky]).permute(0, 2, 3, 1).reshape(batch, h, w * 3 * c_out)
             for ky in range(3)]
    # in the mixed maps' dtype: bf16 under autocast even for fp32 levels
    rows = _height_matrices(h, height, align_corners, mixed[0].dtype, x.device)  # (3, H, h)
    # height: (H, h) @ (h, w * 3 * C) per tap, summed over the taps -> (B, H, w, 3, C)
    along_h = mixed[0].new_empty(batch, height, w * 3 * c_out)
    for y0, y1, s0, s1 in _bands(h, height, align_corners):
        if torch.is_grad_enabled():
            along_h[:, y0:y1] = sum(rows[ky, y0:y1, s0:s1] @ mixed[ky][:, s0:s1]
                                    for ky in range(3))
            continue
        for b in range(batch):  # products written and summed in place
            band = along_h[b, y0:y1]
            torch.mm(rows[0, y0:y1, s0:s1], mixed[0][b, s0:s1], out=band)
            band.addmm_(rows[1, y0:y1, s0:s1], mixed[1][b, s0:s1])
            band.addmm_(rows[2, y0:y1, s0:s1], mixed[2][b, s0:s1])
    return along_h.view(batch * height, 3 * w, c_out)


def _add_width_passes(out: Tensor, along_h: Sequence[Tensor], align_corners: bool) -> Tensor:
    """out + the width pass of every coarse level's `_mixed_along_height` result: per band
    of output columns, (band, 3w) @ (3w, C) for each level, summed, then added to `out`
    once (one read and write of `out` for all the levels).

    Returns:
        (B, C_out, H, W) channels-last; `out` itself, added to in place, without autograd.
    """
    batch, c_out, height, width = out.shape
    levels = [(level, _width_matrix(level.shape[1] // 3, width, align_corners, level.dtype,
                                    level.device),
               _bands(level.shape[1] // 3, width, align_corners)) for level in along_h]
    target = out.permute(0, 2, 3, 1).view(batch * height, width, c_out)
    pieces = []
    for band in range(len(levels[0][2])):
        piece = None
        for level, cols, bands in levels:
            # source columns s0..s1 are entries 3 * s0 .. 3 * s1 in the (x, kx) order
            x0, x1, s0, s1 = bands[band]
            a, b = cols[x0:x1, 3 * s0:3 * s1], level[:, 3 * s0:3 * s1]
            if piece is None:
                piece = a @ b
            elif torch.is_grad_enabled():
                piece = piece + a @ b
            else:
                piece.baddbmm_(a.expand(b.shape[0], -1, -1), b)
        if torch.is_grad_enabled():
            pieces.append(piece)
        else:
            target[:, x0:x1] += piece
    if pieces:
        target = target + torch.cat(pieces, dim=1)
        return target.view(batch, height, width, c_out).permute(0, 3, 1, 2)
    return out


def conv3x3_over_upsampled_levels(levels: Sequence[Tensor], weight: Tensor,
                                  align_corners: bool, bias: Tensor | None = None) -> Tensor:
    """conv3x3(cat([levels[0], up(levels[1]), ...]), weight, bias, padding=1).

    Args:
        levels: L maps (B, C_i, h_i, w_i), finest first; the others are bilinearly
            resized to the finest one's size in the plain form.
        weight: (C_out, sum C_i, 3, 3).
        align_corners: the resize's `align_corners`.
        bias: (C_out,) or None.

    Returns:
        (B, C_out, H, W) in channels-last memory order.
    """
    size = tuple(levels[0].shape[2:])
    finest_weight, taps = _level_weights(weight, [level.shape[1] for level in levels])
    finest = levels[0].contiguous(memory_format=torch.channels_last)
    out = _conv(finest, finest_weight, bias, padding=1)
    out = out.contiguous(memory_format=torch.channels_last)
    compiled = fused_resize_passes.can_run(out)
    along_h, tap_maps = [], []
    start = levels[0].shape[1]  # channel offset of each coarse level in `weight`
    for level, (level_taps, per_ky) in zip(levels[1:], taps, strict=True):
        stop = start + level.shape[1]
        if tuple(level.shape[2:]) == size:
            out = out + F.conv2d(level, weight[:, start:stop], padding=1)
            out = out.contiguous(memory_format=torch.channels_last)
        elif compiled:
            level = level.contiguous(memory_format=torch.channels_last)
            maps = _conv(level, level_taps).contiguous(memory_format=torch.channels_last)
            tap_maps.append((maps, _tables(tuple(level.shape[2:]), size, align_corners)))
        else:
            along_h.append(_mixed_along_height(level, per_ky, size[0], align_corners))
        start = stop
    if tap_maps:
        fused_resize_passes.add_resized_levels(out, tap_maps)
    return _add_width_passes(out, along_h, align_corners) if along_h else out


@lru_cache(maxsize=64)
def _tables(source: tuple[int, int], size: tuple[int, int], align_corners: bool
            ) -> fused_resize_passes.Tables:
    """The compiled passes' tables for a level of `source` size resized to `size`."""
    (h, w), (height, width) = source, size
    cpu = torch.device('cpu')
    return fused_resize_passes.level_tables(
        _height_matrices(h, height, align_corners, torch.float64, cpu),
        _width_matrix(w, width, align_corners, torch.float64, cpu))
