"""SegformerHead (SegFormer's all-MLP decoder, Xie et al. 2021) with mmsegmentation 1.x's
arguments and keys (`convs.{i}`, `fusion_conv`)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from upertool.models.utils import ConvModule, resize
from upertool.registry import MODELS

from .base import BaseDecodeHead


@MODELS.register_module()
class SegformerHead(BaseDecodeHead):
    """A 1x1 ConvModule per level, all resized to the first selected level, concatenated and
    fused by a 1x1 `fusion_conv` (norm, no activation).

    Args:
        interpolate_mode: mode of the resize ('bilinear' as mmseg).
        **head_args: the other BaseDecodeHead arguments (in_index as a list, norm_cfg, ...).

    Shapes: levels (B, C_i, H_i, W_i) -> logits (B, out_channels, H_0, W_0).
    """

    def __init__(self, *, in_channels: Sequence[int], channels: int, num_classes: int,
                 interpolate_mode: str = 'bilinear', **head_args: Any) -> None:
        super().__init__(in_channels, channels, num_classes=num_classes,
                         input_transform='multiple_select', **head_args)
        self.interpolate_mode = interpolate_mode
        self.convs = nn.ModuleList(
            ConvModule(c, channels, 1, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
            for c in self.in_channels)
        self.fusion_conv = ConvModule(channels * len(self.in_channels), channels, 1,
                                      norm_cfg=self.norm_cfg)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        levels = self._transform_inputs(inputs)
        size = levels[0].shape[2:]
        outs = [resize(conv(x), size=size, mode=self.interpolate_mode,
                       align_corners=self.align_corners) for conv, x in zip(self.convs, levels,
                                                                            strict=True)]
        return self.cls_seg(self.fusion_conv(torch.cat(outs, dim=1)))
