"""Blocks shared by the transformer backbones (Swin, ViT), with mmsegmentation 1.x's key names.

`DropPath`, `FFN` (`layers.0.0` / `layers.1` as mmcv's), `PatchMerging` (`norm`, `reduction`),
argument checks, and the checkpoint helpers the backbones' `init_weights` use. `PatchEmbed` and
`AdaptivePadding` are mmseg's, from `upertool.models.utils.embed` (re-exported here).
"""
from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import nn

from upertool.models.utils import build_activation_layer, build_norm_layer
from upertool.models.utils.arg_checks import (  # noqa: F401  (shared; re-exported here)
    check_out_indices,
    resolve_pretrained,
    to_2tuple,
)
from upertool.models.utils.embed import AdaptivePadding, PatchEmbed  # noqa: F401  (re-export)
from upertool.models.utils.pointwise_linear import PointwiseLinear


def check_rate(name: str, value: float) -> float:
    """A drop probability: a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f'{name} must be a number in [0, 1), got {value!r}')
    return float(value)


def check_positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{name} must be a positive int, got {value!r}')
    return value


def check_positive_number(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f'{name} must be a positive number, got {value!r}')
    return value


def check_token_norm(cls_name: str, norm_cfg: dict) -> None:
    """Tokens are (B, L, C): only LayerNorm normalises them over C."""
    if not isinstance(norm_cfg, dict) or norm_cfg.get('type') != 'LN':
        raise ValueError(f'{cls_name} normalises (B, L, C) tokens: norm_cfg must be '
                         f"dict(type='LN', ...), got {norm_cfg!r}")


def drop_path(x: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Zero whole samples of a residual branch with probability `drop_prob`, rescale the rest."""
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1.0 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.dim() - 1)
    mask = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep_prob)
    return x * mask / keep_prob


class DropPath(nn.Module):
    """Stochastic depth per sample; the identity in eval mode or with drop_prob=0."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = check_rate('drop_path_rate', drop_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'


class FFN(nn.Module):
    """Transformer MLP with mmcv's layout: `layers = [[fc, act, drop] * (num_fcs-1), fc, drop]`.

    Shapes: (..., embed_dims) -> (..., embed_dims); `forward(x, identity)` adds the residual
    (x itself when identity is None) after drop path.
    """

    def __init__(self, embed_dims: int, feedforward_channels: int, num_fcs: int = 2,
                 act_cfg: dict | None = None, ffn_drop: float = 0.0,
                 drop_path_rate: float = 0.0) -> None:
        super().__init__()
        if isinstance(num_fcs, bool) or not isinstance(num_fcs, int) or num_fcs < 2:
            raise ValueError(f'num_fcs must be an int >= 2, got {num_fcs!r}')
        act_cfg = dict(type='GELU') if act_cfg is None else act_cfg
        # mmcv's FFN attributes, read by code written against it
        self.embed_dims, self.feedforward_channels = embed_dims, feedforward_channels
        self.num_fcs, self.act_cfg, self.add_identity = num_fcs, act_cfg, True
        layers: list[nn.Module] = []
        in_channels = embed_dims
        for _ in range(num_fcs - 1):
            layers.append(nn.Sequential(PointwiseLinear(in_channels, feedforward_channels),
                                        build_activation_layer(act_cfg), nn.Dropout(ffn_drop)))
            in_channels = feedforward_channels
        layers += [PointwiseLinear(feedforward_channels, embed_dims), nn.Dropout(ffn_drop)]
        self.layers = nn.Sequential(*layers)
        self.drop_path = DropPath(drop_path_rate)

    def forward(self, x: torch.Tensor, identity: torch.Tensor | None = None) -> torch.Tensor:
        return (x if identity is None else identity) + self.drop_path(self.layers(x))


class PatchMerging(nn.Module):
    """Group k x k neighbours (nn.Unfold order: channel-major), `norm`, then linear `reduction`.

    Shapes: ((B, H*W, C), (H, W)) -> ((B, h*w, out_channels), (h, w)), h = ceil(H / stride)
    with corner padding.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 2,
                 stride: int | None = None, bias: bool = False,
                 norm_cfg: dict | None = None) -> None:
        super().__init__()
        self.kernel_size = to_2tuple(kernel_size, 'merge kernel_size')
        self.stride = to_2tuple(kernel_size if stride is None else stride, 'merge stride')
        sample_dim = self.kernel_size[0] * self.kernel_size[1] * in_channels
        self.in_channels, self.out_channels = in_channels, out_channels
        self.norm = build_norm_layer(norm_cfg, sample_dim)[1] if norm_cfg is not None else None
        self.reduction = PointwiseLinear(sample_dim, out_channels, bias=bias)
        self.adap_padding = AdaptivePadding(self.kernel_size, self.stride, padding='corner')

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int]
                ) -> tuple[torch.Tensor, tuple[int, int]]:
        b, length, c = x.shape
        h, w = hw_shape
        if length != h * w:
            raise ValueError(f'PatchMerging: {length} tokens do not make a {h}x{w} map')
        x = x.transpose(1, 2).reshape(b, c, h, w)
        x = self.adap_padding(x)
        out_hw = ((x.shape[2] - self.kernel_size[0]) // self.stride[0] + 1,
                  (x.shape[3] - self.kernel_size[1]) // self.stride[1] + 1)
        # Unfold's (C, kh, kw) feature order is what mmseg's checkpoints were trained with.
        x = F.unfold(x, self.kernel_size, stride=self.stride).transpose(1, 2)
        if self.norm is not None:
            x = self.norm(x)
        return self.reduction(x), out_hw


def tokens_to_nchw(x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
    """(B, h*w, C) -> (B, C, h, w) in channels-last memory: the tokens' own order, so no copy
    (an NCHW copy cost Swin-T ~4 ms per 512 px image, and the channels-last head undid it)."""
    return x.reshape(x.shape[0], hw_shape[0], hw_shape[1], x.shape[-1]).permute(0, 3, 1, 2)


def load_backbone_state_dict(checkpoint: str, prefix: str | None = None,
                             map_location: str = 'cpu') -> dict[str, torch.Tensor]:
    """A backbone's weights from a checkpoint file, as mmseg's transformer backbones read them.

    The weights are `state_dict`, else `model`, else the file's top-level dict; a `module.`
    prefix (DDP) is stripped. With `prefix` only keys under it are kept (prefix removed);
    without, keys under `backbone.` lose that prefix, so whole-segmentor files work too.
    """
    from mmengine.runner.checkpoint import CheckpointLoader

    ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location=map_location)
    if not isinstance(ckpt, dict):
        raise ValueError(f'{checkpoint}: expected a dict of weights, got {type(ckpt).__name__}')
    state = ckpt.get('state_dict', ckpt.get('model', ckpt))
    state = {(k[len('module.'):] if k.startswith('module.') else k): v for k, v in state.items()}
    if prefix:
        prefix = prefix if prefix.endswith('.') else prefix + '.'
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not state:
            raise ValueError(f'{checkpoint}: no weights under prefix {prefix!r}')
        return state
    return {(k[len('backbone.'):] if k.startswith('backbone.') else k): v
            for k, v in state.items()}


def load_into(module: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load non-strictly and say which keys were missing or unused (shape mismatches skipped)."""
    own = module.state_dict()
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    usable = {k: v for k, v in state.items() if k not in mismatched}
    result = module.load_state_dict(usable, strict=False)
    name = type(module).__name__
    for what, keys in (('missing in the checkpoint', result.missing_keys),
                       ('unused from the checkpoint', result.unexpected_keys),
                       ('skipped for a shape mismatch', mismatched)):
        if keys:
            shown = ', '.join(keys[:8]) + (f' ... ({len(keys)} in all)' if len(keys) > 8 else '')
            print_log(f'{name} loading {source}: keys {what}: {shown}', logger='current',
                      level=logging.WARNING)


def resize_bias_table(table: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Bicubic resize of a (S1*S1, heads) relative position bias table to (S2*S2, heads)."""
    (l1, heads), (l2, heads2) = table.shape, shape
    s1, s2 = math.isqrt(l1), math.isqrt(l2)
    if heads != heads2 or s1 * s1 != l1 or s2 * s2 != l2:
        return table  # left to load_into, which reports the mismatch
    grid = table.transpose(0, 1).reshape(1, heads, s1, s1)
    grid = F.interpolate(grid, size=(s2, s2), mode='bicubic', align_corners=False)
    return grid.reshape(heads, l2).transpose(0, 1).contiguous()
