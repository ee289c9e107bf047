"""ASPPHead (DeepLabV3, Chen et al. 2017) with mmsegmentation 1.x's arguments and keys
(`image_pool.1`, `aspp_modules.{i}`, `bottleneck`)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from upertool.models.utils import ConvModule, resize
from upertool.registry import MODELS

from .base import BaseDecodeHead


class ASPPModule(nn.ModuleList):
    """One conv per dilation: 1x1 for dilation 1, else a dilated 3x3 keeping the size."""

    def __init__(self, dilations: Sequence[int], in_channels: int, channels: int,
                 conv_cfg: dict | None, norm_cfg: dict | None, act_cfg: dict | None) -> None:
        super().__init__()
        self.dilations = dilations
        self.in_channels = in_channels
        self.channels = channels
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        for d in dilations:
            self.append(ConvModule(in_channels, channels, 1 if d == 1 else 3, dilation=d,
                                   padding=0 if d == 1 else d, conv_cfg=conv_cfg,
                                   norm_cfg=norm_cfg, act_cfg=act_cfg))

    def forward(self, x: Tensor) -> list[Tensor]:
        return [branch(x) for branch in self]


@MODELS.register_module()
class ASPPHead(BaseDecodeHead):
    """Image pooling + atrous branches on one level, concatenated, fused by `bottleneck`.

    Args:
        dilations: dilation of each atrous branch (1: a 1x1 conv).
        **head_args: the other BaseDecodeHead arguments (in_index, norm_cfg, ...).

    Shapes: level (B, in_channels, h, w) -> logits (B, out_channels, h, w).
    """

    def __init__(self, *, in_channels: int, channels: int, num_classes: int,
                 dilations: Sequence[int] = (1, 6, 12, 18), **head_args: Any) -> None:
        if not isinstance(dilations, (list, tuple)) or not all(
                isinstance(d, int) and d >= 1 for d in dilations):
            raise ValueError(f'{type(self).__name__}: dilations must be a list of ints >= 1, '
                             f'got {dilations!r}')
        super().__init__(in_channels, channels, num_classes=num_classes, **head_args)
        if self.input_transform == 'multiple_select':
            raise ValueError(f'{type(self).__name__}: takes one feature map: an int in_index, '
                             "or a list with input_transform='resize_concat'")
        self.dilations = dilations
        convs = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1),
                                        ConvModule(self.in_channels, channels, 1, **convs))
        self.aspp_modules = ASPPModule(dilations, self.in_channels, channels, **convs)
        self.bottleneck = ConvModule((len(dilations) + 1) * channels, channels, 3, padding=1,
                                     **convs)

    def _aspp(self, x: Tensor) -> Tensor:
        """Image pooling and atrous branches, concatenated and fused: (B, channels, h, w)."""
        pooled = resize(self.image_pool(x), size=x.shape[2:], mode='bilinear',
                        align_corners=self.align_corners)
        return self.bottleneck(torch.cat([pooled, *self.aspp_modules(x)], dim=1))

    def _forward_feature(self, inputs: Sequence[Tensor]) -> Tensor:
        return self._aspp(self._transform_inputs(inputs))

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        return self.cls_seg(self._forward_feature(inputs))
