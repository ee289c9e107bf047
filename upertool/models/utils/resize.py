"""Interpolation helper shared by heads and segmentors."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def resize(input: torch.Tensor, size: tuple[int, int] | torch.Size | None = None,
           scale_factor: float | None = None, mode: str = 'nearest',
           align_corners: bool | None = None) -> torch.Tensor:
    """`F.interpolate` that skips the call when the size already matches."""
    if size is not None and tuple(input.shape[-2:]) == tuple(size):
        return input
    if mode == 'nearest':
        align_corners = None
    return F.interpolate(input, size=size, scale_factor=scale_factor, mode=mode,
                         align_corners=align_corners)
