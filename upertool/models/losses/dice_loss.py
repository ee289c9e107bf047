"""mmsegmentation 1.x's module path `mmseg.models.losses.dice_loss` (upertool: `dice`)."""
from .dice import DiceLoss, dice_loss

__all__ = ['DiceLoss', 'dice_loss']
