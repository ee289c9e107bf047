"""Models: importing this package registers every model component (MODELS' location)."""
from . import backbones, decode_heads, losses, necks, samplers, segmentors  # noqa: F401
from .data_preprocessor import SegDataPreProcessor  # noqa: F401
