"""Losses (registered in MODELS) and the accuracy metric logged by decode heads."""
from .accuracy import Accuracy, accuracy
from .cross_entropy import CrossEntropyLoss, binary_cross_entropy, cross_entropy
from .dice import DiceLoss, dice_loss
from .focal import FocalLoss, sigmoid_focal_loss
from .lovasz import LovaszLoss, lovasz_softmax
from .part_loss import PartLoss, part_loss
from .utils import get_class_weight, reduce_loss, weight_reduce_loss, weighted_loss

__all__ = ['Accuracy', 'CrossEntropyLoss', 'DiceLoss', 'FocalLoss', 'LovaszLoss', 'accuracy',
           'binary_cross_entropy', 'cross_entropy', 'dice_loss', 'get_class_weight',
           'lovasz_softmax', 'PartLoss', 'part_loss', 'reduce_loss', 'sigmoid_focal_loss',
           'weight_reduce_loss', 'weighted_loss']

# mmsegmentation names that upertool leaves out raise an ImportError that says what to use.
from upertool.utils.not_provided import module_getattr  # noqa: E402

__getattr__ = module_getattr(__name__)
