"""mmcv's DepthwiseSeparableConvModule: a depthwise ConvModule then a pointwise one
(keys `depthwise_conv`, `pointwise_conv`), built on upertool's ConvModule."""
from __future__ import annotations

import torch
from torch import nn

from .conv_module import ConvModule


class DepthwiseSeparableConvModule(nn.Module):
    """Depthwise k x k (groups = in_channels) then 1x1 pointwise, each with norm and activation.

    `dw_*` / `pw_*` configs override `norm_cfg` / `act_cfg` for one of the two convs; 'default'
    takes the shared one, as mmcv.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int = 1, padding: int = 0, dilation: int = 1,
                 norm_cfg: dict | None = None, act_cfg: dict | None = dict(type='ReLU'),
                 dw_norm_cfg: dict | str | None = 'default',
                 dw_act_cfg: dict | str | None = 'default',
                 pw_norm_cfg: dict | str | None = 'default',
                 pw_act_cfg: dict | str | None = 'default') -> None:
        super().__init__()

        def pick(value: dict | str | None, shared: dict | None) -> dict | None:
            return shared if value == 'default' else value

        self.depthwise_conv = ConvModule(
            in_channels, in_channels, kernel_size, stride=stride, padding=padding,
            dilation=dilation, groups=in_channels, norm_cfg=pick(dw_norm_cfg, norm_cfg),
            act_cfg=pick(dw_act_cfg, act_cfg))
        self.pointwise_conv = ConvModule(in_channels, out_channels, 1,
                                         norm_cfg=pick(pw_norm_cfg, norm_cfg),
                                         act_cfg=pick(pw_act_cfg, act_cfg))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise_conv(self.depthwise_conv(x))
