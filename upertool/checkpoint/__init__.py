"""Run-time checkpoints: loading that never runs code from the file and never downloads, and
atomic writes; what `init_model`, `load_from` and `--resume` need.

`load_checkpoint_file` is the one loader behind every mmengine load path as well
(`upertool.compat.checkpoint_loading` registers it with mmengine's CheckpointLoader).

Offline conversion (mmsegmentation, Hugging Face, timm/torchvision/mmpretrain) lives in
`upertool.convert`; its public names and modules are still reachable here
(`upertool.checkpoint.hf_to_upertool`, `from upertool.checkpoint import commands`), imported
on first access so that loading a checkpoint never imports the converters.
"""
from __future__ import annotations

import importlib
from typing import Any

from .allowlist import SAFE_GLOBALS
from .atomic_io import atomic_open, atomic_torch_save, atomic_write
from .safe_load import (
    TRUST_ENV_VAR,
    OfflineCheckpointError,
    UnsafeCheckpointError,
    checkpoints_trusted,
    load_checkpoint_file,
    trusted_checkpoints,
)

# Names that lived here before the converters moved to upertool.convert.
_MOVED_NAMES = ('ConversionError', 'ConversionReport', 'convert_backbone_weights',
                'hf_to_upertool', 'mmseg_to_upertool', 'upertool_to_hf')
_MOVED_MODULES = {name: f'upertool.convert.{name}' for name in (
    'backbone_convert', 'commands', 'config_writer', 'hf_config', 'hf_io', 'hf_tables',
    'hf_upernet', 'key_rules', 'mmseg_convert', 'weights_io')}
# Swin's weight layouts moved next to the model (its key tables went there as well).
_MOVED_MODULES['swin_layout'] = 'upertool.models.backbones.swin_weights'

__all__ = ['SAFE_GLOBALS', 'TRUST_ENV_VAR', 'OfflineCheckpointError', 'UnsafeCheckpointError',
           'atomic_open', 'atomic_torch_save', 'atomic_write', 'checkpoints_trusted',
           'load_checkpoint_file', 'trusted_checkpoints', *_MOVED_NAMES]


def __getattr__(name: str) -> Any:
    """The converters' old home: import `upertool.convert` only when one is asked for."""
    if name in _MOVED_NAMES:
        return getattr(importlib.import_module('upertool.convert'), name)
    if name in _MOVED_MODULES:
        return importlib.import_module(_MOVED_MODULES[name])
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
