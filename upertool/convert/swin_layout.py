"""The two ways Swin weights are laid out that are more than a rename.

1. Patch merging concatenates the 2x2 neighbours of each token. The original Swin (and Hugging
   Face, timm, torchvision) concatenates whole neighbours, `[x(0,0), x(1,0), x(0,1), x(1,1)]`
   (offsets (dy, dx)), so feature `p * C + c` is channel c of neighbour p. mmsegmentation (and
   upertool) uses `nn.Unfold`, whose feature `c * 4 + q` is channel c at kernel position
   q = 2 * dy + dx. The merging `norm` and `reduction` weights are permuted accordingly.
2. Attention projections: mmsegmentation has one `qkv` Linear (rows: all q, then k, then v);
   Hugging Face has separate `query`, `key`, `value` Linears.
"""
from __future__ import annotations

import torch


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
