"""`UpConvBlock` of mmsegmentation 1.x (UNet's decoder stage) and its default upsampler
`InterpConv` (registered in MODELS, so `upsample_cfg=dict(type='InterpConv')` builds)."""
from __future__ import annotations

import torch
import torch.utils.checkpoint as cp
from torch import nn

from upertool.registry import MODELS

from .conv_module import ConvModule
from .wrappers import Upsample


@MODELS.register_module()
class InterpConv(nn.Module):
    """Interpolation then a ConvModule (`conv_first` swaps them); key `interp_upsample.{0,1}`."""

    def __init__(self, in_channels: int, out_channels: int, with_cp: bool = False,
                 norm_cfg: dict | None = dict(type='BN'), act_cfg: dict | None = dict(type='ReLU'),
                 *, conv_cfg: dict | None = None, conv_first: bool = False, kernel_size: int = 1,
                 stride: int = 1, padding: int = 0,
                 upsample_cfg: dict = dict(scale_factor=2, mode='bilinear',
                                           align_corners=False)) -> None:
        super().__init__()
        self.with_cp = with_cp
        conv = ConvModule(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                          conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        upsample = Upsample(**upsample_cfg)
        self.interp_upsample = nn.Sequential(*((conv, upsample) if conv_first
                                               else (upsample, conv)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self.interp_upsample, x, use_reentrant=False)
        return self.interp_upsample(x)


class UpConvBlock(nn.Module):
    """Upsample the coarse map to the skip's size and channels, concatenate, run `conv_block`.

    Args:
        conv_block: a class called as `conv_block(in_channels=2 * skip_channels,
            out_channels=, num_convs=, stride=, dilation=, with_cp=, conv_cfg=, norm_cfg=,
            act_cfg=, dcn=None, plugins=None)` (mmsegmentation's BasicConvBlock signature).
        upsample_cfg: MODELS config of the upsampler (built with in_channels, out_channels
            = skip_channels, with_cp, norm_cfg, act_cfg); None for a 1x1 ConvModule.

    Shapes: skip (B, skip_channels, H, W), x (B, in_channels, h, w) -> (B, out_channels, H, W).
    """

    def __init__(self, conv_block: type[nn.Module], in_channels: int, skip_channels: int,
                 out_channels: int, num_convs: int = 2, stride: int = 1, dilation: int = 1,
                 with_cp: bool = False, conv_cfg: dict | None = None,
                 norm_cfg: dict | None = dict(type='BN'), act_cfg: dict | None = dict(type='ReLU'),
                 upsample_cfg: dict | None = dict(type='InterpConv'), dcn: dict | None = None,
                 plugins: list | None = None) -> None:
        super().__init__()
        if dcn is not None or plugins is not None:
            raise ValueError('UpConvBlock: dcn and plugins are not supported (as in '
                             f'mmsegmentation); got dcn={dcn!r}, plugins={plugins!r}')
        self.conv_block = conv_block(
            in_channels=2 * skip_channels, out_channels=out_channels, num_convs=num_convs,
            stride=stride, dilation=dilation, with_cp=with_cp, conv_cfg=conv_cfg,
            norm_cfg=norm_cfg, act_cfg=act_cfg, dcn=None, plugins=None)
        if upsample_cfg is None:
            self.upsample = ConvModule(in_channels, skip_channels, 1, conv_cfg=conv_cfg,
                                       norm_cfg=norm_cfg, act_cfg=act_cfg)
        else:
            self.upsample = MODELS.build(upsample_cfg, default_args=dict(
                in_channels=in_channels, out_channels=skip_channels, with_cp=with_cp,
                norm_cfg=norm_cfg, act_cfg=act_cfg))

    def forward(self, skip: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.conv_block(torch.cat([skip, self.upsample(x)], dim=1))
