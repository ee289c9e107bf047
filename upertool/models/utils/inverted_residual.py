"""MobileNetV2's inverted residual block, with mmsegmentation 1.x's arguments and keys
(`conv.0` expand, `conv.1` depthwise, `conv.2` linear; `conv.0`/`conv.1` without expansion)."""
from __future__ import annotations

import torch
import torch.utils.checkpoint as cp
from torch import nn

from .conv_module import ConvModule


class InvertedResidual(nn.Module):
    """1x1 expand -> 3x3 depthwise (stride, dilation) -> 1x1 linear, residual when the shape
    is kept.

    Shapes: (B, in_channels, H, W) -> (B, out_channels, H / stride, W / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: float,
                 dilation: int = 1, conv_cfg: dict | None = None,
                 norm_cfg: dict | None = dict(type='BN'),
                 act_cfg: dict | None = dict(type='ReLU6'), with_cp: bool = False) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f'InvertedResidual: stride must be 1 or 2, got {stride!r}')
        self.stride = stride
        self.with_cp = with_cp
        self.use_res_connect = stride == 1 and in_channels == out_channels
        hidden = int(round(in_channels * expand_ratio))
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        layers = []
        if expand_ratio != 1:
            layers.append(ConvModule(in_channels, hidden, 1, act_cfg=act_cfg, **common))
        layers.append(ConvModule(hidden, hidden, 3, stride=stride, padding=dilation,
                                 dilation=dilation, groups=hidden, act_cfg=act_cfg, **common))
        layers.append(ConvModule(hidden, out_channels, 1, act_cfg=None, **common))
        self.conv = nn.Sequential(*layers)

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)
