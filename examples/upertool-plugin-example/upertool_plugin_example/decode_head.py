"""LiteFuseHead: project every level to `channels`, upsample, sum, one 3x3 conv.

A decode head subclasses `upertool.models.decode_heads.BaseDecodeHead`, which selects the
input levels (`in_index`), owns the classifier `conv_seg`, the losses (`loss_decode`) and
prediction; the subclass only writes `forward(inputs) -> logits`.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from upertool.models.decode_heads import BaseDecodeHead
from upertool.registry import MODELS


@MODELS.register_module()
class LiteFuseHead(BaseDecodeHead):
    """Sum of 1x1-projected levels at the finest resolution, then a 3x3 conv-BN-ReLU.

    Args:
        in_channels: channels of each selected level, finest first (filled in from the
            backbone's `out_channels` when the config leaves it out).
        channels: channels of the projections and of the fused map.
        num_classes: number of classes.
        in_index: levels to use; all of them when None (the default the segmentor reads
            to fill in `in_channels`).
        **head_args: the other BaseDecodeHead arguments (dropout_ratio, loss_decode,
            align_corners, ignore_index, ...).

    Shapes:
        levels (B, in_channels[i], h_i, w_i) -> logits (B, num_classes, h_0, w_0).
    """

    def __init__(self, *, in_channels: Sequence[int], channels: int, num_classes: int,
                 in_index: Sequence[int] | None = None, **head_args: Any) -> None:
        if in_index is None:
            in_index = list(range(len(in_channels)))
        super().__init__(in_channels, channels, num_classes=num_classes, in_index=in_index,
                         input_transform='multiple_select', **head_args)
        self.lateral_convs = nn.ModuleList(
            nn.Conv2d(c, channels, 1) for c in self.in_channels)
        self.fuse = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU(inplace=True))

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        levels = self._transform_inputs(inputs)
        size = levels[0].shape[2:]
        fused = self.lateral_convs[0](levels[0])
        for conv, x in zip(self.lateral_convs[1:], levels[1:], strict=True):
            fused = fused + F.interpolate(conv(x), size=size, mode='bilinear',
                                          align_corners=self.align_corners)
        return self.cls_seg(self.fuse(fused))
