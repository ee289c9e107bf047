"""FCNHead: convs on one feature level (FCN, Long et al. 2015), mmsegmentation 1.x layout.

UPerNet uses it as the auxiliary head on stage 3; FCN-D8 as its decode head.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from upertool.models.utils import ConvModule
from upertool.registry import MODELS

from .base import BaseDecodeHead


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@MODELS.register_module()
class FCNHead(BaseDecodeHead):
    """`num_convs` convs (`convs`), optionally concat with the input and fuse (`conv_cat`).

    Args:
        in_channels: channels of the selected level (or their sum with 'resize_concat').
        channels: channels of the convs.
        num_classes: number of classes.
        num_convs: number of convs (>= 0); 0 needs in_channels == channels.
        kernel_size: odd kernel size of the convs and of `conv_cat`.
        concat_input: concat the input with the convs' output and fuse them with a
            `kernel_size` conv (`conv_cat`, not dilated, as mmseg).
        dilation: dilation of the convs (padding keeps the size).
        **head_args: the other BaseDecodeHead arguments (in_index, norm_cfg, ...).
    """

    def __init__(self, *, in_channels: int | Sequence[int], channels: int, num_classes: int,
                 num_convs: int = 2, kernel_size: int = 3, concat_input: bool = True,
                 dilation: int = 1, **head_args: Any) -> None:
        if not _is_int(num_convs) or num_convs < 0:
            raise ValueError(f'FCNHead: num_convs must be an int >= 0, got {num_convs!r}')
        if not _is_int(kernel_size) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f'FCNHead: kernel_size must be a positive odd int (the padding '
                             f'keeps the size), got {kernel_size!r}')
        if not _is_int(dilation) or dilation < 1:
            raise ValueError(f'FCNHead: dilation must be an int >= 1, got {dilation!r}')
        super().__init__(in_channels, channels, num_classes=num_classes, **head_args)
        if self.input_transform == 'multiple_select':
            raise ValueError("FCNHead: takes one feature map: an int in_index, or a list with "
                             "input_transform='resize_concat'")
        if num_convs == 0 and self.in_channels != channels:
            raise ValueError(f'FCNHead: num_convs=0 passes the input through, so in_channels '
                             f'({self.in_channels}) must equal channels ({channels})')
        self.num_convs = num_convs
        self.concat_input = concat_input
        self.kernel_size = kernel_size
        self.dilation = dilation
        convs = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        padding = (kernel_size // 2) * dilation
        if num_convs == 0:
            self.convs: nn.Module = nn.Identity()
        else:
            self.convs = nn.Sequential(*[
                ConvModule(self.in_channels if i == 0 else channels, channels, kernel_size,
                           padding=padding, dilation=dilation, **convs)
                for i in range(num_convs)])
        if concat_input:
            self.conv_cat = ConvModule(self.in_channels + channels, channels, kernel_size,
                                       padding=kernel_size // 2, **convs)

    def _forward_feature(self, inputs: Sequence[Tensor]) -> Tensor:
        """All backbone levels -> features (B, channels, h, w) of the selected level."""
        x = self._transform_inputs(inputs)
        feats = self.convs(x)
        if self.concat_input:
            feats = self.conv_cat(torch.cat([x, feats], dim=1))
        return feats

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """All backbone levels -> logits (B, out_channels, h, w) at the selected level."""
        return self.cls_seg(self._forward_feature(inputs))
