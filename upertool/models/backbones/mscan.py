"""MSCAN (SegNeXt's multi-scale convolutional attention encoder, Guo et al. 2022) with
mmsegmentation 1.x's arguments and state-dict keys.

Keys: `patch_embed1.proj.{0,1,3,4}` (the stem: conv, norm, act, conv, norm),
`patch_embed{i}.proj` / `.norm` (i > 1), `block{i}.{j}` (`norm1`, `attn.proj_1`,
`attn.spatial_gating_unit.conv0`, `.conv{k}_1` / `.conv{k}_2`, `.conv3`, `attn.proj_2`, `norm2`,
`mlp.fc1` / `.dwconv` / `.fc2`, `layer_scale_1` / `_2`), `norm{i}` (LayerNorm).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from mmengine.model import BaseModule
from torch import nn

from upertool.models.utils import build_activation_layer, build_norm_layer
from upertool.models.utils.arg_checks import resolve_pretrained
from upertool.registry import MODELS

from .mit import segformer_init
from .transformer_utils import DropPath, check_positive_int, check_rate

KERNELS = (5, (1, 7), (1, 11), (1, 21))
PADDINGS = (2, (0, 3), (0, 5), (0, 10))


class Mlp(BaseModule):
    """1x1 conv -> depthwise 3x3 -> act -> drop -> 1x1 conv -> drop, on (B, C, H, W) maps."""

    def __init__(self, in_features: int, hidden_features: int | None = None,
                 out_features: int | None = None, act_cfg: dict = dict(type='GELU'),
                 drop: float = 0.0) -> None:
        super().__init__()
        out_features = out_features or in_features
        hidden_features = hidden_features or in_features
        self.fc1 = nn.Conv2d(in_features, hidden_features, 1)
        self.dwconv = nn.Conv2d(hidden_features, hidden_features, 3, 1, 1, groups=hidden_features)
        self.act = build_activation_layer(act_cfg)
        self.fc2 = nn.Conv2d(hidden_features, out_features, 1)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.act(self.dwconv(self.fc1(x))))
        return self.drop(self.fc2(x))


class StemConv(BaseModule):
    """Two stride-2 3x3 convs (norm after each, act between): stride 4. Returns tokens."""

    def __init__(self, in_channels: int, out_channels: int, act_cfg: dict = dict(type='GELU'),
                 norm_cfg: dict = dict(type='SyncBN', requires_grad=True)) -> None:
        super().__init__()
        half = out_channels // 2
        self.proj = nn.Sequential(
            nn.Conv2d(in_channels, half, 3, stride=2, padding=1),
            build_norm_layer(norm_cfg, half)[1], build_activation_layer(act_cfg),
            nn.Conv2d(half, out_channels, 3, stride=2, padding=1),
            build_norm_layer(norm_cfg, out_channels)[1])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        x = self.proj(x)
        _, _, h, w = x.shape
        return x.flatten(2).transpose(1, 2), h, w


class MSCAAttention(BaseModule):
    """Depthwise 5x5, then three depthwise strip-conv pairs (1xk, kx1) summed with it, a 1x1
    conv, used as a multiplicative gate on the input."""

    def __init__(self, channels: int, kernel_sizes: Sequence = KERNELS,
                 paddings: Sequence = PADDINGS) -> None:
        super().__init__()
        if len(kernel_sizes) != 4 or len(paddings) != 4:
            raise ValueError('MSCAAttention: attention_kernel_sizes and _paddings need 4 entries '
                             f'(a square kernel and three strips), got {kernel_sizes!r}, '
                             f'{paddings!r}')
        self.conv0 = nn.Conv2d(channels, channels, kernel_sizes[0], padding=paddings[0],
                               groups=channels)
        for i, (kernel, pad) in enumerate(zip(kernel_sizes[1:], paddings[1:], strict=True)):
            for suffix, k, p in (('1', kernel, pad), ('2', kernel[::-1], pad[::-1])):
                self.add_module(f'conv{i}_{suffix}', nn.Conv2d(
                    channels, channels, tuple(k), padding=tuple(p), groups=channels))
        self.conv3 = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attn = self.conv0(x)
        strips = [getattr(self, f'conv{i}_2')(getattr(self, f'conv{i}_1')(attn))
                  for i in range(3)]
        attn = self.conv3(attn + strips[0] + strips[1] + strips[2])
        return attn * x


class MSCASpatialAttention(BaseModule):
    """1x1 conv -> act -> MSCA gate -> 1x1 conv, plus the input."""

    def __init__(self, in_channels: int, attention_kernel_sizes: Sequence = KERNELS,
                 attention_kernel_paddings: Sequence = PADDINGS,
                 act_cfg: dict = dict(type='GELU')) -> None:
        super().__init__()
        self.proj_1 = nn.Conv2d(in_channels, in_channels, 1)
        self.activation = build_activation_layer(act_cfg)
        self.spatial_gating_unit = MSCAAttention(in_channels, attention_kernel_sizes,
                                                 attention_kernel_paddings)
        self.proj_2 = nn.Conv2d(in_channels, in_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj_2(self.spatial_gating_unit(self.activation(self.proj_1(x)))) + x


class MSCABlock(BaseModule):
    """norm1 -> spatial attention and norm2 -> Mlp, each scaled by a layer scale (0.01 at init)
    and added through drop path. Shapes: (B, H*W, C) tokens -> the same."""

    def __init__(self, channels: int, attention_kernel_sizes: Sequence = KERNELS,
                 attention_kernel_paddings: Sequence = PADDINGS, mlp_ratio: float = 4.0,
                 drop: float = 0.0, drop_path: float = 0.0, act_cfg: dict = dict(type='GELU'),
                 norm_cfg: dict = dict(type='SyncBN', requires_grad=True)) -> None:
        super().__init__()
        self.norm1 = build_norm_layer(norm_cfg, channels)[1]
        self.attn = MSCASpatialAttention(channels, attention_kernel_sizes,
                                         attention_kernel_paddings, act_cfg)
        self.drop_path = DropPath(drop_path)
        self.norm2 = build_norm_layer(norm_cfg, channels)[1]
        self.mlp = Mlp(channels, int(channels * mlp_ratio), act_cfg=act_cfg, drop=drop)
        self.layer_scale_1 = nn.Parameter(0.01 * torch.ones(channels))
        self.layer_scale_2 = nn.Parameter(0.01 * torch.ones(channels))

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, c = x.shape
        x = x.permute(0, 2, 1).view(b, c, h, w)
        x = x + self.drop_path(self.layer_scale_1[:, None, None] * self.attn(self.norm1(x)))
        x = x + self.drop_path(self.layer_scale_2[:, None, None] * self.mlp(self.norm2(x)))
        return x.view(b, c, n).permute(0, 2, 1)


class OverlapPatchEmbed(BaseModule):
    """Strided conv `proj` (padding kernel // 2) and a norm on the map. Returns tokens."""

    def __init__(self, patch_size: int = 7, stride: int = 4, in_channels: int = 3,
                 embed_dim: int = 768,
                 norm_cfg: dict = dict(type='SyncBN', requires_grad=True)) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dim, patch_size, stride=stride,
                              padding=patch_size // 2)
        self.norm = build_norm_layer(norm_cfg, embed_dim)[1]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        x = self.proj(x)
        _, _, h, w = x.shape
        return self.norm(x).flatten(2).transpose(1, 2), h, w


@MODELS.register_module()
class MSCAN(BaseModule):
    """SegNeXt's encoder: a stride-4 stem, then stride-2 patch embeddings, MSCA blocks and a
    LayerNorm per stage; every stage's map is returned (strides 4, 8, 16, 32).

    Args:
        embed_dims / mlp_ratios / depths: per stage.
        attention_kernel_sizes / attention_kernel_paddings: the MSCA kernels (5, 1x7, 1x11,
            1x21 by default) and their paddings.
        drop_path_rate: stochastic depth, rising linearly over all blocks.
        norm_cfg: norm of the stem, patch embeddings and blocks (BN / SyncBN).
        pretrained: deprecated path of weights; use init_cfg=dict(type='Pretrained', ...).

    Attributes:
        out_channels / strides: channels and stride of each returned map.

    Shapes: (B, in_channels, H, W) -> num_stages maps (B, embed_dims[i], H / 2^(i+2), ...).
    """

    def __init__(self, in_channels: int = 3, embed_dims: Sequence[int] = (64, 128, 256, 512),
                 mlp_ratios: Sequence[float] = (4, 4, 4, 4), drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, depths: Sequence[int] = (3, 4, 6, 3),
                 num_stages: int = 4, attention_kernel_sizes: Sequence = KERNELS,
                 attention_kernel_paddings: Sequence = PADDINGS,
                 act_cfg: dict = dict(type='GELU'),
                 norm_cfg: dict = dict(type='SyncBN', requires_grad=True),
                 pretrained: str | None = None, init_cfg: dict | list | None = None) -> None:
        super().__init__(init_cfg=resolve_pretrained('MSCAN', pretrained, init_cfg))
        check_positive_int('num_stages', num_stages)
        for name, values in (('embed_dims', embed_dims), ('mlp_ratios', mlp_ratios),
                             ('depths', depths)):
            if len(values) < num_stages:
                raise ValueError(f'MSCAN: {name} needs an entry per stage ({num_stages}), got '
                                 f'{values!r}')
        check_rate('drop_rate', drop_rate)
        check_rate('drop_path_rate', drop_path_rate)
        self.depths, self.num_stages = depths, num_stages
        dpr = torch.linspace(0, drop_path_rate, sum(depths[:num_stages])).tolist()
        cur = 0
        for i in range(num_stages):
            if i == 0:
                patch_embed = StemConv(in_channels, embed_dims[0], norm_cfg=norm_cfg)
            else:
                patch_embed = OverlapPatchEmbed(3, 2, embed_dims[i - 1], embed_dims[i],
                                                norm_cfg=norm_cfg)
            blocks = nn.ModuleList(MSCABlock(
                embed_dims[i], attention_kernel_sizes, attention_kernel_paddings,
                mlp_ratio=mlp_ratios[i], drop=drop_rate, drop_path=dpr[cur + j],
                act_cfg=act_cfg, norm_cfg=norm_cfg) for j in range(depths[i]))
            cur += depths[i]
            setattr(self, f'patch_embed{i + 1}', patch_embed)
            setattr(self, f'block{i + 1}', blocks)
            setattr(self, f'norm{i + 1}', nn.LayerNorm(embed_dims[i]))
        self.out_channels = tuple(embed_dims[:num_stages])
        self.strides = tuple(4 * 2 ** i for i in range(num_stages))

    def init_weights(self) -> None:
        """mmseg's initialisation without init_cfg; with it (Pretrained), mmengine's."""
        if self.init_cfg is not None:
            super().init_weights()
        else:
            segformer_init(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outs = []
        for i in range(1, self.num_stages + 1):
            x, h, w = getattr(self, f'patch_embed{i}')(x)
            for block in getattr(self, f'block{i}'):
                x = block(x, h, w)
            x = getattr(self, f'norm{i}')(x)
            x = x.reshape(x.shape[0], h, w, -1).permute(0, 3, 1, 2).contiguous()
            outs.append(x)
        return tuple(outs)
