"""Pascal VOC 2012 segmentation (21 classes incl. background; 255 = object borders, ignored)."""
from typing import Any

from upertool.registry import DATASETS

from .base import BaseSegDataset

VOC_CLASSES = (
    'background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat',
    'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant',
    'sheep', 'sofa', 'train', 'tvmonitor')

# The VOC colour map (mmsegmentation's palette): the palette stored in the official
# SegmentationClass PNGs, so a mask drawn with it looks like the original files.
VOC_PALETTE = [
    [0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128],
    [0, 128, 128], [128, 128, 128], [64, 0, 0], [192, 0, 0], [64, 128, 0], [192, 128, 0],
    [64, 0, 128], [192, 0, 128], [64, 128, 128], [192, 128, 128], [0, 64, 0], [128, 64, 0],
    [0, 192, 0], [128, 192, 0], [0, 64, 128]]


@DATASETS.register_module()
class PascalVOCDataset(BaseSegDataset):
    """Pascal VOC 2012: ``JPEGImages/*.jpg`` with ``SegmentationClass/*.png``, samples
    listed in ``ImageSets/Segmentation/{train,val}.txt``.

    The masks are palette (P-mode) PNGs whose pixel *indices* are the class ids;
    ``LoadAnnotations`` (pillow backend) returns those indices, not the colours. Object
    borders carry 255 and are ignored. The augmented set (SBD) adds
    ``SegmentationClassAug/*.png`` and ``ImageSets/Segmentation/aug.txt``, written by
    ``tools/dataset_converters/voc_aug.py``; ``_base_/datasets/pascal_voc12_aug.py``
    concatenates both.

    Args:
        ann_file: split file of stems, relative to ``data_root``.
        img_suffix: image suffix.
        seg_map_suffix: mask suffix.
        data_prefix: image and mask folders, relative to ``data_root``.
        **kwargs: BaseSegDataset's arguments.
    """

    METAINFO = dict(classes=VOC_CLASSES, palette=VOC_PALETTE)

    def __init__(self,
                 ann_file: str = 'ImageSets/Segmentation/train.txt',
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 data_prefix: dict = dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
                 **kwargs: Any) -> None:
        super().__init__(ann_file=ann_file, img_suffix=img_suffix,
                         seg_map_suffix=seg_map_suffix, data_prefix=data_prefix, **kwargs)
