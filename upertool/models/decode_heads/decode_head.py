"""mmsegmentation 1.x's module path `mmseg.models.decode_heads.decode_head` (upertool: `base`)."""
from .base import BaseDecodeHead

__all__ = ['BaseDecodeHead']
