"""Token (B, L, C) <-> map (B, C, H, W) conversions, mmsegmentation 1.x's `shape_convert`."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


def _check_tokens(x: torch.Tensor, hw_shape: tuple[int, int]) -> None:
    if x.dim() != 3 or x.shape[1] != hw_shape[0] * hw_shape[1]:
        raise ValueError(f'expected (B, {hw_shape[0]}*{hw_shape[1]}, C) tokens for hw_shape '
                         f'{tuple(hw_shape)}, got {tuple(x.shape)}')


def nlc_to_nchw(x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
    """(B, H*W, C) -> (B, C, H, W)."""
    _check_tokens(x, hw_shape)
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *hw_shape)


def nchw_to_nlc(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H*W, C), contiguous."""
    if x.dim() != 4:
        raise ValueError(f'expected a (B, C, H, W) map, got {tuple(x.shape)}')
    return x.flatten(2).transpose(1, 2).contiguous()


def nchw2nlc2nchw(module: nn.Module, x: torch.Tensor, contiguous: bool = False,
                  **kwargs: Any) -> torch.Tensor:
    """Run a token module (e.g. LayerNorm) on a (B, C, H, W) map."""
    b, c, h, w = x.shape
    tokens = x.flatten(2).transpose(1, 2)
    out = module(tokens.contiguous() if contiguous else tokens, **kwargs)
    out = out.transpose(1, 2).reshape(b, c, h, w)
    return out.contiguous() if contiguous else out


def nlc2nchw2nlc(module: nn.Module, x: torch.Tensor, hw_shape: tuple[int, int],
                 contiguous: bool = False, **kwargs: Any) -> torch.Tensor:
    """Run a map module (e.g. a conv) on (B, H*W, C) tokens."""
    _check_tokens(x, hw_shape)
    b, _, c = x.shape
    grid = x.transpose(1, 2).reshape(b, c, *hw_shape)
    out = module(grid.contiguous() if contiguous else grid, **kwargs).flatten(2).transpose(1, 2)
    return out.contiguous() if contiguous else out
