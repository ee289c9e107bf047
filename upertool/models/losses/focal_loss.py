"""mmsegmentation 1.x's module path `mmseg.models.losses.focal_loss` (upertool: `focal`)."""
from .focal import FocalLoss, sigmoid_focal_loss

__all__ = ['FocalLoss', 'sigmoid_focal_loss']
