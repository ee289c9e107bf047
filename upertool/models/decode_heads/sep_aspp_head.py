"""DepthwiseSeparableASPPHead (DeepLabV3+, Chen et al. 2018) with mmsegmentation 1.x's
arguments and keys (`aspp_modules.{i}.depthwise_conv`, `c1_bottleneck`, `sep_bottleneck`)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from upertool.models.utils import ConvModule, resize
from upertool.models.utils.depthwise_separable_conv_module import DepthwiseSeparableConvModule
from upertool.registry import MODELS

from .aspp_head import ASPPHead, ASPPModule


class DepthwiseSeparableASPPModule(ASPPModule):
    """ASPPModule whose dilated branches are depthwise-separable convs."""

    def __init__(self, dilations: Sequence[int], in_channels: int, channels: int,
                 conv_cfg: dict | None, norm_cfg: dict | None, act_cfg: dict | None) -> None:
        super().__init__(dilations, in_channels, channels, conv_cfg, norm_cfg, act_cfg)
        for i, d in enumerate(dilations):
            if d > 1:
                self[i] = DepthwiseSeparableConvModule(in_channels, channels, 3, dilation=d,
                                                       padding=d, norm_cfg=norm_cfg,
                                                       act_cfg=act_cfg)


@MODELS.register_module()
class DepthwiseSeparableASPPHead(ASPPHead):
    """ASPP on the selected level, upsampled to the first backbone level and fused with it.

    Args:
        c1_in_channels: channels of the first backbone level (`inputs[0]`); 0 for no fusion.
        c1_channels: channels it is reduced to by `c1_bottleneck`.
        dilations: dilation of each ASPP branch.
        **head_args: the other BaseDecodeHead arguments (in_index, norm_cfg, ...).

    Shapes: levels (B, C_i, H_i, W_i) -> logits (B, out_channels, H_0, W_0) (with c1), else at
    the selected level's size.
    """

    def __init__(self, *, in_channels: int, channels: int, num_classes: int,
                 c1_in_channels: int, c1_channels: int,
                 dilations: Sequence[int] = (1, 6, 12, 18), **head_args: Any) -> None:
        if not isinstance(c1_in_channels, int) or c1_in_channels < 0:
            raise ValueError('DepthwiseSeparableASPPHead: c1_in_channels must be an int >= 0, '
                             f'got {c1_in_channels!r}')
        super().__init__(in_channels=in_channels, channels=channels, num_classes=num_classes,
                         dilations=dilations, **head_args)
        convs = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.aspp_modules = DepthwiseSeparableASPPModule(dilations, self.in_channels, channels,
                                                         **convs)
        self.c1_in_channels = c1_in_channels
        self.c1_bottleneck = (ConvModule(c1_in_channels, c1_channels, 1, **convs)
                              if c1_in_channels > 0 else None)
        sep = dict(norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.sep_bottleneck = nn.Sequential(
            DepthwiseSeparableConvModule(channels + c1_channels, channels, 3, padding=1, **sep),
            DepthwiseSeparableConvModule(channels, channels, 3, padding=1, **sep))

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        output = self._aspp(self._transform_inputs(inputs))
        if self.c1_bottleneck is not None:
            if inputs[0].shape[1] != self.c1_in_channels:
                raise ValueError(f'DepthwiseSeparableASPPHead: the first backbone level has '
                                 f'{inputs[0].shape[1]} channels, c1_in_channels says '
                                 f'{self.c1_in_channels}')
            c1 = self.c1_bottleneck(inputs[0])
            output = resize(output, size=c1.shape[2:], mode='bilinear',
                            align_corners=self.align_corners)
            output = torch.cat([output, c1], dim=1)
        return self.cls_seg(self.sep_bottleneck(output))
