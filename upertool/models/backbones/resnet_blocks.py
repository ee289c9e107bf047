"""Residual blocks and stages of the ResNet family, with mmsegmentation 1.x's layout.

Attribute names (`conv1`, `bn1`, ..., `downsample.0/.1[/.2]`) are the state-dict keys of
mmsegmentation's ResNet checkpoints; keep them when editing.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule, Sequential
from torch import nn

from upertool.models.utils import build_norm_layer
from upertool.models.utils.folded_conv import conv_norm_relu

_CONV_TYPES = ('Conv2d', 'Conv')


def check_conv_cfg(conv_cfg: dict | None) -> None:
    """Accept only the plain convolution; mmseg configs spell it None or dict(type='Conv2d')."""
    if conv_cfg is None:
        return
    if not isinstance(conv_cfg, dict) or conv_cfg.get('type', 'Conv2d') not in _CONV_TYPES:
        raise ValueError(
            f"conv_cfg must be None or dict(type='Conv2d'); got {conv_cfg!r} "
            '(upertool has no other convolution types for ResNet)')


def conv2d(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
           padding: int = 0, dilation: int = 1) -> nn.Conv2d:
    """A bias-free conv: every ResNet conv is followed by a norm that has its own bias."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                     dilation=dilation, bias=False)


def run_downsample(downsample: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A block's projection shortcut; its closing conv + norm run folded at eval time."""
    if not isinstance(downsample, nn.Sequential) or len(downsample) < 2 \
            or not isinstance(downsample[-2], nn.Conv2d):
        return downsample(x)
    for layer in downsample[:-2]:  # ResNetV1d's AvgPool
        x = layer(x)
    return conv_norm_relu(x, downsample[-2], downsample[-1], None)


class BasicBlock(BaseModule):
    """Two 3x3 convs with a residual connection (ResNet-18/34).

    As in mmsegmentation, only `conv1` carries the stride and dilation; `conv2` is a
    plain 3x3 conv. `style` is accepted for a uniform block signature and ignored.

    Shapes: (B, inplanes, H, W) -> (B, planes, ceil(H / stride), ceil(W / stride)).
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None, style: str = 'pytorch',
                 with_cp: bool = False, conv_cfg: dict | None = None,
                 norm_cfg: dict = dict(type='BN'), init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg)
        check_conv_cfg(conv_cfg)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
        self.conv1 = conv2d(inplanes, planes, 3, stride=stride, padding=dilation,
                            dilation=dilation)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = conv2d(planes, planes, 3, padding=1)
        self.add_module(self.norm2_name, norm2)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride
        self.dilation = dilation
        self.with_cp = with_cp

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        # each conv -> norm (-> + identity) -> relu is one folded convolution at eval time
        identity = x if self.downsample is None else run_downsample(self.downsample, x)
        out = conv_norm_relu(x, self.conv1, self.norm1, self.relu)
        return conv_norm_relu(out, self.conv2, self.norm2, self.relu, residual=identity)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)


class Bottleneck(BaseModule):
    """1x1 -> 3x3 -> 1x1 convs with a residual connection (ResNet-50/101/152).

    `style='pytorch'` puts the stride on the 3x3 conv (`conv2`); `'caffe'` puts it on the
    first 1x1 conv (`conv1`).

    Shapes: (B, inplanes, H, W) -> (B, 4 * planes, ceil(H / stride), ceil(W / stride)).
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None, style: str = 'pytorch',
                 with_cp: bool = False, conv_cfg: dict | None = None,
                 norm_cfg: dict = dict(type='BN'), init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg)
        if style not in ('pytorch', 'caffe'):
            raise ValueError(f"style must be 'pytorch' or 'caffe', got {style!r}")
        check_conv_cfg(conv_cfg)
        self.inplanes = inplanes
        self.planes = planes
        self.stride = stride
        self.dilation = dilation
        self.style = style
        self.with_cp = with_cp
        self.conv1_stride, self.conv2_stride = (1, stride) if style == 'pytorch' else (stride, 1)

        self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
        self.norm3_name, norm3 = build_norm_layer(norm_cfg, planes * self.expansion, postfix=3)
        self.conv1 = conv2d(inplanes, planes, 1, stride=self.conv1_stride)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = conv2d(planes, planes, 3, stride=self.conv2_stride, padding=dilation,
                            dilation=dilation)
        self.add_module(self.norm2_name, norm2)
        self.conv3 = conv2d(planes, planes * self.expansion, 1)
        self.add_module(self.norm3_name, norm3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    @property
    def norm3(self) -> nn.Module:
        return getattr(self, self.norm3_name)

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        # each conv -> norm (-> + identity) -> relu is one folded convolution at eval time
        identity = x if self.downsample is None else run_downsample(self.downsample, x)
        out = conv_norm_relu(x, self.conv1, self.norm1, self.relu)
        out = conv_norm_relu(out, self.conv2, self.norm2, self.relu)
        return conv_norm_relu(out, self.conv3, self.norm3, self.relu, residual=identity)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)


def make_res_layer(block: type[BasicBlock | Bottleneck], inplanes: int, planes: int,
                   num_blocks: int, stride: int = 1, dilation: int = 1,
                   avg_down: bool = False, conv_cfg: dict | None = None,
                   norm_cfg: dict = dict(type='BN'), multi_grid: Sequence[int] | None = None,
                   contract_dilation: bool = False, style: str = 'pytorch',
                   with_cp: bool = False, init_cfg: dict | None = None) -> Sequential:
    """One ResNet stage: `num_blocks` blocks, the first carrying the stride and projection.

    Dilations follow mmsegmentation: with `multi_grid`, block i uses `multi_grid[i]` as its
    dilation (the stage's `dilation` is not applied); otherwise every block uses `dilation`,
    except the first, which uses `dilation // 2` when `contract_dilation` and `dilation > 1`.

    The stage is an mmengine `Sequential` (a BaseModule) so that `init_weights()` reaches the
    blocks' own `init_cfg` (zero-init of the last norm).

    Shapes: (B, inplanes, H, W) -> (B, planes * block.expansion, ceil(H/stride), ceil(W/stride)).
    """
    out_channels = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != out_channels:
        layers: list[nn.Module] = []
        conv_stride = stride
        if avg_down:
            # mmsegmentation adds the pool even for stride 1 (then an identity), so the
            # projection conv sits at `downsample.1` in every ResNetV1d stage's checkpoint.
            conv_stride = 1
            layers.append(nn.AvgPool2d(kernel_size=stride, stride=stride, ceil_mode=True,
                                       count_include_pad=False))
        layers.append(conv2d(inplanes, out_channels, 1, stride=conv_stride))
        layers.append(build_norm_layer(norm_cfg, out_channels)[1])
        downsample = nn.Sequential(*layers)

    if multi_grid is not None:
        block_dilations = [int(d) for d in multi_grid]
    else:
        first = dilation // 2 if contract_dilation and dilation > 1 else dilation
        block_dilations = [first] + [dilation] * (num_blocks - 1)

    blocks = []
    for i in range(num_blocks):
        blocks.append(block(
            inplanes=inplanes if i == 0 else out_channels, planes=planes,
            stride=stride if i == 0 else 1, dilation=block_dilations[i],
            downsample=downsample if i == 0 else None, style=style, with_cp=with_cp,
            conv_cfg=conv_cfg, norm_cfg=norm_cfg, init_cfg=init_cfg))
    return Sequential(*blocks)
