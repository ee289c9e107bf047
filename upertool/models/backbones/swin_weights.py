"""Swin's weight layouts in other libraries: key tables, the two layouts that are more than a
rename, and what a checkpoint says of its arch.

Read by the converters (`upertool.convert`) through `SwinTransformer.WEIGHT_TABLES`; nothing
here runs when a model trains or predicts. Tables pair `(source prefix, upertool prefix)`
templates (`{i}`, `{j}`: stage and block numbers; `{i+1}` shifts, see `convert/key_rules.py`).

More than a rename:
1. Patch merging concatenates the 2x2 neighbours of each token. The original Swin (and Hugging
   Face, timm, torchvision) concatenates whole neighbours, `[x(0,0), x(1,0), x(0,1), x(1,1)]`
   (offsets (dy, dx)), so feature `p * C + c` is channel c of neighbour p. mmsegmentation (and
   upertool) uses `nn.Unfold`, whose feature `c * 4 + q` is channel c at kernel position
   q = 2 * dy + dx. The merging `norm` and `reduction` weights are permuted accordingly.
2. Attention projections: mmsegmentation has one `qkv` Linear (rows: all q, then k, then v);
   Hugging Face has separate `query`, `key`, `value` Linears.

Names: timm >= 0.9 puts patch merging at the start of the next stage (`layers.{i+1}.
downsample`), older timm at the end of the stage, as mmseg; torchvision's `features.0` is
(conv, permute, LayerNorm), stages at odd indices, merging at even ones, MLP `mlp.{0, 3}`;
mmpretrain has upertool's keys (its final norm is `norm.` in files before `_version` 2).
"""
from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from typing import Any

import torch

from .weight_keys import Rule, count_blocks

ARCHS = {'tiny': (96, (2, 2, 6, 2), (3, 6, 12, 24)),
         'small': (96, (2, 2, 18, 2), (3, 6, 12, 24)),
         'base': (128, (2, 2, 18, 2), (4, 8, 16, 32)),
         'large': (192, (2, 2, 18, 2), (6, 12, 24, 48))}
"""Named arch -> (embed_dims, depths, num_heads)."""
MERGING = re.compile(r'^stages\.\d+\.downsample\.(reduction\.weight|norm\.(weight|bias))$')
MMPRETRAIN: list[Rule] = [('norm.', 'norm3.'), ('', '')]

_SWIN = 'encoder.layers.{i}.blocks.{j}.'
_MSA = 'stages.{i}.blocks.{j}.attn.w_msa.'
HF_MODEL_TYPE = 'swin'
HF_RULES: list[Rule] = [
    ('embeddings.patch_embeddings.projection.', 'patch_embed.projection.'),
    ('embeddings.norm.', 'patch_embed.norm.'),
    (_SWIN + 'layernorm_before.', 'stages.{i}.blocks.{j}.norm1.'),
    (_SWIN + 'attention.self.qkv.', _MSA + 'qkv.'),
    (_SWIN + 'attention.self.relative_position_bias_table', _MSA + 'relative_position_bias_table'),
    (_SWIN + 'attention.self.relative_position_index', _MSA + 'relative_position_index'),
    (_SWIN + 'attention.output.dense.', _MSA + 'proj.'),
    (_SWIN + 'layernorm_after.', 'stages.{i}.blocks.{j}.norm2.'),
    (_SWIN + 'intermediate.dense.', 'stages.{i}.blocks.{j}.ffn.layers.0.0.'),
    (_SWIN + 'output.dense.', 'stages.{i}.blocks.{j}.ffn.layers.1.'),
    ('encoder.layers.{i}.downsample.reduction.', 'stages.{i}.downsample.reduction.'),
    ('encoder.layers.{i}.downsample.norm.', 'stages.{i}.downsample.norm.'),
    ('hidden_states_norms.stage{i+1}.', 'norm{i}.'),
]


def _block(src: str, dst: str, mlp: tuple[str, str]) -> list[Rule]:
    return [(src + 'norm1.', dst + 'norm1.'), (src + 'attn.qkv.', dst + 'attn.w_msa.qkv.'),
            (src + 'attn.proj.', dst + 'attn.w_msa.proj.'),
            (src + 'attn.relative_position_bias_table',
             dst + 'attn.w_msa.relative_position_bias_table'),
            (src + 'norm2.', dst + 'norm2.'), (src + mlp[0], dst + 'ffn.layers.0.0.'),
            (src + mlp[1], dst + 'ffn.layers.1.')]


def timm_rules(merge_at_stage_start: bool, num_stages: int = 4) -> list[Rule]:
    """timm's table; `merge_at_stage_start` for timm >= 0.9 (see the module docstring)."""
    src = 'layers.{i+1}.downsample.' if merge_at_stage_start else 'layers.{i}.downsample.'
    return [('patch_embed.proj.', 'patch_embed.projection.'),
            ('patch_embed.norm.', 'patch_embed.norm.'),
            *_block('layers.{i}.blocks.{j}.', 'stages.{i}.blocks.{j}.', ('mlp.fc1.', 'mlp.fc2.')),
            (src + 'reduction.', 'stages.{i}.downsample.reduction.'),
            (src + 'norm.', 'stages.{i}.downsample.norm.'),
            ('norm.', f'norm{num_stages - 1}.')]


def torchvision_rules(num_stages: int = 4) -> list[Rule]:
    """torchvision's table (see the module docstring)."""
    rules: list[Rule] = [('features.0.0.', 'patch_embed.projection.'),
                         ('features.0.2.', 'patch_embed.norm.'),
                         ('norm.', f'norm{num_stages - 1}.')]
    for k in range(num_stages):
        rules += _block(f'features.{2 * k + 1}.{{j}}.', f'stages.{k}.blocks.{{j}}.',
                        ('mlp.0.', 'mlp.3.'))
        if k < num_stages - 1:
            rules += [(f'features.{2 * k + 2}.reduction.', f'stages.{k}.downsample.reduction.'),
                      (f'features.{2 * k + 2}.norm.', f'stages.{k}.downsample.norm.')]
    return rules


def classification_rules(source: str, kind: str, keys: Collection[str]) -> list[Rule]:
    """The table for a timm/torchvision/mmpretrain checkpoint with `keys`."""
    if source == 'mmpretrain':
        return MMPRETRAIN
    if source == 'timm':
        return timm_rules(merge_at_stage_start='layers.0.downsample.reduction.weight' not in keys)
    return torchvision_rules()


def unfold_permutation(channels: int) -> torch.Tensor:
    """perm such that `unfold_features = official_features[..., perm]` for C = `channels`."""
    perm = torch.empty(4 * channels, dtype=torch.long)
    for q in range(4):
        dy, dx = divmod(q, 2)
        p = 2 * dx + dy  # position of neighbour (dy, dx) in the official concatenation
        perm[torch.arange(channels) * 4 + q] = p * channels + torch.arange(channels)
    return perm


def merging_to_unfold(tensor: torch.Tensor) -> torch.Tensor:
    """Official-order merging weight -> unfold order: `reduction.weight` (out, 4C) or
    `norm.weight/bias` (4C,); the last dim is permuted."""
    return tensor[..., unfold_permutation(tensor.shape[-1] // 4)].contiguous()


def merging_to_official(tensor: torch.Tensor) -> torch.Tensor:
    """Inverse of `merging_to_unfold`."""
    inverse = torch.argsort(unfold_permutation(tensor.shape[-1] // 4))
    return tensor[..., inverse].contiguous()


def merge_qkv(state: dict[str, torch.Tensor], query: str = 'query', key: str = 'key',
              value: str = 'value', merged: str = 'qkv') -> None:
    """In place: every `<p>.query.{weight,bias}` with its key/value becomes `<p>.qkv.*`."""
    suffix = f'.{query}.'
    for name in [k for k in state if suffix in k]:
        prefix, _, param = name.rpartition(suffix)
        parts = [state.pop(f'{prefix}.{n}.{param}') for n in (query, key, value)]
        state[f'{prefix}.{merged}.{param}'] = torch.cat(parts, dim=0)


def split_qkv(state: dict[str, torch.Tensor], query: str = 'query', key: str = 'key',
              value: str = 'value', merged: str = 'qkv') -> None:
    """In place: inverse of `merge_qkv` (rows split in three equal parts)."""
    suffix = f'.{merged}.'
    for name in [k for k in state if suffix in k]:
        prefix, _, param = name.rpartition(suffix)
        for n, part in zip((query, key, value), state.pop(name).chunk(3, dim=0), strict=True):
            state[f'{prefix}.{n}.{param}'] = part.contiguous()


def fix_layout(source: str, kind: str, state: dict[str, Any]) -> None:
    """In place: patch merging from the official neighbour order to nn.Unfold's."""
    if source == 'mmpretrain':
        return
    for key in [k for k in state if MERGING.match(k)]:
        state[key] = merging_to_unfold(state[key])


def config_from_weights(backbone: type, arch: str | None, state: Mapping[str, Any]) -> dict:
    """The SwinTransformer config (classification layout) of the weights (`arch`: see `ARCHS`).

    Raises:
        ValueError: a named `arch` that disagrees with the weights.
        KeyError: the weights lack a Swin key.
    """
    embed = state['patch_embed.projection.weight'].shape[0]
    stages = range(len({k.split('.')[1] for k in state if k.startswith('stages.')}))
    depths = tuple(count_blocks(state, r'^stages\.{i}\.blocks\.(\d+)\.', i) for i in stages)
    bias_tables = [state[f'stages.{i}.blocks.0.attn.w_msa.relative_position_bias_table']
                   for i in stages]
    heads = tuple(t.shape[1] for t in bias_tables)
    window = (math.isqrt(bias_tables[0].shape[0]) + 1) // 2
    if arch and ARCHS.get(arch) != (embed, depths, heads):
        raise ValueError(f'the checkpoint is a Swin with embed_dims={embed}, depths='
                         f'{depths}, num_heads={heads}, not {arch!r}')
    return dict(type=backbone.__name__, embed_dims=embed, depths=depths, num_heads=heads,
                window_size=window, out_indices=(len(depths) - 1,), init_cfg=None)
