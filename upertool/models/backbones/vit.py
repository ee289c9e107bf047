"""Plain Vision Transformer backbone with mmsegmentation 1.x's arguments and state-dict keys.

Keys: `cls_token`, `pos_embed`, `patch_embed.projection[.bias]`, `ln_pre` (pre_norm),
`layers.i.{ln1,attn.attn.{in_proj_weight,in_proj_bias,out_proj},ln2,ffn.layers.{0.0,1}}` and
`ln1` (final_norm). Every returned level has the patch stride; UPerNet gets its four scales
from `MultiLevelNeck`. Reference: Dosovitskiy et al. (https://arxiv.org/abs/2010.11929).
"""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from upertool.models.utils import build_norm_layer
from upertool.registry import MODELS

from .transformer_utils import (
    FFN,
    DropPath,
    PatchEmbed,
    check_out_indices,
    check_positive_int,
    check_positive_number,
    check_rate,
    check_token_norm,
    load_backbone_state_dict,
    load_into,
    resolve_pretrained,
    to_2tuple,
    tokens_to_nchw,
)

INTERPOLATE_MODES = ('bicubic', 'bilinear', 'nearest', 'nearest-exact', 'area')


class SelfAttention(nn.Module):
    """nn.MultiheadAttention under `attn` (mmcv's wrapper, hence `attn.attn.*` keys), then
    projection dropout, drop path and the residual. Shapes: (B, L, C) -> (B, L, C)."""

    def __init__(self, embed_dims: int, num_heads: int, attn_drop: float = 0.0,
                 proj_drop: float = 0.0, drop_path_rate: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(embed_dims, num_heads, dropout=attn_drop, bias=bias,
                                          batch_first=True)
        self.proj_drop = nn.Dropout(proj_drop)
        self.drop_path = DropPath(drop_path_rate)

    def forward(self, x: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        out = self.attn(x, x, x, need_weights=False)[0]
        return identity + self.drop_path(self.proj_drop(out))


class TransformerEncoderLayer(nn.Module):
    """Pre-norm encoder layer: x + attn(ln1(x)), then x + ffn(ln2(x))."""

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, num_fcs: int = 2, qkv_bias: bool = True,
                 act_cfg: dict | None = None, norm_cfg: dict | None = None,
                 with_cp: bool = False) -> None:
        super().__init__()
        norm_cfg = dict(type='LN') if norm_cfg is None else norm_cfg
        self.with_cp = with_cp
        self.ln1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = SelfAttention(embed_dims, num_heads, attn_drop_rate, drop_rate,
                                  drop_path_rate, qkv_bias)
        self.ln2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = FFN(embed_dims, feedforward_channels, num_fcs, act_cfg, drop_rate,
                       drop_path_rate)

    def _inner(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attn(self.ln1(x), identity=x)
        return self.ffn(self.ln2(x), identity=x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner, x, use_reentrant=False)
        return self._inner(x)


@MODELS.register_module()
class VisionTransformer(BaseModule):
    """ViT backbone, as mmsegmentation's (same arguments, defaults and keys).

    Args:
        img_size: Training image size; sets the position-embedding grid (img_size // patch).
        patch_size: Patch size and stride of the patch embedding.
        patch_pad: 'corner' (pad bottom/right to whole patches), 'same', or an int conv padding.
        in_channels: Channels of the input image.
        embed_dims: Token width.
        num_layers: Encoder layers.
        num_heads: Attention heads (must divide embed_dims).
        mlp_ratio: FFN hidden width / embed_dims.
        out_origin: Also return the embedded tokens before the first layer (first output).
        out_indices: Layer index or indices whose outputs are returned (-1: the last).
        qkv_bias: Bias in the attention's input and output projections.
        drop_rate: Dropout after the position embedding, attention projection and FFN.
        attn_drop_rate: Dropout on the attention weights.
        drop_path_rate: Stochastic depth, rising linearly from 0 over the layers.
        with_cls_token: Keep the class token in the token sequence.
        output_cls_token: Return [map, cls_token (B, C)] per level (needs with_cls_token).
        norm_cfg: Norm config; must be LayerNorm ('LN').
        act_cfg: FFN activation.
        patch_norm: LayerNorm after the patch embedding.
        patch_bias: Bias in the patch-embedding conv. mmseg 1.x's default is False; its
            older ViT checkpoints have one (loading them warns: set patch_bias=True).
        pre_norm: LayerNorm (`ln_pre`) before the first layer (CLIP-style).
        final_norm: LayerNorm (`ln1`) after the last layer.
        interpolate_mode: How the position embedding is resized to other token grids.
        num_fcs: Linear layers per FFN (>= 2).
        norm_eval: Keep norm layers in eval mode when training.
        with_cp: Activation checkpointing in every layer.
        frozen_exclude: Parameters whose names contain none of these substrings are frozen;
            ['all'] freezes nothing.
        pretrained: Deprecated checkpoint path; becomes init_cfg=dict(type='Pretrained', ...).
        init_cfg: None (mmseg's ViT init) or dict(type='Pretrained', checkpoint=...,
            prefix=None): loads as mmseg does, resizing pos_embed to img_size's grid.

    Attributes:
        out_channels: embed_dims for each returned level.
        strides: patch_size for each returned level.

    Shapes:
        (B, in_channels, H, W) -> tuple of (B, embed_dims, ceil(H / patch_size),
        ceil(W / patch_size)) (with the default 'corner' patch_pad).
    """

    def __init__(self, *, img_size: int | Sequence[int] = 224, patch_size: int = 16,
                 patch_pad: str | int = 'corner', in_channels: int = 3, embed_dims: int = 768,
                 num_layers: int = 12, num_heads: int = 12, mlp_ratio: int = 4,
                 out_origin: bool = False, out_indices: int | Sequence[int] = -1,
                 qkv_bias: bool = True, drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, with_cls_token: bool = True,
                 output_cls_token: bool = False, norm_cfg: dict = dict(type='LN'),
                 act_cfg: dict = dict(type='GELU'), patch_norm: bool = False,
                 patch_bias: bool = False, pre_norm: bool = False, final_norm: bool = False,
                 interpolate_mode: str = 'bicubic', num_fcs: int = 2, norm_eval: bool = False,
                 with_cp: bool = False, frozen_exclude: Sequence[str] = ('all',),
                 pretrained: str | None = None, init_cfg: dict | list | None = None) -> None:
        super().__init__(resolve_pretrained('VisionTransformer', pretrained, init_cfg))
        self.img_size = to_2tuple(img_size, 'img_size')
        for name, value in (('patch_size', patch_size), ('in_channels', in_channels),
                            ('embed_dims', embed_dims), ('num_layers', num_layers),
                            ('num_heads', num_heads)):
            check_positive_int(name, value)
        if embed_dims % num_heads:
            raise ValueError(f'num_heads={num_heads} must divide embed_dims={embed_dims}')
        check_positive_number('mlp_ratio', mlp_ratio)
        if output_cls_token and not with_cls_token:
            raise ValueError('output_cls_token=True needs with_cls_token=True')
        if interpolate_mode not in INTERPOLATE_MODES:
            raise ValueError(f'interpolate_mode must be one of {INTERPOLATE_MODES}, '
                             f'got {interpolate_mode!r}')
        check_token_norm('VisionTransformer', norm_cfg)
        if isinstance(frozen_exclude, str) or not isinstance(frozen_exclude, Sequence):
            raise ValueError(f"frozen_exclude must be a list of name substrings (['all'] "
                             f'freezes nothing), got {frozen_exclude!r}')
        rates = [check_rate(n, v) for n, v in (('drop_rate', drop_rate),
                                                ('attn_drop_rate', attn_drop_rate),
                                                ('drop_path_rate', drop_path_rate))]
        self.out_indices = check_out_indices(out_indices, num_layers, 'layer')
        self.patch_size = patch_size
        self.in_channels = in_channels
        self.interpolate_mode = interpolate_mode
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.out_origin = out_origin
        self.with_cls_token = with_cls_token
        self.output_cls_token = output_cls_token
        self.pre_norm = pre_norm
        self.final_norm = final_norm
        self.frozen_exclude = list(frozen_exclude)

        self.patch_embed = PatchEmbed(in_channels, embed_dims, kernel_size=patch_size,
                                      stride=patch_size, padding=patch_pad,
                                      bias=patch_bias, norm_cfg=norm_cfg if patch_norm else None)
        self.pos_grid = (self.img_size[0] // patch_size, self.img_size[1] // patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.pos_embed = nn.Parameter(
            torch.zeros(1, self.pos_grid[0] * self.pos_grid[1] + 1, embed_dims))
        self.drop_after_pos = nn.Dropout(rates[0])
        if pre_norm:
            self.ln_pre = build_norm_layer(norm_cfg, embed_dims)[1]
        dpr = torch.linspace(0, rates[2], num_layers, device='cpu').tolist()
        self.layers = nn.ModuleList(TransformerEncoderLayer(
            embed_dims, num_heads, int(mlp_ratio * embed_dims), rates[0], rates[1], dpr[i],
            num_fcs, qkv_bias, act_cfg, norm_cfg, with_cp) for i in range(num_layers))
        if final_norm:
            self.ln1 = build_norm_layer(norm_cfg, embed_dims)[1]

        num_outs = len(self.out_indices) + int(out_origin)
        self.out_channels = (embed_dims,) * num_outs
        self.strides = (patch_size,) * num_outs
        self._freeze()

    def _freeze(self) -> None:
        if 'all' in self.frozen_exclude:
            return
        for name, param in self.named_parameters():
            if not any(part in name for part in self.frozen_exclude):
                param.requires_grad = False

    def train(self, mode: bool = True) -> VisionTransformer:
        """Switch mode; with norm_eval, norm layers stay in eval."""
        super().train(mode)
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, (nn.LayerNorm, _BatchNorm, nn.GroupNorm)):
                    m.eval()
        return self

    def init_weights(self) -> None:
        """mmseg's ViT init (init_cfg None), mmseg-style pretrained loading, else mmengine's."""
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            self._load_pretrained(cfg['checkpoint'], cfg.get('prefix'))
        elif cfg is None:
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
            nn.init.trunc_normal_(self.cls_token, std=0.02)
            for name, m in self.named_modules():
                if isinstance(m, nn.Linear):
                    nn.init.trunc_normal_(m.weight, std=0.02)
                    if m.bias is not None:
                        # tiny random FFN biases, zero attention biases: timm's 'jax' init
                        if 'ffn' in name:
                            nn.init.normal_(m.bias, std=1e-6)
                        else:
                            nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode='fan_in', nonlinearity='relu')
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
                elif isinstance(m, (_BatchNorm, nn.GroupNorm, nn.LayerNorm)):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
        else:
            super().init_weights()
            return
        self._is_init = True

    def _load_pretrained(self, checkpoint: str, prefix: str | None) -> None:
        state = load_backbone_state_dict(checkpoint, prefix)
        pos = state.get('pos_embed')
        if pos is not None and pos.shape != self.pos_embed.shape:
            side = math.isqrt(pos.shape[1] - 1)
            if side * side == pos.shape[1] - 1:
                print_log(f'VisionTransformer: resizing pos_embed from {tuple(pos.shape)} to '
                          f'{tuple(self.pos_embed.shape)}', logger='current')
                state['pos_embed'] = self.resize_pos_embed(pos, self.pos_grid, (side, side),
                                                           self.interpolate_mode)
        if 'patch_embed.projection.bias' in state and self.patch_embed.projection.bias is None:
            print_log(f'VisionTransformer: {checkpoint} has a patch-embedding bias but this '
                      "model has none (patch_bias=False, mmseg 1.x's default); set "
                      'patch_bias=True to use it', logger='current', level=logging.WARNING)
        load_into(self, state, checkpoint)

    @staticmethod
    def resize_pos_embed(pos_embed: torch.Tensor, input_shape: Sequence[int],
                         pos_shape: Sequence[int], mode: str) -> torch.Tensor:
        """(1, 1 + ph*pw, C) position embedding -> (1, 1 + h*w, C) for an (h, w) token grid.

        The class-token entry is kept; the grid part is interpolated with `mode`.
        """
        ph, pw = pos_shape
        cls_pos = pos_embed[:, :1]
        grid = pos_embed[:, -ph * pw:].reshape(1, ph, pw, -1).permute(0, 3, 1, 2)
        extra = dict(align_corners=False) if mode in ('bilinear', 'bicubic') else {}
        grid = F.interpolate(grid, size=tuple(input_shape), mode=mode, **extra)
        return torch.cat((cls_pos, grid.flatten(2).transpose(1, 2)), dim=1)

    def _output(self, x: torch.Tensor, hw_shape: tuple[int, int]):
        out = tokens_to_nchw(x[:, 1:] if self.with_cls_token else x, hw_shape)
        return [out, x[:, 0]] if self.output_cls_token else out

    def forward(self, inputs: torch.Tensor) -> tuple:
        """Args: inputs (B, in_channels, H, W). Returns one map per returned level (NCHW)."""
        if inputs.dim() != 4 or inputs.shape[1] != self.in_channels:
            raise ValueError(f'VisionTransformer expects input (B, {self.in_channels}, H, W), '
                             f'got {tuple(inputs.shape)}')
        x, hw_shape = self.patch_embed(inputs)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        pos = self.pos_embed
        if tuple(hw_shape) != self.pos_grid:
            pos = self.resize_pos_embed(pos, hw_shape, self.pos_grid, self.interpolate_mode)
        x = self.drop_after_pos(x + pos)
        if not self.with_cls_token:
            x = x[:, 1:]
        if self.pre_norm:
            x = self.ln_pre(x)
        outs = [self._output(x, hw_shape)] if self.out_origin else []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == len(self.layers) - 1 and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(self._output(x, hw_shape))
        return tuple(outs)

    # Layer groups for layer-wise learning-rate decay (LearningRateDecayOptimizerConstructor
    # reads these; mmsegmentation's BEiT/MAE rules, which fit this ViT's names).
    DECAY_TYPES = ('layer_wise', 'layer_wise_vit')
    TOKEN_NAMES = ('cls_token', 'mask_token', 'pos_embed')

    def decay_layer_id(self, name: str, num_layers: int, decay_type: str) -> int:
        """Layer id (0 = tokens and patch embedding, i + 1 = encoder layer i, num_layers + 1 =
        after the backbone) of the parameter `name` within this backbone."""
        if name in self.TOKEN_NAMES or name.startswith('patch_embed.'):
            return 0
        if name.startswith('layers.'):
            return int(name.split('.')[1]) + 1
        return num_layers + 1
