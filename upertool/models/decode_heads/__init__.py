"""Decode heads (registered in MODELS)."""
from .base import BaseDecodeHead
from .fcn_head import FCNHead
from .psp_module import PPM
from .uper_head import UPerHead
from .upp_head import UPPHead

__all__ = ['PPM', 'BaseDecodeHead', 'FCNHead', 'UPerHead', 'UPPHead']

# mmsegmentation names that upertool leaves out raise an ImportError that says what to use.
from upertool.utils.not_provided import module_getattr  # noqa: E402

__getattr__ = module_getattr(__name__)
