# A third-party project written the way mmsegmentation 1.x's `projects/` write components.
# It is kept in its mmsegmentation form (it imports `mmseg`); tests/compat/test_port_mmseg_code.py
# ports a copy with tools/misc/port_mmseg_code.py and trains and tests it with upertool's tools.
from .attention_head import AttentionHead
from .channel_swap import RandomChannelSwap
from .l1_loss import PixelL1Loss
from .tiny_backbone import TinyResNetV1c
from .tiny_dataset import TinyShapesDataset

__all__ = ['AttentionHead', 'PixelL1Loss', 'RandomChannelSwap', 'TinyResNetV1c',
           'TinyShapesDataset']
