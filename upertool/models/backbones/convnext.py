"""ConvNeXt (v1, and v2 with GRN) backbone with mmpretrain 1.x's arguments and state-dict keys.

Keys: stem `downsample_layers.0.{0 conv, 1 norm}`, later `downsample_layers.i.{0 norm, 1 conv}`,
blocks `stages.i.j.{depthwise_conv,norm,pointwise_conv1,pointwise_conv2,gamma[,grn.gamma,
grn.beta]}`, output norms `norm{i}`; mmsegmentation's UPerNet-ConvNeXt configs use this class.
References: Liu et al., A ConvNet for the 2020s (https://arxiv.org/abs/2201.03545); Woo et al.,
ConvNeXt V2 (https://arxiv.org/abs/2301.00808).
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from itertools import chain

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule
from torch import nn

from upertool.models.utils import build_activation_layer
from upertool.models.utils.pointwise_linear import PointwiseLinear
from upertool.registry import MODELS

from . import convnext_weights
from .transformer_utils import DropPath, check_out_indices, check_positive_int, check_rate


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of (B, C, H, W) maps (mmpretrain's 'LN2d').

    `forward(x, data_format='channel_first')` normalises (B, C, H, W); 'channel_last' takes
    (B, H, W, C). Either way each pixel's C values get mean 0 / variance 1, then weight/bias.
    """

    def __init__(self, num_channels: int, eps: float = 1e-5,
                 elementwise_affine: bool = True) -> None:
        super().__init__(num_channels, eps=eps, elementwise_affine=elementwise_affine)
        self.num_channels = num_channels

    def forward(self, x: torch.Tensor, data_format: str = 'channel_first') -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f'LayerNorm2d expects a 4-d tensor, got shape {tuple(x.shape)}')
        if data_format == 'channel_last':
            return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        if data_format != 'channel_first':
            raise ValueError(f"data_format must be 'channel_first' or 'channel_last', "
                             f'got {data_format!r}')
        out = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight,
                           self.bias, self.eps).permute(0, 3, 1, 2)
        # the result keeps the input's memory layout: for a channels-last input the permuted
        # view already is one (a copy to NCHW here cost ConvNeXt-T ~10 ms per 512 px image)
        if x.is_contiguous(memory_format=torch.channels_last):
            return out
        return out.contiguous()


class GRN(nn.Module):
    """Global Response Normalization (ConvNeXt V2): x + gamma * (x * Nx) + beta, where Nx is
    each channel's spatial L2 norm divided by its mean over channels."""

    def __init__(self, in_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.in_channels, self.eps = in_channels, eps
        self.gamma = nn.Parameter(torch.zeros(in_channels))
        self.beta = nn.Parameter(torch.zeros(in_channels))

    def forward(self, x: torch.Tensor, data_format: str = 'channel_first') -> torch.Tensor:
        if data_format == 'channel_last':  # (B, H, W, C)
            gx = torch.linalg.vector_norm(x, dim=(1, 2), keepdim=True)
            nx = gx / (gx.mean(dim=-1, keepdim=True) + self.eps)
            return self.gamma * (x * nx) + self.beta + x
        gx = torch.linalg.vector_norm(x, dim=(2, 3), keepdim=True)
        nx = gx / (gx.mean(dim=1, keepdim=True) + self.eps)
        return self.gamma.view(1, -1, 1, 1) * (x * nx) + self.beta.view(1, -1, 1, 1) + x


def build_ln2d(norm_cfg: dict, num_channels: int) -> LayerNorm2d:
    """A LayerNorm2d from mmpretrain's `dict(type='LN2d', eps=..., requires_grad=...)`."""
    if not isinstance(norm_cfg, dict) or norm_cfg.get('type') != 'LN2d':
        raise ValueError("ConvNeXt normalises channels of NCHW maps: norm_cfg must be "
                         f"dict(type='LN2d', eps=...), got {norm_cfg!r}")
    args = {k: v for k, v in norm_cfg.items() if k not in ('type', 'requires_grad')}
    unknown = set(args) - {'eps', 'elementwise_affine'}
    if unknown:
        raise ValueError(f'norm_cfg has unknown keys {sorted(unknown)} for LN2d')
    layer = LayerNorm2d(num_channels, **args)
    for param in layer.parameters():
        param.requires_grad = norm_cfg.get('requires_grad', True)
    return layer


class ConvNeXtBlock(nn.Module):
    """7x7 depthwise conv -> LN -> pointwise expand (x4) -> act [-> GRN] -> pointwise back
    [-> layer scale `gamma`] -> drop path -> residual.

    Pointwise convs are nn.Linear on channel-last tokens (linear_pw_conv) or 1x1 convs.
    Shapes: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, in_channels: int, norm_cfg: dict, act_cfg: dict, mlp_ratio: float = 4.0,
                 linear_pw_conv: bool = True, drop_path_rate: float = 0.0,
                 layer_scale_init_value: float = 1e-6, use_grn: bool = False,
                 with_cp: bool = False) -> None:
        super().__init__()
        self.with_cp = with_cp
        self.linear_pw_conv = linear_pw_conv
        self.depthwise_conv = nn.Conv2d(in_channels, in_channels, 7, padding=3,
                                        groups=in_channels)
        self.norm = build_ln2d(norm_cfg, in_channels)
        mid = int(mlp_ratio * in_channels)
        if linear_pw_conv:
            self.pointwise_conv1 = PointwiseLinear(in_channels, mid)
        else:
            self.pointwise_conv1 = nn.Conv2d(in_channels, mid, 1)
        self.act = build_activation_layer(act_cfg)
        if linear_pw_conv:
            self.pointwise_conv2 = PointwiseLinear(mid, in_channels)
        else:
            self.pointwise_conv2 = nn.Conv2d(mid, in_channels, 1)
        self.grn = GRN(mid) if use_grn else None
        self.gamma = (nn.Parameter(layer_scale_init_value * torch.ones(in_channels))
                      if layer_scale_init_value > 0 else None)
        self.drop_path = DropPath(drop_path_rate)

    def _inner(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.depthwise_conv(x)
        fmt = 'channel_last' if self.linear_pw_conv else 'channel_first'
        if self.linear_pw_conv:
            x = x.permute(0, 2, 3, 1)
        x = self.act(self.pointwise_conv1(self.norm(x, data_format=fmt)))
        if self.grn is not None:
            x = self.grn(x, data_format=fmt)
        x = self.pointwise_conv2(x)
        if self.linear_pw_conv:
            x = x.permute(0, 3, 1, 2)
        if self.gamma is not None:
            x = x * self.gamma.view(1, -1, 1, 1)
        return shortcut + self.drop_path(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner, x, use_reentrant=False)
        return self._inner(x)


@MODELS.register_module()
class ConvNeXt(BaseModule):
    """ConvNeXt backbone, as mmpretrain's (same arguments, defaults and keys).

    Args:
        arch: 'atto' ... 'xlarge', 'huge', or dict(depths=[...], channels=[...]).
        in_channels: Channels of the input image.
        stem_patch_size: Kernel and stride of the stem conv.
        norm_cfg: dict(type='LN2d', eps=...); the only norm the blocks can use.
        act_cfg: Activation between the pointwise convs.
        linear_pw_conv: Pointwise convs as nn.Linear on channel-last tokens (official layout)
            rather than 1x1 convs (keys' shapes differ: (out, in) vs (out, in, 1, 1)).
        use_grn: Global Response Normalization in each block (ConvNeXt V2; then usually
            layer_scale_init_value=0).
        drop_path_rate: Stochastic depth, rising linearly from 0 over all blocks.
        layer_scale_init_value: Initial layer scale `gamma`; 0 disables it (no `gamma` key).
        out_indices: Stages to return (negative counts from the end), in stage order.
        frozen_stages: k > 0 freezes the first k downsample layers and stages.
        gap_before_final_norm: mmpretrain's default True pools each returned level to a
            (B, C) vector before its norm (classification); segmentation configs set False to
            get (B, C, H, W) maps with a `norm{i}` LayerNorm2d each.
        with_cp: Activation checkpointing in every block.
        init_cfg: mmpretrain's default: truncated-normal (std .02) Conv2d/Linear, unit LayerNorm.

    Attributes:
        out_channels: Channels of each returned level.
        strides: Output stride of each returned level (feature size = floor(input / stride),
            as the stem and downsampling convs do not pad); None for pooled levels
            (gap_before_final_norm=True).

    Shapes:
        (B, in_channels, H, W) -> tuple of (B, out_channels[k], H // strides[k],
        W // strides[k]), or of (B, out_channels[k]) with gap_before_final_norm.
    """

    # Key tables of this model in timm/torchvision/mmpretrain/HF checkpoints (upertool.convert).
    WEIGHT_TABLES = convnext_weights
    arch_settings: dict[str, dict[str, list[int]]] = {
        'atto': dict(depths=[2, 2, 6, 2], channels=[40, 80, 160, 320]),
        'femto': dict(depths=[2, 2, 6, 2], channels=[48, 96, 192, 384]),
        'pico': dict(depths=[2, 2, 6, 2], channels=[64, 128, 256, 512]),
        'nano': dict(depths=[2, 2, 8, 2], channels=[80, 160, 320, 640]),
        'tiny': dict(depths=[3, 3, 9, 3], channels=[96, 192, 384, 768]),
        'small': dict(depths=[3, 3, 27, 3], channels=[96, 192, 384, 768]),
        'base': dict(depths=[3, 3, 27, 3], channels=[128, 256, 512, 1024]),
        'large': dict(depths=[3, 3, 27, 3], channels=[192, 384, 768, 1536]),
        'xlarge': dict(depths=[3, 3, 27, 3], channels=[256, 512, 1024, 2048]),
        'huge': dict(depths=[3, 3, 27, 3], channels=[352, 704, 1408, 2816]),
    }

    def __init__(self, arch: str | dict = 'tiny', *, in_channels: int = 3,
                 stem_patch_size: int = 4, norm_cfg: dict = dict(type='LN2d', eps=1e-6),
                 act_cfg: dict = dict(type='GELU'), linear_pw_conv: bool = True,
                 use_grn: bool = False, drop_path_rate: float = 0.0,
                 layer_scale_init_value: float = 1e-6, out_indices: int | Sequence[int] = -1,
                 frozen_stages: int = 0, gap_before_final_norm: bool = True,
                 with_cp: bool = False,
                 init_cfg: dict | list | None = [
                     dict(type='TruncNormal', layer=['Conv2d', 'Linear'], std=.02, bias=0.),
                     dict(type='Constant', layer=['LayerNorm'], val=1., bias=0.)]) -> None:
        super().__init__(init_cfg=init_cfg)
        self.depths, self.channels = self._check_arch(arch)
        self.num_stages = len(self.depths)
        check_positive_int('in_channels', in_channels)
        check_positive_int('stem_patch_size', stem_patch_size)
        drop_path_rate = check_rate('drop_path_rate', drop_path_rate)
        if not isinstance(layer_scale_init_value, (int, float)) or layer_scale_init_value < 0:
            raise ValueError(f'layer_scale_init_value must be a number >= 0, '
                             f'got {layer_scale_init_value!r}')
        self.out_indices = check_out_indices(out_indices, self.num_stages, 'stage')
        if (isinstance(frozen_stages, bool) or not isinstance(frozen_stages, int)
                or not 0 <= frozen_stages <= self.num_stages):
            raise ValueError(f'frozen_stages must be an int in 0..{self.num_stages} '
                             f'(0 freezes nothing), got {frozen_stages!r}')
        build_ln2d(norm_cfg, 1)  # fail early, naming norm_cfg
        self.in_channels = in_channels
        self.frozen_stages = frozen_stages
        self.gap_before_final_norm = gap_before_final_norm
        if gap_before_final_norm:
            warnings.warn('ConvNeXt(gap_before_final_norm=True) returns pooled (B, C) vectors '
                          "(mmpretrain's classification default); a segmentation backbone needs "
                          'gap_before_final_norm=False, as mmsegmentation configs set',
                          UserWarning, stacklevel=2)

        dpr = torch.linspace(0, drop_path_rate, sum(self.depths), device='cpu').tolist()
        self.downsample_layers = nn.ModuleList([nn.Sequential(
            nn.Conv2d(in_channels, self.channels[0], stem_patch_size, stride=stem_patch_size),
            build_ln2d(norm_cfg, self.channels[0]))])
        self.stages = nn.ModuleList()
        block = 0
        for i, (depth, channels) in enumerate(zip(self.depths, self.channels, strict=True)):
            if i > 0:
                self.downsample_layers.append(nn.Sequential(
                    build_ln2d(norm_cfg, self.channels[i - 1]),
                    nn.Conv2d(self.channels[i - 1], channels, 2, stride=2)))
            self.stages.append(nn.Sequential(*[ConvNeXtBlock(
                channels, norm_cfg, act_cfg, linear_pw_conv=linear_pw_conv,
                drop_path_rate=dpr[block + j], layer_scale_init_value=layer_scale_init_value,
                use_grn=use_grn, with_cp=with_cp) for j in range(depth)]))
            block += depth
            if i in self.out_indices:
                self.add_module(f'norm{i}', build_ln2d(norm_cfg, channels))

        self.out_channels = tuple(self.channels[i] for i in self.out_indices)
        self._min_size = stem_patch_size * 2**(self.num_stages - 1)
        self.strides = tuple(None if gap_before_final_norm else stem_patch_size * 2**i
                             for i in self.out_indices)
        self._freeze_stages()

    @classmethod
    def _check_arch(cls, arch: str | dict) -> tuple[tuple[int, ...], tuple[int, ...]]:
        if isinstance(arch, str):
            if arch not in cls.arch_settings:
                raise ValueError(f'arch must be one of {list(cls.arch_settings)} or a dict with '
                                 f'depths and channels, got {arch!r}')
            arch = cls.arch_settings[arch]
        if not isinstance(arch, dict) or not {'depths', 'channels'} <= set(arch):
            raise ValueError(f'an arch dict needs keys "depths" and "channels", got {arch!r}')
        depths, channels = arch['depths'], arch['channels']
        for name, seq in (('depths', depths), ('channels', channels)):
            if (not isinstance(seq, Sequence) or isinstance(seq, str) or not seq
                    or not all(isinstance(v, int) and v >= 1 for v in seq)):
                raise ValueError(f'arch {name} must be a non-empty sequence of positive ints, '
                                 f'got {seq!r}')
        if len(depths) != len(channels):
            raise ValueError(f'arch depths {list(depths)} and channels {list(channels)} need '
                             'the same length (one entry per stage)')
        return tuple(depths), tuple(channels)

    def _freeze_stages(self) -> None:
        for i in range(self.frozen_stages):
            for module in (self.downsample_layers[i], self.stages[i]):
                module.eval()
            for param in chain(self.downsample_layers[i].parameters(),
                               self.stages[i].parameters()):
                param.requires_grad = False

    def train(self, mode: bool = True) -> ConvNeXt:
        """Switch mode, keeping frozen stages in eval."""
        super().train(mode)
        self._freeze_stages()
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Args: x (B, in_channels, H, W). Returns the out_indices stages' outputs."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'ConvNeXt expects input (B, {self.in_channels}, H, W), '
                             f'got {tuple(x.shape)}')
        if min(x.shape[-2:]) < self._min_size:
            raise ValueError(f'ConvNeXt needs inputs of at least {self._min_size} px per side '
                             f'(stride of the last stage; its convs do not pad), '
                             f'got {tuple(x.shape[-2:])}')
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(self.downsample_layers[i](x))
            if i in self.out_indices:
                norm = getattr(self, f'norm{i}')
                if self.gap_before_final_norm:
                    outs.append(norm(x.mean((-2, -1), keepdim=True)).flatten(1))
                else:
                    outs.append(norm(x))
        return tuple(outs)

    # Layer groups for layer-wise learning-rate decay (LearningRateDecayOptimizerConstructor
    # reads these; mmsegmentation's ConvNeXt rules, layer_decay_optimizer_constructor.py).
    DECAY_TYPES = ('layer_wise', 'stage_wise')

    def decay_layer_id(self, name: str, num_layers: int, decay_type: str) -> int:
        """Layer id (0 = input side .. num_layers + 1 = after the backbone) of a parameter.

        Args:
            name: parameter name within this backbone, e.g. 'stages.2.7.gamma'.
            num_layers: `paramwise_cfg.num_layers` (6 for tiny, 12 for larger, as mmseg).
            decay_type: one of `DECAY_TYPES`.
        """
        parts = name.split('.')
        if decay_type == 'stage_wise':
            if parts[0] == 'downsample_layers':
                return 0
            return int(parts[1]) + 1 if parts[0] == 'stages' else num_layers + 1
        if parts[0] == 'downsample_layers':
            return {0: 0, 1: 2, 2: 3}.get(int(parts[1]), num_layers)
        if parts[0] == 'stages':
            stage, block = int(parts[1]), int(parts[2])
            return {0: 1, 1: 2, 2: 3 + block // 3}.get(stage, num_layers)
        return num_layers + 1
