"""MixVisionTransformer (MiT, SegFormer's encoder, Xie et al. 2021) with mmsegmentation 1.x's
arguments and state-dict keys.

Keys: `layers.{i}.0` (overlapping PatchEmbed: `projection`, `norm`), `layers.{i}.1.{j}` (blocks:
`norm1`, `attn.attn.in_proj_*` / `attn.attn.out_proj`, `attn.sr` + `attn.norm` for
sr_ratio > 1, `norm2`, `ffn.layers.{0,1,4}` = fc1, depthwise 3x3, fc2), `layers.{i}.2` (norm).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule, ModuleList
from mmengine.model.weight_init import constant_init, normal_init, trunc_normal_init
from torch import nn

from upertool.models.utils import PatchEmbed, build_activation_layer, build_norm_layer
from upertool.models.utils.arg_checks import check_out_indices, resolve_pretrained
from upertool.models.utils.shape_convert import nchw_to_nlc, nlc_to_nchw
from upertool.registry import MODELS

from .transformer_utils import DropPath, check_positive_int, check_rate


def segformer_init(model: nn.Module) -> None:
    """SegFormer's initialisation (MiT and MSCAN in mmseg): truncated-normal linears, unit
    LayerNorms, convs normal with std sqrt(2 / fan_out)."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            trunc_normal_init(m, std=0.02, bias=0.0)
        elif isinstance(m, nn.LayerNorm):
            constant_init(m, val=1.0, bias=0.0)
        elif isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            normal_init(m, mean=0, std=math.sqrt(2.0 / fan_out), bias=0)


class MixFFN(BaseModule):
    """1x1 conv -> depthwise 3x3 conv (position encoding) -> act -> 1x1 conv, on token maps.

    `layers` = [fc1, pe_conv, act, drop, fc2, drop], so the weights sit at 0, 1 and 4.
    Shapes: (B, h*w, C) tokens with hw_shape (h, w) -> (B, h*w, C), residual added.
    """

    def __init__(self, embed_dims: int, feedforward_channels: int,
                 act_cfg: dict = dict(type='GELU'), ffn_drop: float = 0.0,
                 drop_path_rate: float = 0.0) -> None:
        super().__init__()
        self.embed_dims = embed_dims
        self.feedforward_channels = feedforward_channels
        self.act_cfg = act_cfg
        drop = nn.Dropout(ffn_drop)
        self.layers = nn.Sequential(
            nn.Conv2d(embed_dims, feedforward_channels, 1),
            nn.Conv2d(feedforward_channels, feedforward_channels, 3, padding=1,
                      groups=feedforward_channels),
            build_activation_layer(act_cfg), drop,
            nn.Conv2d(feedforward_channels, embed_dims, 1), drop)
        self.dropout_layer = DropPath(drop_path_rate)

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int],
                identity: torch.Tensor | None = None) -> torch.Tensor:
        out = nchw_to_nlc(self.layers(nlc_to_nchw(x, hw_shape)))
        return (x if identity is None else identity) + self.dropout_layer(out)


class EfficientMultiheadAttention(BaseModule):
    """Multi-head attention whose keys/values come from a map reduced by `sr_ratio` (a strided
    conv `sr` + `norm`), as mmcv's MultiheadAttention wrapping `nn.MultiheadAttention` (`attn`).

    Shapes: (B, h*w, C) -> (B, h*w, C), residual added.
    """

    def __init__(self, embed_dims: int, num_heads: int, attn_drop: float = 0.0,
                 proj_drop: float = 0.0, drop_path_rate: float = 0.0, qkv_bias: bool = False,
                 norm_cfg: dict = dict(type='LN'), sr_ratio: int = 1) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'EfficientMultiheadAttention: embed_dims {embed_dims} is not '
                             f'divisible by num_heads {num_heads}')
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.attn = nn.MultiheadAttention(embed_dims, num_heads, dropout=attn_drop,
                                          bias=qkv_bias, batch_first=True)
        self.proj_drop = nn.Dropout(proj_drop)
        self.dropout_layer = DropPath(drop_path_rate)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            self.sr = nn.Conv2d(embed_dims, embed_dims, sr_ratio, stride=sr_ratio)
            self.norm = build_norm_layer(norm_cfg, embed_dims)[1]

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int],
                identity: torch.Tensor | None = None) -> torch.Tensor:
        x_kv = x
        if self.sr_ratio > 1:
            x_kv = self.norm(nchw_to_nlc(self.sr(nlc_to_nchw(x, hw_shape))))
        out = self.attn(query=x, key=x_kv, value=x_kv, need_weights=False)[0]
        return (x if identity is None else identity) + self.dropout_layer(self.proj_drop(out))


class TransformerEncoderLayer(BaseModule):
    """norm1 -> efficient attention (+ residual), norm2 -> MixFFN (+ residual)."""

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, qkv_bias: bool = True,
                 act_cfg: dict = dict(type='GELU'), norm_cfg: dict = dict(type='LN'),
                 sr_ratio: int = 1, with_cp: bool = False) -> None:
        super().__init__()
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = EfficientMultiheadAttention(
            embed_dims, num_heads, attn_drop=attn_drop_rate, proj_drop=drop_rate,
            drop_path_rate=drop_path_rate, qkv_bias=qkv_bias, norm_cfg=norm_cfg,
            sr_ratio=sr_ratio)
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = MixFFN(embed_dims, feedforward_channels, act_cfg=act_cfg, ffn_drop=drop_rate,
                          drop_path_rate=drop_path_rate)
        self.with_cp = with_cp

    def _inner_forward(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        x = self.attn(self.norm1(x), hw_shape, identity=x)
        return self.ffn(self.norm2(x), hw_shape, identity=x)

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, hw_shape, use_reentrant=False)
        return self._inner_forward(x, hw_shape)


@MODELS.register_module()
class MixVisionTransformer(BaseModule):
    """SegFormer's hierarchical encoder: four stages of overlapping patch embedding and
    efficient-attention blocks, giving maps at strides 4, 8, 16, 32 (with mmseg's defaults).

    Args:
        embed_dims: base width; stage i has embed_dims * num_heads[i] channels.
        num_layers / num_heads / patch_sizes / strides / sr_ratios: per stage.
        out_indices: stages whose maps are returned.
        mlp_ratio: MixFFN hidden width over the stage width.
        drop_path_rate: stochastic depth, rising linearly over all blocks.
        pretrained: deprecated path of weights; use init_cfg=dict(type='Pretrained', ...).
        with_cp: gradient checkpointing of the blocks.

    Attributes:
        out_channels / strides: channels and stride of each returned map (DESIGN.md contract).

    Shapes: (B, in_channels, H, W) -> tuple of (B, out_channels[k], H / strides[k], ...).
    """

    def __init__(self, in_channels: int = 3, embed_dims: int = 64, num_stages: int = 4,
                 num_layers: Sequence[int] = (3, 4, 6, 3), num_heads: Sequence[int] = (1, 2, 4, 8),
                 patch_sizes: Sequence[int] = (7, 3, 3, 3), strides: Sequence[int] = (4, 2, 2, 2),
                 sr_ratios: Sequence[int] = (8, 4, 2, 1),
                 out_indices: int | Sequence[int] = (0, 1, 2, 3), mlp_ratio: float = 4,
                 qkv_bias: bool = True, drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, act_cfg: dict = dict(type='GELU'),
                 norm_cfg: dict = dict(type='LN', eps=1e-6), pretrained: str | None = None,
                 init_cfg: dict | list | None = None, with_cp: bool = False) -> None:
        super().__init__(init_cfg=resolve_pretrained('MixVisionTransformer', pretrained,
                                                     init_cfg))
        check_positive_int('num_stages', num_stages)
        per_stage = dict(num_layers=num_layers, num_heads=num_heads, patch_sizes=patch_sizes,
                         strides=strides, sr_ratios=sr_ratios)
        for name, values in per_stage.items():
            if len(values) != num_stages or not all(isinstance(v, int) and v > 0 for v in values):
                raise ValueError(f'MixVisionTransformer: {name} must hold {num_stages} positive '
                                 f'ints (one per stage), got {values!r}')
        for name, rate in (('drop_rate', drop_rate), ('attn_drop_rate', attn_drop_rate),
                           ('drop_path_rate', drop_path_rate)):
            check_rate(name, rate)
        self.embed_dims, self.num_stages = embed_dims, num_stages
        self.num_layers, self.num_heads = num_layers, num_heads
        self.patch_sizes, self.sr_ratios = patch_sizes, sr_ratios
        self.with_cp = with_cp
        self.out_indices = check_out_indices(out_indices, num_stages, 'stage')
        dpr = torch.linspace(0, drop_path_rate, sum(num_layers)).tolist()
        self.layers = ModuleList()
        cur, stride, widths, reductions = 0, 1, [], []
        for i, depth in enumerate(num_layers):
            width = embed_dims * num_heads[i]
            patch_embed = PatchEmbed(in_channels, width, kernel_size=patch_sizes[i],
                                     stride=strides[i], padding=patch_sizes[i] // 2,
                                     norm_cfg=norm_cfg)
            blocks = ModuleList(TransformerEncoderLayer(
                width, num_heads[i], int(mlp_ratio * width), drop_rate=drop_rate,
                attn_drop_rate=attn_drop_rate, drop_path_rate=dpr[cur + j], qkv_bias=qkv_bias,
                act_cfg=act_cfg, norm_cfg=norm_cfg, sr_ratio=sr_ratios[i], with_cp=with_cp)
                for j in range(depth))
            self.layers.append(ModuleList([patch_embed, blocks,
                                           build_norm_layer(norm_cfg, width)[1]]))
            in_channels, cur, stride = width, cur + depth, stride * strides[i]
            widths.append(width)
            reductions.append(stride)
        self.out_channels = tuple(widths[i] for i in self.out_indices)
        self.strides = tuple(reductions[i] for i in self.out_indices)

    def init_weights(self) -> None:
        """mmseg's initialisation without init_cfg; with it (Pretrained), mmengine's."""
        if self.init_cfg is not None:
            super().init_weights()
        else:
            segformer_init(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outs = []
        for i, (patch_embed, blocks, norm) in enumerate(self.layers):
            x, hw_shape = patch_embed(x)
            for block in blocks:
                x = block(x, hw_shape)
            x = nlc_to_nchw(norm(x), hw_shape)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
