"""Module path of mmsegmentation 1.x's `mmseg.models.losses.cross_entropy_loss`."""
from .cross_entropy import CrossEntropyLoss, binary_cross_entropy, cross_entropy

__all__ = ['CrossEntropyLoss', 'binary_cross_entropy', 'cross_entropy']
