"""Exact integral-average pooling: the pooling of the Unified Perceptual Parsing reference.

The authors' multi-task UPerNet (CSAILVision/unifiedparsing) pools its PPM with Precise
RoI Pooling (Jiang et al. 2018) over the whole map, the RoI (0, 0, W, H). PrRoIPool
treats the feature map as a continuous function, the bilinear interpolation of the
values at integer coordinates (pixel (i, j) at (x=j, y=i), zero outside the map), and
returns each bin's integral divided by the bin's area. With a grid of `s` bins this
differs from `adaptive_avg_pool2d` whenever the size is not a multiple of `s` (and
even when it is, at the border, where the interpolation runs down to zero).

Bilinear interpolation is separable, so the integral over a bin is a product of 1-d
integrals of "tent" functions: pooling is `A_y @ X @ A_x^T` with

    A[p, j] = (1 / bin) * integral over [p * bin, (p + 1) * bin] of max(0, 1 - |x - j|) dx

which is what this module computes: exact, differentiable, device-independent (the
reference has only a CUDA kernel), and exportable (two matrix products).
"""
from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor, nn


def _tent_cdf(t: Tensor) -> Tensor:
    """Integral of max(0, 1 - |x|) from -inf to t."""
    t = t.clamp(-1.0, 1.0)
    return torch.where(t <= 0, 0.5 * (t + 1) ** 2, 1 - 0.5 * (1 - t) ** 2)


@lru_cache(maxsize=128)
def integral_pool_matrix(length: int, bins: int) -> Tensor:
    """(bins, length) float64: row p averages the interpolated signal over bin p of
    [0, length] (the RoI of the reference: the whole map, end at `length`)."""
    with torch.inference_mode(False), torch.no_grad():
        edges = torch.arange(bins + 1, dtype=torch.float64) * (length / bins)
        centres = torch.arange(length, dtype=torch.float64)
        upper = _tent_cdf(edges[1:, None] - centres[None, :])
        lower = _tent_cdf(edges[:-1, None] - centres[None, :])
        return (upper - lower) / (length / bins)


def integral_avg_pool2d(x: Tensor, output_size: int | tuple[int, int]) -> Tensor:
    """(B, C, H, W) -> (B, C, s_h, s_w): PrRoIPool over the RoI (0, 0, W, H)."""
    s_h, s_w = (output_size, output_size) if isinstance(output_size, int) else output_size
    height, width = x.shape[-2:]
    rows = integral_pool_matrix(int(height), int(s_h)).to(dtype=x.dtype, device=x.device)
    cols = integral_pool_matrix(int(width), int(s_w)).to(dtype=x.dtype, device=x.device)
    return rows @ x @ cols.t()


class IntegralAvgPool2d(nn.Module):
    """`integral_avg_pool2d` as a module, a drop-in for `nn.AdaptiveAvgPool2d(s)`.

    Args:
        output_size: the grid size s (an int) or (s_h, s_w).
    """

    def __init__(self, output_size: int | tuple[int, int]) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return integral_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f'output_size={self.output_size}'
