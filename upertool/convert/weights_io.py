"""Reading the weights out of checkpoint files and folders, writing converted ones.

Reading always goes through the safe loader (`load_checkpoint_file`): no code from the file
runs. Writing is atomic (`atomic_io`), as for training checkpoints.
"""
from __future__ import annotations

import json
import os
import os.path as osp
from collections.abc import Mapping
from typing import Any

import torch

from upertool.checkpoint.atomic_io import atomic_open, atomic_write
from upertool.checkpoint.safe_load import load_checkpoint_file

# Where the weights sit in the checkpoint formats we read, most specific first.
_WEIGHT_KEYS = ('state_dict', 'model', 'module', 'state_dict_ema')


def state_dict_of(checkpoint: Mapping[str, Any], source: str = 'checkpoint'
                  ) -> dict[str, torch.Tensor]:
    """The tensor dict of a loaded checkpoint, without a DDP `module.` prefix.

    Accepts mmengine/mmcv files (`state_dict`), timm/DeiT/torchvision-reference training files
    (`model`, `state_dict_ema` only when nothing else), and bare state dicts.
    """
    state: Any = checkpoint
    for key in _WEIGHT_KEYS:
        if isinstance(checkpoint.get(key), Mapping):
            state = checkpoint[key]
            break
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ValueError(f'{source} holds no tensors (top-level keys: {sorted(checkpoint)[:10]})')
    if all(k.startswith('module.') for k in tensors):
        tensors = {k[len('module.'):]: v for k, v in tensors.items()}
    return tensors


def read_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(weights, meta) of a checkpoint file (`.pth`, `.bin`, `.safetensors`, ...)."""
    checkpoint = load_checkpoint_file(path, map_location='cpu')
    meta = checkpoint.get('meta') if isinstance(checkpoint.get('meta'), Mapping) else {}
    return state_dict_of(checkpoint, os.fspath(path)), dict(meta)


def write_checkpoint(path: str | os.PathLike, state: Mapping[str, torch.Tensor],
                     meta: Mapping[str, Any] | None = None) -> None:
    """Save `{'meta': meta, 'state_dict': state}` atomically (mmengine's layout).

    Only plain Python values belong in `meta`, so the safe loader reads the file back.
    """
    payload = {'meta': dict(meta or {}),
               'state_dict': {k: v.detach().cpu().contiguous() for k, v in state.items()}}
    atomic_write(path, lambda f: torch.save(payload, f))


def write_json(path: str | os.PathLike, data: Any) -> None:
    with atomic_open(path, 'w') as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write('\n')


def read_json(path: str | os.PathLike) -> Any:
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} not found')
    with open(path, encoding='utf-8') as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f'{path} is not valid JSON: {err}') from err
