"""mmsegmentation 1.x's module path `mmseg.models.losses.lovasz_loss` (upertool: `lovasz`)."""
from .lovasz import LovaszLoss, lovasz_softmax

__all__ = ['LovaszLoss', 'lovasz_softmax']
