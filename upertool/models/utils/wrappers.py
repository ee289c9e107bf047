"""`resize` and `Upsample` at mmsegmentation 1.x's module path (`mmseg.models.utils.wrappers`)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .resize import resize

__all__ = ['Upsample', 'resize']


class Upsample(nn.Module):
    """`resize` as a module: to a fixed `size`, or by `scale_factor` (output = int(in * f))."""

    def __init__(self, size: int | Sequence[int] | None = None,
                 scale_factor: float | Sequence[float] | None = None, mode: str = 'nearest',
                 align_corners: bool | None = None) -> None:
        super().__init__()
        if not size and not scale_factor:
            raise ValueError('Upsample needs size or scale_factor')
        self.size = size
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.size:
            size = self.size
        elif isinstance(self.scale_factor, tuple):
            size = [int(t * f) for t, f in zip(x.shape[-2:], self.scale_factor, strict=True)]
        else:
            size = [int(t * self.scale_factor) for t in x.shape[-2:]]
        return resize(x, size, None, self.mode, self.align_corners)
