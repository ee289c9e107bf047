"""Conv -> norm -> activation, with mmcv's ConvModule attribute names.

The names (`conv`, `bn`/`gn`, `activate`) are what mmsegmentation checkpoints use,
so heads built from this block load those weights unchanged.
"""
from __future__ import annotations

import torch
from torch import nn

from .folded_conv import conv_norm_relu
from .norm import build_activation_layer, build_norm_layer


class ConvModule(nn.Module):
    """A 2-d convolution with optional norm and activation.

    Besides the keys, it has mmcv's public attributes (`in_channels`, `out_channels`,
    `kernel_size`, `stride`, `padding`, `dilation`, `groups`, `with_norm`, `with_activation`,
    `with_bias`, `norm_name`, `norm`, `order`, ...), so code written against mmcv's block runs.

    Args:
        bias: 'auto' drops the conv bias when a norm follows (the norm has its own).
        norm_cfg: e.g. `dict(type='SyncBN', requires_grad=True)`; None for no norm.
        act_cfg: e.g. `dict(type='ReLU')`; None for no activation.
        with_spectral_norm: wrap the conv in spectral normalisation, as mmcv.
        padding_mode: the conv's padding mode ('zeros', 'reflect', 'replicate', 'circular').
        order: mmcv's layer order; only ('conv', 'norm', 'act') is supported.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int = 1, padding: int | tuple[int, int] = 0, dilation: int = 1,
                 groups: int = 1, bias: bool | str = 'auto', conv_cfg: dict | None = None,
                 norm_cfg: dict | None = None, act_cfg: dict | None = dict(type='ReLU'),
                 inplace: bool = True, with_spectral_norm: bool = False,
                 padding_mode: str = 'zeros', order: tuple[str, ...] = ('conv', 'norm', 'act')
                 ) -> None:
        super().__init__()
        if conv_cfg is not None and conv_cfg.get('type', 'Conv2d') not in ('Conv2d', 'Conv'):
            raise ValueError(f"ConvModule supports conv_cfg type 'Conv2d' only, got {conv_cfg}")
        if tuple(order) != ('conv', 'norm', 'act'):
            raise ValueError("ConvModule supports order=('conv', 'norm', 'act') only, got "
                             f'{order!r}')
        if padding_mode not in ('zeros', 'reflect', 'replicate', 'circular'):
            raise ValueError(f"ConvModule: padding_mode must be 'zeros', 'reflect', 'replicate' "
                             f"or 'circular', got {padding_mode!r}")
        if bias == 'auto':
            bias = norm_cfg is None
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=padding, dilation=dilation, groups=groups, bias=bias,
                              padding_mode=padding_mode)
        # mmcv's public attributes, which code written against mmcv's ConvModule reads
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        self.inplace = inplace
        self.with_spectral_norm = with_spectral_norm
        self.with_explicit_padding = padding_mode != 'zeros'
        self.order = tuple(order)
        self.with_norm = norm_cfg is not None
        self.with_activation = act_cfg is not None
        self.with_bias = bool(bias)
        self.in_channels, self.out_channels = self.conv.in_channels, self.conv.out_channels
        self.kernel_size, self.stride = self.conv.kernel_size, self.conv.stride
        self.padding, self.dilation = padding, self.conv.dilation
        self.transposed, self.output_padding = self.conv.transposed, self.conv.output_padding
        self.groups = self.conv.groups
        if with_spectral_norm:
            self.conv = nn.utils.spectral_norm(self.conv)
        self.norm_name: str | None = None
        if norm_cfg is not None:
            self.norm_name, norm = build_norm_layer(norm_cfg, out_channels)
            self.add_module(self.norm_name, norm)
        self.activate: nn.Module | None = None
        if act_cfg is not None:
            act_cfg = dict(act_cfg)
            if act_cfg['type'] in ('ReLU', 'ReLU6', 'LeakyReLU', 'SiLU', 'HSwish'):
                # a ReLU after a norm reads the norm's fresh output, which nothing else holds
                # and no norm's backward reads: in place whatever `inplace` says (one 33 MB
                # pass fewer per 512x128x128 map of R-50 UPerNet's head)
                after_norm = norm_cfg is not None and act_cfg['type'] == 'ReLU'
                act_cfg.setdefault('inplace', inplace or after_norm)
            self.activate = build_activation_layer(act_cfg)

    @property
    def norm(self) -> nn.Module | None:
        return getattr(self, self.norm_name) if self.norm_name else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activate is None or type(self.activate) is nn.ReLU:
            # conv -> BN -> ReLU as one folded convolution at eval time (folded_conv.py)
            return conv_norm_relu(x, self.conv, self.norm, self.activate)
        return self.norm_act(self.conv(x))

    def norm_act(self, x: torch.Tensor) -> torch.Tensor:
        """What follows the convolution: norm, then activation (for callers that compute
        the convolution another way, e.g. UPerHead's low-resolution fusion)."""
        if self.norm_name is not None:
            x = getattr(self, self.norm_name)(x)
        if self.activate is not None:
            x = self.activate(x)
        return x
