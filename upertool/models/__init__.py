"""Models: importing this package registers every model component (MODELS' location)."""
from upertool.compat.optional_optimizers import import_mmengine_model

import_mmengine_model()  # before any BaseModule: building a model imports no transformers

from . import backbones, decode_heads, losses, necks, samplers, segmentors  # noqa: E402, F401
from .data_preprocessor import SegDataPreProcessor  # noqa: E402, F401

# mmsegmentation 1.x's `mmseg.models` names: its builder's, and its subpackages' (`import *`).
from upertool.utils.not_provided import subpackage_getattr  # noqa: E402

from .builder import (  # noqa: E402, F401
    BACKBONES, HEADS, LOSSES, NECKS, SEGMENTORS, build_backbone, build_head, build_loss,
    build_neck, build_segmentor)

__getattr__ = subpackage_getattr(
    __name__, ('backbones', 'decode_heads', 'losses', 'necks', 'segmentors'))
