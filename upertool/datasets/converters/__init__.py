"""Dataset preparation: converters from the official download formats to the label PNGs the
datasets read, and the helpers they share. ``tools/dataset_converters/*`` are thin command
lines over these functions; ``stats`` and ``browse`` (imported by module path, they pull in
more) back ``tools/analysis/``."""
from .cityscapes import CITYSCAPES_LABELS, convert_cityscapes, label_ids_to_train_ids
from .coco_stuff import (
    category_to_train_id,
    convert_coco_stuff_164k,
    load_coco_json,
    rasterize,
    raw_to_train_id,
)
from .coco_stuff10k import category_to_10k_train_id, convert_coco_stuff_10k, read_10k_mask
from .color_masks import UnknownColorError, colors_to_index, convert_color_masks
from .common import ConversionSummary, check_output_folder, write_if_changed
from .voc_aug import aug_split_lists, convert_voc_aug, read_sbd_mask

__all__ = [
    'CITYSCAPES_LABELS', 'ConversionSummary', 'UnknownColorError', 'aug_split_lists',
    'category_to_10k_train_id', 'category_to_train_id', 'check_output_folder',
    'colors_to_index', 'convert_cityscapes', 'convert_coco_stuff_10k',
    'convert_coco_stuff_164k', 'convert_color_masks', 'convert_voc_aug',
    'label_ids_to_train_ids', 'load_coco_json', 'rasterize', 'raw_to_train_id',
    'read_10k_mask', 'read_sbd_mask', 'write_if_changed'
]
