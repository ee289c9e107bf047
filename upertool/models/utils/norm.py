"""Norm and activation layers built from mmsegmentation-style config dicts.

`SyncBN` resolves to `FallbackSyncBatchNorm`: torch's SyncBatchNorm raises on CPU
tensors and cannot sync outside a process group, so where syncing is impossible it
normalises like plain BatchNorm (same parameters and buffers, so checkpoints match)
and says so once in the log.
"""
from __future__ import annotations

import difflib

import torch
import torch.distributed as dist
from mmengine.logging import print_log
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class FallbackSyncBatchNorm(nn.SyncBatchNorm):
    """SyncBatchNorm that trains as BatchNorm where torch cannot sync."""

    _warned = False

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.training and not self._can_sync(input):
            if not FallbackSyncBatchNorm._warned:
                FallbackSyncBatchNorm._warned = True
                print_log(
                    'SyncBN: cannot sync batch statistics here (needs an initialised '
                    'process group of >1 ranks and CUDA tensors); training it as plain '
                    'BatchNorm per process.', logger='current')
            return _BatchNorm.forward(self, input)
        return super().forward(input)

    @staticmethod
    def _can_sync(input: torch.Tensor) -> bool:
        return (dist.is_available() and dist.is_initialized()
                and dist.get_world_size() > 1 and input.device.type != 'cpu')


_NORMS: dict[str, tuple[type[nn.Module], str]] = {
    'BN': (nn.BatchNorm2d, 'bn'),
    'BN1d': (nn.BatchNorm1d, 'bn'),
    'BN2d': (nn.BatchNorm2d, 'bn'),
    'SyncBN': (FallbackSyncBatchNorm, 'bn'),
    'GN': (nn.GroupNorm, 'gn'),
    'LN': (nn.LayerNorm, 'ln'),
    'IN': (nn.InstanceNorm2d, 'in'),
}

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    'ReLU': nn.ReLU, 'ReLU6': nn.ReLU6, 'LeakyReLU': nn.LeakyReLU, 'GELU': nn.GELU,
    'SiLU': nn.SiLU, 'Swish': nn.SiLU, 'Sigmoid': nn.Sigmoid, 'Tanh': nn.Tanh,
    'PReLU': nn.PReLU, 'HSwish': nn.Hardswish, 'HSigmoid': nn.Hardsigmoid,
}


def _unknown(kind: str, name: str, known: list[str]) -> KeyError:
    close = difflib.get_close_matches(name, known, n=3)
    hint = f' Did you mean {close}?' if close else ''
    return KeyError(f'Unknown {kind} type {name!r}; known: {sorted(known)}.{hint}')


def build_norm_layer(cfg: dict, num_features: int,
                     postfix: int | str = '') -> tuple[str, nn.Module]:
    """Build a norm layer; returns (name, layer) with mmcv's names ('bn1', 'gn', ...).

    The name matters: mmsegmentation's state-dict keys use it.
    """
    cfg = dict(cfg)
    layer_type = cfg.pop('type')
    requires_grad = cfg.pop('requires_grad', True)
    if layer_type not in _NORMS:
        raise _unknown('norm', layer_type, list(_NORMS))
    layer_cls, abbr = _NORMS[layer_type]
    cfg.setdefault('eps', 1e-5)
    if layer_type == 'GN':
        if 'num_groups' not in cfg:
            raise ValueError("norm_cfg of type 'GN' needs 'num_groups'")
        layer = nn.GroupNorm(num_channels=num_features, **cfg)
    elif layer_type == 'LN':
        layer = nn.LayerNorm(num_features, **cfg)
    else:
        layer = layer_cls(num_features, **cfg)
    for param in layer.parameters():
        param.requires_grad = requires_grad
    return f'{abbr}{postfix}', layer


def build_activation_layer(cfg: dict) -> nn.Module:
    """Build an activation from `dict(type='ReLU', inplace=True)` and the like."""
    cfg = dict(cfg)
    layer_type = cfg.pop('type')
    if layer_type not in _ACTIVATIONS:
        raise _unknown('activation', layer_type, list(_ACTIVATIONS))
    layer_cls = _ACTIVATIONS[layer_type]
    if layer_cls not in (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.SiLU, nn.Hardswish, nn.Hardsigmoid):
        cfg.pop('inplace', None)
    return layer_cls(**cfg)


def is_norm(module: nn.Module) -> bool:
    return isinstance(module, (_BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d))
