"""Cityscapes (fine annotations, 19 train ids)."""
from typing import Any

from upertool.registry import DATASETS

from .base import BaseSegDataset

CITYSCAPES_CLASSES = (
    'road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light', 'traffic sign',
    'vegetation', 'terrain', 'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train',
    'motorcycle', 'bicycle')

CITYSCAPES_PALETTE = [
    [128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156], [190, 153, 153],
    [153, 153, 153], [250, 170, 30], [220, 220, 0], [107, 142, 35], [152, 251, 152],
    [70, 130, 180], [220, 20, 60], [255, 0, 0], [0, 0, 142], [0, 0, 70], [0, 60, 100],
    [0, 80, 100], [0, 0, 230], [119, 11, 32]]


@DATASETS.register_module()
class CityscapesDataset(BaseSegDataset):
    """Cityscapes: ``leftImg8bit/{train,val}/<city>/*_leftImg8bit.png`` with
    ``gtFine/{train,val}/<city>/*_gtFine_labelTrainIds.png`` (made by
    ``tools/dataset_converters/cityscapes.py``; 255 marks ignored pixels).

    Args:
        img_suffix: image suffix.
        seg_map_suffix: mask suffix (the train-id masks, not the raw label ids).
        **kwargs: BaseSegDataset's arguments.
    """

    METAINFO = dict(classes=CITYSCAPES_CLASSES, palette=CITYSCAPES_PALETTE)

    def __init__(self,
                 img_suffix: str = '_leftImg8bit.png',
                 seg_map_suffix: str = '_gtFine_labelTrainIds.png',
                 **kwargs: Any) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)
