"""MultiLevelNeck: turns a plain ViT's single-scale maps into a feature pyramid (mmseg 1.x).

Keys: `lateral_convs.i.conv` (1x1, one per input) and `convs.i.conv` (3x3, one per output).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from upertool.models.utils import ConvModule
from upertool.registry import MODELS


@MODELS.register_module()
class MultiLevelNeck(nn.Module):
    """1x1 lateral conv per input, bilinear rescale by `scales[i]`, 3x3 conv per output.

    With UPerNet on ViT-B/16 (mmseg's config) four stride-16 maps and scales [4, 2, 1, 0.5]
    give strides 4, 8, 16, 32 - output i is input i rescaled by scales[i], so the list runs
    from the finest level to the coarsest as UPerHead expects. A single input feeds every
    output.

    Args:
        in_channels: Channels of each input level: the backbone's `out_channels` (None is an
            error here; a builder that knows the backbone may fill it in).
        out_channels: Channels of every output level.
        scales: Rescale factor of each output level.
        norm_cfg: Norm after each conv (None: convs with bias, no norm).
        act_cfg: Activation after each conv (None: linear).

    Attributes:
        out_channels: Channels of each output level (a tuple, one entry per scale).

    Shapes:
        L maps (B, in_channels[i], h, w) -> len(scales) maps
        (B, out_channels, floor(h * scales[i]), floor(w * scales[i])).
    """

    def __init__(self, in_channels: Sequence[int] | None = None, out_channels: int | None = None,
                 scales: Sequence[float] = (0.5, 1, 2, 4), norm_cfg: dict | None = None,
                 act_cfg: dict | None = None) -> None:
        super().__init__()
        if (isinstance(in_channels, (int, str)) or not isinstance(in_channels, Sequence)
                or not in_channels or not all(isinstance(c, int) and c > 0 for c in in_channels)):
            raise ValueError('MultiLevelNeck: in_channels must be a non-empty list of positive '
                             f"ints (one per backbone level, e.g. the backbone's out_channels), "
                             f'got {in_channels!r}')
        if isinstance(out_channels, bool) or not isinstance(out_channels, int) or out_channels < 1:
            raise ValueError(f'MultiLevelNeck: out_channels must be a positive int, '
                             f'got {out_channels!r}')
        if (isinstance(scales, (int, float, str)) or not isinstance(scales, Sequence)
                or not scales or not all(isinstance(s, (int, float)) and s > 0 for s in scales)):
            raise ValueError(f'MultiLevelNeck: scales must be a non-empty list of positive '
                             f'numbers, got {scales!r}')
        if len(in_channels) not in (1, len(scales)):
            raise ValueError(f'MultiLevelNeck: {len(in_channels)} input levels for '
                             f'{len(scales)} scales; give one input, or one per scale '
                             f'(in_channels={list(in_channels)}, scales={list(scales)})')
        self.in_channels = list(in_channels)
        self.scales = list(scales)
        self.num_outs = len(scales)
        self.out_channels = (out_channels,) * self.num_outs
        self.lateral_convs = nn.ModuleList(
            ConvModule(c, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
            for c in self.in_channels)
        self.convs = nn.ModuleList(
            ConvModule(out_channels, out_channels, 3, padding=1, norm_cfg=norm_cfg,
                       act_cfg=act_cfg) for _ in range(self.num_outs))

    def init_weights(self) -> None:
        """Xavier-uniform conv weights, zero biases (mmseg's init of this neck)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'MultiLevelNeck expects {len(self.in_channels)} input levels '
                             f'(in_channels={self.in_channels}), got {len(inputs)}')
        for i, (x, c) in enumerate(zip(inputs, self.in_channels, strict=True)):
            if x.dim() != 4 or x.shape[1] != c:
                raise ValueError(f'MultiLevelNeck: input {i} must be (B, {c}, H, W), '
                                 f'got {tuple(x.shape)}')
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, inputs, strict=True)]
        if len(laterals) == 1:
            laterals = laterals * self.num_outs
        # scale_factor (not a computed size) so odd sizes round as mmseg's neck does.
        return tuple(conv(F.interpolate(x, scale_factor=s, mode='bilinear'))
                     for conv, x, s in zip(self.convs, laterals, self.scales, strict=True))
