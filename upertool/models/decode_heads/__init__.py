"""Decode heads (registered in MODELS)."""
from .base import BaseDecodeHead
from .fcn_head import FCNHead
from .psp_module import PPM
from .uper_head import UPerHead

__all__ = ['PPM', 'BaseDecodeHead', 'FCNHead', 'UPerHead']
