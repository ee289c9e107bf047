"""Offline checkpoint conversion: key tables, mmsegmentation, Hugging Face and classification
(timm, torchvision, mmpretrain) checkpoints to upertool and back, and the config writer.

Nothing here runs when a model trains or predicts: `tools/convert_checkpoint.py` (through
`commands`) and the tests import it, and `import upertool` never does. Reading and writing go
through `upertool.checkpoint` (safe loading, atomic writes).
"""
from .backbone_convert import convert_backbone_weights
from .hf_upernet import hf_to_upertool, upertool_to_hf
from .key_rules import ConversionError, ConversionReport
from .mmseg_convert import mmseg_to_upertool

__all__ = ['ConversionError', 'ConversionReport', 'convert_backbone_weights', 'hf_to_upertool',
           'mmseg_to_upertool', 'upertool_to_hf']
