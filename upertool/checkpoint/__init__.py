"""Checkpoints: loading that never runs code from the file and never downloads, atomic
writes, and converters between upertool, mmsegmentation, Hugging Face and classification
libraries (timm, torchvision, mmpretrain).

`load_checkpoint_file` is the one loader behind every mmengine load path as well
(`upertool.compat.checkpoint_loading` registers it with mmengine's CheckpointLoader).
The command line front end of the converters is `tools/convert_checkpoint.py`.
"""
from .allowlist import SAFE_GLOBALS
from .atomic_io import atomic_open, atomic_torch_save, atomic_write
from .backbone_convert import convert_backbone_weights
from .hf_upernet import hf_to_upertool, upertool_to_hf
from .key_rules import ConversionError, ConversionReport
from .mmseg_convert import mmseg_to_upertool
from .safe_load import (
    TRUST_ENV_VAR,
    OfflineCheckpointError,
    UnsafeCheckpointError,
    checkpoints_trusted,
    load_checkpoint_file,
    trusted_checkpoints,
)

__all__ = ['SAFE_GLOBALS', 'TRUST_ENV_VAR', 'ConversionError', 'ConversionReport',
           'OfflineCheckpointError', 'UnsafeCheckpointError', 'atomic_open',
           'atomic_torch_save', 'atomic_write', 'checkpoints_trusted', 'convert_backbone_weights',
           'hf_to_upertool', 'load_checkpoint_file', 'mmseg_to_upertool', 'trusted_checkpoints',
           'upertool_to_hf']
