"""Checkpoint loading that never runs code from the file, and never downloads.

`load_checkpoint_file` is the one loader behind every mmengine load path as well
(`upertool.compat.checkpoint_loading` registers it with mmengine's CheckpointLoader).
"""
from .allowlist import SAFE_GLOBALS
from .safe_load import (
    TRUST_ENV_VAR,
    OfflineCheckpointError,
    UnsafeCheckpointError,
    checkpoints_trusted,
    load_checkpoint_file,
    trusted_checkpoints,
)

__all__ = ['SAFE_GLOBALS', 'TRUST_ENV_VAR', 'OfflineCheckpointError', 'UnsafeCheckpointError',
           'checkpoints_trusted', 'load_checkpoint_file', 'trusted_checkpoints']
