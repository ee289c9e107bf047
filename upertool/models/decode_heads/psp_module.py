"""Pyramid Pooling Module (PSPNet), the context block UPerHead runs on its last level."""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from upertool.models.utils import ConvModule, resize


class PPM(nn.ModuleList):
    """Pool to several grid sizes, 1x1 conv each, upsample back to the input size.

    Module `i` is `Sequential(AdaptiveAvgPool2d(pool_scales[i]), ConvModule)`, so its
    keys are mmseg's (`psp_modules.{i}.1.conv.weight`, `psp_modules.{i}.1.bn.*`).

    Args:
        pool_scales: output grid sizes of the poolings, e.g. (1, 2, 3, 6).
        in_channels: channels of the input map.
        channels: channels of each pooled branch.
        conv_cfg, norm_cfg, act_cfg: ConvModule configs.
        align_corners: align_corners of the bilinear upsampling.
    """

    def __init__(self, pool_scales: Sequence[int], in_channels: int, channels: int,
                 conv_cfg: dict | None, norm_cfg: dict | None, act_cfg: dict | None,
                 align_corners: bool) -> None:
        super().__init__()
        if not pool_scales or not all(isinstance(s, int) and s >= 1 for s in pool_scales):
            raise ValueError(f'pool_scales must be a non-empty sequence of ints >= 1, got '
                             f'{pool_scales!r}')
        self.pool_scales = tuple(pool_scales)
        self.align_corners = align_corners
        self.in_channels = in_channels
        self.channels = channels
        for scale in self.pool_scales:
            self.append(nn.Sequential(
                nn.AdaptiveAvgPool2d(scale),
                ConvModule(in_channels, channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                           act_cfg=act_cfg)))

    def forward(self, x: Tensor) -> list[Tensor]:
        """(B, in_channels, H, W) -> one (B, channels, H, W) map per pool scale."""
        return [resize(branch(x), size=x.shape[2:], mode='bilinear',
                       align_corners=self.align_corners) for branch in self]
