"""Data transforms with mmsegmentation 1.x names, registered in upertool's TRANSFORMS."""
from .formatting import PackSegInputs, TestTimeAug
from .geometric import Pad, RandomCrop, RandomFlip, RandomResize, Resize, ResizeToMultiple
from .loading import LoadAnnotations, LoadImageFromFile, LoadImageFromNDArray
from .photometric import PhotoMetricDistortion

__all__ = [
    'LoadAnnotations', 'LoadImageFromFile', 'LoadImageFromNDArray', 'PackSegInputs', 'Pad',
    'PhotoMetricDistortion', 'RandomCrop', 'RandomFlip', 'RandomResize', 'Resize',
    'ResizeToMultiple', 'TestTimeAug'
]
