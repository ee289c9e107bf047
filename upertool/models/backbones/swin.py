"""Swin Transformer backbone with mmsegmentation 1.x's arguments and state-dict keys.

Keys: `patch_embed.{projection,norm}`, `stages.i.blocks.j.{norm1,attn.w_msa.{qkv,proj,
relative_position_bias_table,relative_position_index},norm2,ffn.layers.{0.0,1}}`,
`stages.i.downsample.{norm,reduction}` and `norm{i}` for each out index.
Reference: Liu et al., Swin Transformer (https://arxiv.org/abs/2103.14030).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule
from torch import nn

from upertool.models.utils import build_norm_layer
from upertool.models.utils.arg_checks import resolve_stage_strides
from upertool.registry import MODELS

from . import swin_weights
from .swin_attention import (  # noqa: F401  (re-exported: mmseg's swin module has them)
    ShiftWindowMSA,
    WindowMSA,
    relative_position_index,
    shifted_window_mask,
    window_partition,
    window_reverse,
)
from .transformer_utils import (
    FFN,
    PatchEmbed,
    PatchMerging,
    check_out_indices,
    check_positive_int,
    check_positive_number,
    check_rate,
    check_token_norm,
    load_backbone_state_dict,
    load_into,
    resize_bias_table,
    resolve_pretrained,
    to_2tuple,
    tokens_to_nchw,
)


class SwinBlock(nn.Module):
    """norm1 -> (shifted) window attention -> residual; norm2 -> FFN -> residual."""

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int,
                 window_size: int = 7, shift: bool = False, qkv_bias: bool = True,
                 qk_scale: float | None = None, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 act_cfg: dict | None = None, norm_cfg: dict | None = None,
                 with_cp: bool = False) -> None:
        super().__init__()
        norm_cfg = dict(type='LN') if norm_cfg is None else norm_cfg
        self.with_cp = with_cp
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = ShiftWindowMSA(embed_dims, num_heads, window_size,
                                   window_size // 2 if shift else 0, qkv_bias, qk_scale,
                                   attn_drop_rate, drop_rate, drop_path_rate)
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = FFN(embed_dims, feedforward_channels, 2, act_cfg, drop_rate, drop_path_rate)

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        def inner(x: torch.Tensor) -> torch.Tensor:
            x = x + self.attn(self.norm1(x), hw_shape)
            return self.ffn(self.norm2(x), identity=x)

        if self.with_cp and x.requires_grad:
            return cp.checkpoint(inner, x, use_reentrant=False)
        return inner(x)


class SwinBlockSequence(nn.Module):
    """One stage: `blocks` (alternately plain and shifted windows), then `downsample` if any.

    Returns (x_down, down_hw, x, hw): the merged tokens for the next stage and this stage's.
    """

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int, depth: int,
                 window_size: int, drop_path_rates: Sequence[float],
                 downsample: PatchMerging | None = None, **block_args) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinBlock(embed_dims, num_heads, feedforward_channels, window_size,
                      shift=i % 2 == 1, drop_path_rate=drop_path_rates[i], **block_args)
            for i in range(depth))
        self.downsample = downsample

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int]):
        for block in self.blocks:
            x = block(x, hw_shape)
        if self.downsample is None:
            return x, hw_shape, x, hw_shape
        x_down, down_hw = self.downsample(x, hw_shape)
        return x_down, down_hw, x, hw_shape


@MODELS.register_module()
class SwinTransformer(BaseModule):
    """Swin Transformer backbone, as mmsegmentation's (same arguments, defaults and keys).

    Args:
        pretrain_img_size: Image size of pre-training; sets the grid of the absolute position
            embedding (used only with use_abs_pos_embed).
        in_channels: Channels of the input image.
        embed_dims: Width of stage 0; stage i is `embed_dims * 2**i` wide.
        patch_size: Patch size of the patch embedding (must equal strides[0]).
        window_size: Side of the attention windows (maps are padded to whole windows).
        mlp_ratio: FFN hidden width / embedding width.
        depths: Blocks per stage.
        num_heads: Attention heads per stage (must divide the stage's width).
        stage_strides: Patch-embedding stride, then each patch-merging stride (kernel 2);
            mmsegmentation's name for it, `strides`, is accepted too (the attribute `strides`
            is the output strides).
        out_indices: Stages whose (normalised) outputs are returned, in stage order.
        qkv_bias: Bias in the qkv projections.
        qk_scale: Attention scale; None gives head_dims ** -0.5.
        patch_norm: LayerNorm after patch embedding and inside patch merging.
        drop_rate: Dropout after the position embedding, attention projection and FFN.
        attn_drop_rate: Dropout on the attention weights.
        drop_path_rate: Stochastic depth, rising linearly from 0 over all blocks.
        use_abs_pos_embed: Add a learned absolute position embedding (interpolated bicubically
            when the token grid differs from pre-training's).
        act_cfg: FFN activation.
        norm_cfg: Norm config; must be LayerNorm ('LN'), the only norm that fits tokens.
        with_cp: Activation checkpointing in every block (less memory, more compute).
        pretrained: Deprecated checkpoint path; becomes init_cfg=dict(type='Pretrained', ...).
        frozen_stages: -1 freezes nothing; 0 the patch embedding (and position embedding);
            k also stages 0..k-1 and their output norms.
        init_cfg: None (truncated-normal Linear, unit LayerNorm) or dict(type='Pretrained',
            checkpoint=..., prefix=None): loads as mmseg does (strips `backbone.`/`module.`,
            interpolates relative position bias tables to this window size).

    Attributes:
        out_channels: Channels of each returned level.
        strides: Output stride of each returned level (feature size = ceil(input / stride)).

    Shapes:
        (B, in_channels, H, W) -> tuple of (B, out_channels[k], ceil(H / strides[k]),
        ceil(W / strides[k])).
    """

    # Key tables of this model in timm/torchvision/mmpretrain/HF checkpoints (upertool.convert).
    WEIGHT_TABLES = swin_weights

    def __init__(self, *, pretrain_img_size: int | Sequence[int] = 224, in_channels: int = 3,
                 embed_dims: int = 96, patch_size: int = 4, window_size: int = 7,
                 mlp_ratio: float = 4, depths: Sequence[int] = (2, 2, 6, 2),
                 num_heads: Sequence[int] = (3, 6, 12, 24),
                 stage_strides: Sequence[int] = (4, 2, 2, 2),
                 strides: Sequence[int] | None = None,
                 out_indices: Sequence[int] = (0, 1, 2, 3), qkv_bias: bool = True,
                 qk_scale: float | None = None, patch_norm: bool = True, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.1,
                 use_abs_pos_embed: bool = False, act_cfg: dict = dict(type='GELU'),
                 norm_cfg: dict = dict(type='LN'), with_cp: bool = False,
                 pretrained: str | None = None, frozen_stages: int = -1,
                 init_cfg: dict | list | None = None) -> None:
        super().__init__(resolve_pretrained('SwinTransformer', pretrained, init_cfg))
        self.pretrain_img_size = to_2tuple(pretrain_img_size, 'pretrain_img_size')
        for name, value in (('in_channels', in_channels), ('embed_dims', embed_dims),
                            ('patch_size', patch_size), ('window_size', window_size)):
            check_positive_int(name, value)
        strides = resolve_stage_strides('SwinTransformer', stage_strides, strides, (4, 2, 2, 2))
        depths, num_heads, strides = self._check_stages(depths, num_heads, strides, embed_dims)
        num_stages = len(depths)
        if strides[0] != patch_size:
            raise ValueError(f'strides[0] must equal patch_size (non-overlapping patch '
                             f'embedding), got strides={strides}, patch_size={patch_size}')
        self.out_indices = check_out_indices(out_indices, num_stages, 'stage')
        check_positive_number('mlp_ratio', mlp_ratio)
        if qk_scale is not None and (not isinstance(qk_scale, (int, float)) or qk_scale <= 0):
            raise ValueError(f'qk_scale must be None or a positive number, got {qk_scale!r}')
        if not isinstance(frozen_stages, int) or not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages must be an int in -1..{num_stages}, '
                             f'got {frozen_stages!r}')
        check_token_norm('SwinTransformer', norm_cfg)
        drop_rate, attn_drop_rate, drop_path_rate = (
            check_rate(n, v) for n, v in (('drop_rate', drop_rate),
                                          ('attn_drop_rate', attn_drop_rate),
                                          ('drop_path_rate', drop_path_rate)))
        self.in_channels = in_channels
        self.frozen_stages = frozen_stages
        self.use_abs_pos_embed = use_abs_pos_embed
        self.patch_size = patch_size
        self.window_size = window_size

        self.patch_embed = PatchEmbed(in_channels, embed_dims, kernel_size=patch_size,
                                      stride=strides[0], padding='corner',
                                      norm_cfg=norm_cfg if patch_norm else None)
        if use_abs_pos_embed:
            grid = (self.pretrain_img_size[0] // patch_size) * (
                self.pretrain_img_size[1] // patch_size)
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, grid, embed_dims))
        self.drop_after_pos = nn.Dropout(drop_rate)

        dpr = torch.linspace(0, drop_path_rate, sum(depths), device='cpu').tolist()
        self.stages = nn.ModuleList()
        dims = embed_dims
        for i in range(num_stages):
            downsample = None
            if i < num_stages - 1:
                downsample = PatchMerging(dims, 2 * dims, stride=strides[i + 1],
                                          norm_cfg=norm_cfg if patch_norm else None)
            self.stages.append(SwinBlockSequence(
                dims, num_heads[i], int(mlp_ratio * dims), depths[i], window_size,
                dpr[sum(depths[:i]):sum(depths[:i + 1])], downsample, qkv_bias=qkv_bias,
                qk_scale=qk_scale, drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                act_cfg=act_cfg, norm_cfg=norm_cfg, with_cp=with_cp))
            if downsample is not None:
                dims = downsample.out_channels
        self.num_features = [embed_dims * 2**i for i in range(num_stages)]
        for i in self.out_indices:
            self.add_module(f'norm{i}', build_norm_layer(norm_cfg, self.num_features[i])[1])

        self.out_channels = tuple(self.num_features[i] for i in self.out_indices)
        self.strides = tuple(math.prod(strides[:i + 1]) for i in self.out_indices)
        self._freeze_stages()

    @staticmethod
    def _check_stages(depths, num_heads, strides, embed_dims):
        seqs = {}
        for name, value in (('depths', depths), ('num_heads', num_heads), ('strides', strides)):
            if (isinstance(value, (int, str)) or not isinstance(value, Sequence) or not value
                    or not all(isinstance(v, int) and v >= 1 for v in value)):
                raise ValueError(f'{name} must be a non-empty sequence of positive ints, '
                                 f'got {value!r}')
            seqs[name] = tuple(value)
        if not len(seqs['depths']) == len(seqs['num_heads']) == len(seqs['strides']):
            raise ValueError('depths, num_heads and strides need one entry per stage, got '
                             f"{seqs['depths']}, {seqs['num_heads']}, {seqs['strides']}")
        for i, heads in enumerate(seqs['num_heads']):
            if (embed_dims * 2**i) % heads:
                raise ValueError(f'num_heads[{i}]={heads} does not divide the width '
                                 f'{embed_dims * 2**i} of stage {i} (embed_dims={embed_dims})')
        return seqs['depths'], seqs['num_heads'], seqs['strides']

    def _freeze_stages(self) -> None:
        frozen: list[nn.Module] = []
        if self.frozen_stages >= 0:
            frozen += [self.patch_embed, self.drop_after_pos]
            if self.use_abs_pos_embed:
                self.absolute_pos_embed.requires_grad = False
        for i in range(self.frozen_stages):
            frozen.append(self.stages[i])
            if i in self.out_indices:
                frozen.append(getattr(self, f'norm{i}'))
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> SwinTransformer:
        """Switch mode, keeping frozen stages in eval."""
        super().train(mode)
        self._freeze_stages()
        return self

    def init_weights(self) -> None:
        """Default init (init_cfg None), mmseg-style pretrained loading, else mmengine's."""
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            self._load_pretrained(cfg['checkpoint'], cfg.get('prefix'))
        elif cfg is None:
            if self.use_abs_pos_embed:
                nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.trunc_normal_(m.weight, std=0.02)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
                elif isinstance(m, nn.LayerNorm):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
                elif isinstance(m, WindowMSA):
                    nn.init.trunc_normal_(m.relative_position_bias_table, std=0.02)
        else:
            super().init_weights()
            return
        self._is_init = True

    def _load_pretrained(self, checkpoint: str, prefix: str | None) -> None:
        state = load_backbone_state_dict(checkpoint, prefix)
        own = self.state_dict()
        for key in [k for k in state if k.endswith('relative_position_index')]:
            del state[key]  # derived from the window size; ours is the right one
        for key in [k for k in state if k.endswith('relative_position_bias_table')]:
            if key in own and state[key].shape != own[key].shape:
                state[key] = resize_bias_table(state[key], own[key].shape)
        pos = state.get('absolute_pos_embed')
        if pos is not None and self.use_abs_pos_embed and pos.shape != own[
                'absolute_pos_embed'].shape and pos.dim() == 4:
            state['absolute_pos_embed'] = pos.flatten(2).transpose(1, 2)  # NCHW from old files
        load_into(self, state, checkpoint)

    def _pos_embed(self, hw_shape: tuple[int, int]) -> torch.Tensor:
        grid = (self.pretrain_img_size[0] // self.patch_size,
                self.pretrain_img_size[1] // self.patch_size)
        pos = self.absolute_pos_embed
        if tuple(hw_shape) == grid:
            return pos
        pos = pos.transpose(1, 2).reshape(1, -1, *grid)
        pos = F.interpolate(pos, size=hw_shape, mode='bicubic', align_corners=False)
        return pos.flatten(2).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Args: x (B, in_channels, H, W). Returns the out_indices stages' maps (NCHW)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'SwinTransformer expects input (B, {self.in_channels}, H, W), '
                             f'got {tuple(x.shape)}')
        x, hw_shape = self.patch_embed(x)
        if self.use_abs_pos_embed:
            x = x + self._pos_embed(hw_shape)
        x = self.drop_after_pos(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x, hw_shape, out, out_hw = stage(x, hw_shape)
            if i in self.out_indices:
                outs.append(tokens_to_nchw(getattr(self, f'norm{i}')(out), out_hw))
        return tuple(outs)
