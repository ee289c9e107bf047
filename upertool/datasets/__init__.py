"""Datasets (registered in DATASETS) and their transforms (registered in TRANSFORMS)."""
from .ade import ADE20KDataset
from .base import BaseSegDataset
from .broden import BrodenPlusDataset, LoadBrodenAnnotations
from .cityscapes import CityscapesDataset
from .coco_stuff import COCOStuffDataset
from .folder import FolderSegDataset
from .multi_source import MultiSourceDataset
from .samplers import SourceBatchSampler
from .synthetic import SyntheticShapesDataset
from .synthetic_multitask import SyntheticMultiTaskDataset
from .transforms import (
    LoadAnnotations,
    LoadImageFromFile,
    LoadImageFromNDArray,
    PackSegInputs,
    Pad,
    PhotoMetricDistortion,
    RandomCrop,
    RandomFlip,
    RandomResize,
    Resize,
    ResizeToMultiple,
    TestTimeAug,
)
from .voc import PascalVOCDataset

__all__ = [
    'ADE20KDataset', 'BaseSegDataset', 'CityscapesDataset', 'SyntheticShapesDataset',
    'LoadAnnotations', 'LoadImageFromFile', 'LoadImageFromNDArray', 'PackSegInputs', 'Pad',
    'PhotoMetricDistortion', 'RandomCrop', 'RandomFlip', 'RandomResize', 'Resize',
    'ResizeToMultiple', 'TestTimeAug', 'COCOStuffDataset', 'FolderSegDataset', 'PascalVOCDataset',
    'MultiSourceDataset', 'SourceBatchSampler', 'SyntheticMultiTaskDataset', 'BrodenPlusDataset',
    'LoadBrodenAnnotations'
]

# mmsegmentation names that upertool leaves out raise an ImportError that says what to use.
from upertool.utils.not_provided import module_getattr  # noqa: E402

__getattr__ = module_getattr(__name__)
