"""Data transforms with mmsegmentation 1.x names, registered in upertool's TRANSFORMS."""
from .formatting import PackSegInputs, TestTimeAug
from .geometric import Pad, RandomCrop, RandomFlip, RandomResize, Resize, ResizeToMultiple
from .loading import LoadAnnotations, LoadImageFromFile, LoadImageFromNDArray
from .multi_task import LoadMultiTaskAnnotations, PackMultiTaskInputs
from .photometric import PhotoMetricDistortion

__all__ = [
    'LoadAnnotations', 'LoadImageFromFile', 'LoadImageFromNDArray', 'LoadMultiTaskAnnotations',
    'PackMultiTaskInputs', 'PackSegInputs', 'Pad',
    'PhotoMetricDistortion', 'RandomCrop', 'RandomFlip', 'RandomResize', 'Resize',
    'ResizeToMultiple', 'TestTimeAug'
]

# mmsegmentation names that upertool leaves out raise an ImportError that says what to use.
from upertool.utils.not_provided import module_getattr  # noqa: E402

__getattr__ = module_getattr(__name__)
