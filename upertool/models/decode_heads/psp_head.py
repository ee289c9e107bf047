"""PSPHead (PSPNet, Zhao et al. 2017) with mmsegmentation 1.x's arguments and keys
(`psp_modules.{i}.1.conv`, `bottleneck`); PPM itself lives in psp_module.py."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from upertool.models.utils import ConvModule
from upertool.registry import MODELS

from .base import BaseDecodeHead
from .psp_module import PPM

__all__ = ['PPM', 'PSPHead']


@MODELS.register_module()
class PSPHead(BaseDecodeHead):
    """Pyramid pooling on one level, concatenated with it, fused by a 3x3 `bottleneck`.

    Args:
        pool_scales: grid sizes of the pyramid poolings.
        **head_args: the other BaseDecodeHead arguments (in_index, norm_cfg, ...).

    Shapes: level (B, in_channels, h, w) -> logits (B, out_channels, h, w).
    """

    def __init__(self, *, in_channels: int, channels: int, num_classes: int,
                 pool_scales: Sequence[int] = (1, 2, 3, 6), **head_args: Any) -> None:
        if not isinstance(pool_scales, (list, tuple)):
            raise ValueError(f'PSPHead: pool_scales must be a list or tuple, got {pool_scales!r}')
        super().__init__(in_channels, channels, num_classes=num_classes, **head_args)
        if self.input_transform == 'multiple_select':
            raise ValueError('PSPHead: takes one feature map: an int in_index, or a list with '
                             "input_transform='resize_concat'")
        self.pool_scales = pool_scales
        self.psp_modules = PPM(pool_scales, self.in_channels, channels, conv_cfg=self.conv_cfg,
                               norm_cfg=self.norm_cfg, act_cfg=self.act_cfg,
                               align_corners=self.align_corners)
        self.bottleneck = ConvModule(self.in_channels + len(pool_scales) * channels, channels, 3,
                                     padding=1, conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                                     act_cfg=self.act_cfg)

    def _forward_feature(self, inputs: Sequence[Tensor]) -> Tensor:
        x = self._transform_inputs(inputs)
        return self.bottleneck(torch.cat([x, *self.psp_modules(x)], dim=1))

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        return self.cls_seg(self._forward_feature(inputs))
