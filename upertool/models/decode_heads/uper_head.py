"""UPerHead: the decode head of UPerNet (Xiao et al. 2018), mmsegmentation 1.x layout.

Dataflow over L selected levels (finest first):
    last level -> PPM -> concat with the level -> `bottleneck` 3x3      = lateral[L-1]
    level i < L-1 -> `lateral_convs[i]` 1x1                             = lateral[i]
    top-down: lateral[i-1] += upsample(lateral[i]) for i = L-1 .. 1
    `fpn_convs[i]` 3x3 on lateral[i] for i < L-1; lateral[L-1] as is   = fpn_out[i]
    `_fuse_levels`: upsample all fpn_outs to the finest, concat, `fpn_bottleneck` 3x3
        (by default computed with the coarse levels mixed at their own resolution, the
        same result with far fewer multiplications: see `low_res_fusion.py`)
    `cls_seg`: dropout + `conv_seg` 1x1
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from upertool.models.utils import ConvModule, resize
from upertool.models.utils.folded_conv import (
    cached_folded_weight_and_bias,
    can_fold,
    compute_dtype,
)
from upertool.registry import MODELS

from .base import BaseDecodeHead
from .low_res_fusion import conv3x3_over_upsampled_levels
from .psp_module import PPM


@MODELS.register_module()
class UPerHead(BaseDecodeHead):
    """Unified Perceptual Parsing head: PPM on the coarsest level plus an FPN.

    Args:
        in_channels: channels of each selected level, finest first.
        channels: channels of every internal map and of the fused map.
        num_classes: number of classes.
        pool_scales: PPM grid sizes.
        in_index: the backbone levels used; all of them (0 .. L-1) when omitted.
        low_res_fusion: compute `fpn_bottleneck` with the coarse levels mixed before
            upsampling (same parameters, same output up to fp32 rounding, ~40% fewer
            multiplications for R-50 UPerNet); False runs the plain upsample-concat-conv.
        ppm_channels: channels of each PPM branch; None means `channels` (mmseg). The
            authors' code (mit-semseg, unifiedparsing) uses 512 whatever `channels` is.
        ppm_pooling: 'adaptive' (mmseg, mit-semseg) or 'integral' (exact integral
            average, the Precise RoI Pooling of unifiedparsing); see PPM.
        ppm_order: 'conv_first' (mmseg) or 'upsample_first' (the authors' code); see PPM.
        **head_args: the other BaseDecodeHead arguments (norm_cfg, dropout_ratio,
            loss_decode, align_corners, ...).
    """

    def __init__(self, *, in_channels: Sequence[int], channels: int, num_classes: int,
                 pool_scales: Sequence[int] = (1, 2, 3, 6),
                 in_index: Sequence[int] | None = None, low_res_fusion: bool = True,
                 ppm_channels: int | None = None, ppm_pooling: str = 'adaptive',
                 ppm_order: str = 'conv_first', **head_args: Any) -> None:
        if not isinstance(in_channels, (list, tuple)):
            raise ValueError(f'UPerHead: in_channels must be a list (one entry per level), '
                             f'got {in_channels!r}')
        transform = head_args.pop('input_transform', 'multiple_select')
        if transform not in (None, 'multiple_select'):
            raise ValueError("UPerHead: input_transform must be 'multiple_select' (it fuses "
                             f'the levels itself), got {transform!r}')
        if in_index is None:
            in_index = list(range(len(in_channels)))
        super().__init__(in_channels, channels, num_classes=num_classes, in_index=in_index,
                         input_transform='multiple_select', **head_args)
        convs = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        ppm_channels = channels if ppm_channels is None else ppm_channels
        self.psp_modules = PPM(pool_scales, self.in_channels[-1], ppm_channels,
                               align_corners=self.align_corners, pooling=ppm_pooling,
                               order=ppm_order, **convs)
        self.bottleneck = ConvModule(self.in_channels[-1] + len(pool_scales) * ppm_channels,
                                     channels, 3, padding=1, **convs)
        self.lateral_convs = nn.ModuleList(
            ConvModule(c, channels, 1, inplace=False, **convs) for c in self.in_channels[:-1])
        self.fpn_convs = nn.ModuleList(
            ConvModule(channels, channels, 3, padding=1, inplace=False, **convs)
            for _ in self.in_channels[:-1])
        self.fpn_bottleneck = ConvModule(len(self.in_channels) * channels, channels, 3,
                                         padding=1, **convs)
        self.low_res_fusion = low_res_fusion

    def psp_forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """PPM on the last level: (B, C_last, h, w) -> (B, channels, h, w)."""
        x = inputs[-1]
        return self.bottleneck(torch.cat([x, *self.psp_modules(x)], dim=1))

    def _fuse_levels(self, fpn_outs: list[Tensor]) -> Tensor:
        """Upsample every level to the finest, concat, 3x3 `fpn_bottleneck`.

        Args:
            fpn_outs: L maps (B, channels, h_i, w_i), finest first.

        Returns:
            (B, channels, h_0, w_0).
        """
        if self.low_res_fusion:
            return self._fuse_levels_at_low_resolution(fpn_outs)
        size = fpn_outs[0].shape[2:]
        upsampled = [fpn_outs[0]] + [
            resize(x, size=size, mode='bilinear', align_corners=self.align_corners)
            for x in fpn_outs[1:]]
        return self.fpn_bottleneck(torch.cat(upsampled, dim=1))

    def _fuse_levels_at_low_resolution(self, fpn_outs: list[Tensor]) -> Tensor:
        """`_fuse_levels`'s result, with `fpn_bottleneck`'s convolution applied per level."""
        block = self.fpn_bottleneck
        if can_fold(fpn_outs[0], block.conv, block.norm) and type(block.activate) is nn.ReLU:
            # eval: BN folded into the weights (folded_conv.py), so only the ReLU is left
            weight, bias = cached_folded_weight_and_bias(block.conv, block.norm,
                                                         compute_dtype(fpn_outs[0]))
            out = conv3x3_over_upsampled_levels(fpn_outs, weight, self.align_corners, bias)
            return out.relu_()
        out = conv3x3_over_upsampled_levels(fpn_outs, block.conv.weight, self.align_corners,
                                            block.conv.bias)
        return block.norm_act(out)

    def _forward_feature(self, inputs: Sequence[Tensor]) -> Tensor:
        """All backbone levels -> fused features (B, channels, h_0, w_0)."""
        inputs = self._transform_inputs(inputs)
        return self._fuse_levels(self._fpn_levels(inputs, self.psp_forward(inputs)))

    def _fpn_levels(self, inputs: Sequence[Tensor], top: Tensor) -> list[Tensor]:
        """Selected levels and the PPM output `top` -> fpn_outs P2 .. P5 (P5 is `top`)."""
        laterals = [conv(inputs[i]) for i, conv in enumerate(self.lateral_convs)]
        laterals.append(top)
        for i in range(len(laterals) - 1, 0, -1):
            upsampled = resize(laterals[i], size=laterals[i - 1].shape[2:], mode='bilinear',
                               align_corners=self.align_corners)
            if torch.is_grad_enabled():
                laterals[i - 1] = laterals[i - 1] + upsampled
            else:  # the lateral conv's fresh output: no new 32 MB map (R-50, 512 px)
                laterals[i - 1] += upsampled
        fpn_outs = []
        for i, conv in enumerate(self.fpn_convs):
            fpn_outs.append(conv(laterals[i]))
            laterals[i] = None  # without autograd it is freed here (R-50, 512 px: 32 MB)
        fpn_outs.append(laterals[-1])
        return fpn_outs

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """All backbone levels -> logits (B, out_channels, h_0, w_0) at the finest level."""
        return self.cls_seg(self._forward_feature(inputs))
