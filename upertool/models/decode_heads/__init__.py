"""Decode heads (registered in MODELS)."""
from .base import BaseDecodeHead
from .fcn_head import FCNHead
from .psp_module import PPM
from .uper_head import UPerHead
from .upp_head import UPPHead

__all__ = ['PPM', 'BaseDecodeHead', 'FCNHead', 'UPerHead', 'UPPHead']

from .aspp_head import ASPPHead  # noqa: E402
from .ham_head import LightHamHead  # noqa: E402
from .psp_head import PSPHead  # noqa: E402
from .segformer_head import SegformerHead  # noqa: E402
from .sep_aspp_head import DepthwiseSeparableASPPHead  # noqa: E402

__all__ += ['ASPPHead', 'DepthwiseSeparableASPPHead', 'LightHamHead', 'PSPHead', 'SegformerHead']

# mmsegmentation names that upertool leaves out raise an ImportError that says what to use.
from upertool.utils.not_provided import module_getattr  # noqa: E402

__getattr__ = module_getattr(__name__)
