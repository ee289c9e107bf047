"""Pyramid Pooling Module (PSPNet), the context block UPerHead runs on its last level."""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from upertool.models.utils import ConvModule, resize

from .integral_pool import IntegralAvgPool2d

PPM_POOLINGS = ('adaptive', 'integral')
PPM_ORDERS = ('conv_first', 'upsample_first')


class PPM(nn.ModuleList):
    """Pool to several grid sizes, 1x1 conv each, upsample back to the input size.

    Module `i` is `Sequential(pooling, ConvModule)`, so its keys are mmseg's
    (`psp_modules.{i}.1.conv.weight`, `psp_modules.{i}.1.bn.*`) whatever the options.

    Args:
        pool_scales: output grid sizes of the poolings, e.g. (1, 2, 3, 6).
        in_channels: channels of the input map.
        channels: channels of each pooled branch.
        conv_cfg, norm_cfg, act_cfg: ConvModule configs.
        align_corners: align_corners of the bilinear upsampling.
        pooling: 'adaptive' (`nn.AdaptiveAvgPool2d`, mmseg and mit-semseg) or 'integral'
            (the exact integral average of the bilinearly interpolated map, as the
            Precise RoI Pooling of the authors' multi-task code; see integral_pool.py).
        order: 'conv_first' (pool, conv-norm-act, upsample: mmseg) or 'upsample_first'
            (pool, upsample, conv-norm-act: the authors' code, which differs because of
            the activation). The latter runs the 1x1 conv at the pooled size and then
            upsamples, which is the same map (a 1x1 conv commutes with bilinear
            resizing, whose weights sum to 1) at a fraction of the cost.
    """

    def __init__(self, pool_scales: Sequence[int], in_channels: int, channels: int,
                 conv_cfg: dict | None, norm_cfg: dict | None, act_cfg: dict | None,
                 align_corners: bool, pooling: str = 'adaptive',
                 order: str = 'conv_first') -> None:
        super().__init__()
        if not pool_scales or not all(isinstance(s, int) and s >= 1 for s in pool_scales):
            raise ValueError(f'pool_scales must be a non-empty sequence of ints >= 1, got '
                             f'{pool_scales!r}')
        if pooling not in PPM_POOLINGS:
            raise ValueError(f'PPM: pooling must be one of {PPM_POOLINGS}, got {pooling!r}')
        if order not in PPM_ORDERS:
            raise ValueError(f'PPM: order must be one of {PPM_ORDERS}, got {order!r}')
        self.pool_scales = tuple(pool_scales)
        self.align_corners = align_corners
        self.in_channels = in_channels
        self.channels = channels
        self.pooling = pooling
        self.order = order
        for scale in self.pool_scales:
            pool = nn.AdaptiveAvgPool2d(scale) if pooling == 'adaptive' \
                else IntegralAvgPool2d(scale)
            self.append(nn.Sequential(
                pool,
                ConvModule(in_channels, channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                           act_cfg=act_cfg)))

    def forward(self, x: Tensor) -> list[Tensor]:
        """(B, in_channels, H, W) -> one (B, channels, H, W) map per pool scale."""
        size = x.shape[2:]
        if self.order == 'conv_first':
            return [resize(branch(x), size=size, mode='bilinear',
                           align_corners=self.align_corners) for branch in self]
        outs = []
        for pool, conv in self:
            mixed = resize(conv.conv(pool(x)), size=size, mode='bilinear',
                           align_corners=self.align_corners)
            outs.append(conv.norm_act(mixed))
        return outs
