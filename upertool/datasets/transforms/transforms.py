"""mmsegmentation 1.x's module path `mmseg.datasets.transforms.transforms`
(upertool: `geometric`, `photometric`); its names upertool leaves out raise an ImportError."""
from upertool.utils.not_provided import module_getattr

from .geometric import Pad, RandomCrop, RandomFlip, RandomResize, Resize, ResizeToMultiple
from .photometric import PhotoMetricDistortion

__all__ = ['Pad', 'PhotoMetricDistortion', 'RandomCrop', 'RandomFlip', 'RandomResize', 'Resize',
           'ResizeToMultiple']
__getattr__ = module_getattr(__name__)
