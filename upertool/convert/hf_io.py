"""Reading and writing Hugging Face model folders (`save_pretrained` layout), offline.

A folder holds `config.json`, the weights as `model.safetensors` (or `pytorch_model.bin`, or
shards listed in `model.safetensors.index.json` / `pytorch_model.bin.index.json`) and
optionally `preprocessor_config.json`. Weights are read by the safe loader; nothing is
downloaded, so a hub name must first be fetched (`huggingface-cli download ...`) elsewhere.
"""
from __future__ import annotations

import os
import os.path as osp
from collections.abc import Mapping
from typing import Any

import torch

from upertool.checkpoint.atomic_io import atomic_write
from upertool.checkpoint.safe_load import load_checkpoint_file

from .weights_io import read_json, state_dict_of, write_json

_SINGLE = ('model.safetensors', 'pytorch_model.bin')
_INDEX = ('model.safetensors.index.json', 'pytorch_model.bin.index.json')


def read_hf_folder(folder: str | os.PathLike
                   ) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[str, Any] | None]:
    """(config, weights, image processor config or None) of a local HF model folder."""
    folder = os.fspath(folder)
    if not osp.isdir(folder):
        hint = (' (a hub name? download it on a machine with internet access, e.g. '
                '`huggingface-cli download openmmlab/upernet-convnext-tiny --local-dir DIR`, '
                'and pass DIR)' if '/' in folder and not osp.exists(folder) else '')
        raise NotADirectoryError(f'Hugging Face model folder not found: {folder}{hint}')
    config = read_json(osp.join(folder, 'config.json'))
    if not isinstance(config, dict):
        raise ValueError(f'{folder}/config.json must hold a JSON object')
    processor_file = osp.join(folder, 'preprocessor_config.json')
    processor = read_json(processor_file) if osp.isfile(processor_file) else None
    return config, _read_weights(folder), processor


def _read_weights(folder: str) -> dict[str, torch.Tensor]:
    for name in _SINGLE:
        path = osp.join(folder, name)
        if osp.isfile(path):
            return state_dict_of(load_checkpoint_file(path), path)
    for name in _INDEX:
        path = osp.join(folder, name)
        if osp.isfile(path):
            weight_map = read_json(path).get('weight_map') or {}
            state: dict[str, torch.Tensor] = {}
            for shard in sorted(set(weight_map.values())):
                state.update(state_dict_of(load_checkpoint_file(osp.join(folder, shard)), shard))
            return state
    raise FileNotFoundError(f'{folder} has no weights: expected one of {", ".join(_SINGLE)} '
                            f'or a shard index ({", ".join(_INDEX)})')


def write_hf_folder(folder: str | os.PathLike, config: Mapping[str, Any],
                    state: Mapping[str, torch.Tensor],
                    processor: Mapping[str, Any] | None = None) -> str:
    """Write config.json, the weights and preprocessor_config.json; returns the weights file.

    Weights go to `model.safetensors` when the safetensors package is installed (what
    `from_pretrained` prefers), else to `pytorch_model.bin`.
    """
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}
    try:
        from safetensors.torch import save as to_safetensors
    except ImportError:
        weights = osp.join(folder, 'pytorch_model.bin')
        atomic_write(weights, lambda f: torch.save(tensors, f))
    else:
        weights = osp.join(folder, 'model.safetensors')
        data = to_safetensors(tensors, metadata={'format': 'pt'})
        atomic_write(weights, lambda f: f.write(data))
    write_json(osp.join(folder, 'config.json'), dict(config))
    if processor is not None:
        write_json(osp.join(folder, 'preprocessor_config.json'), dict(processor))
    return weights
