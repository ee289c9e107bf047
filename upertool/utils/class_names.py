"""Class names and palettes by dataset name, as mmsegmentation 1.x's `mmseg.utils.class_names`.

The lists are the `METAINFO` of upertool's dataset classes, so there is one copy of each.
Datasets upertool does not ship (Pascal Context, LoveDA, iSAID, ...) are refused with a
ValueError that lists the names it knows.
"""
from __future__ import annotations

from upertool.datasets.ade import ADE20KDataset
from upertool.datasets.cityscapes import CityscapesDataset
from upertool.datasets.coco_stuff import COCOStuffDataset
from upertool.datasets.voc import PascalVOCDataset

dataset_aliases: dict[str, list[str]] = {
    'cityscapes': ['cityscapes'],
    'ade': ['ade', 'ade20k'],
    'voc': ['voc', 'pascal_voc', 'voc12', 'voc12aug'],
    'cocostuff': ['cocostuff', 'cocostuff10k', 'cocostuff164k', 'coco-stuff', 'coco-stuff10k',
                  'coco-stuff164k', 'coco_stuff', 'coco_stuff10k', 'coco_stuff164k'],
}
_DATASETS = {'cityscapes': CityscapesDataset, 'ade': ADE20KDataset, 'voc': PascalVOCDataset,
             'cocostuff': COCOStuffDataset}


def _lookup(dataset: str, key: str) -> list:
    if not isinstance(dataset, str):
        raise TypeError(f'dataset must be a str, but got {type(dataset)}')
    for name, aliases in dataset_aliases.items():
        if dataset in aliases:
            return [list(v) if isinstance(v, (list, tuple)) else v
                    for v in _DATASETS[name].METAINFO[key]]
    known = sorted(a for aliases in dataset_aliases.values() for a in aliases)
    raise ValueError(f'Unrecognized dataset: {dataset} (upertool knows {known})')


def get_classes(dataset: str) -> list[str]:
    """Class names of a dataset given by name or alias (e.g. 'ade20k')."""
    return _lookup(dataset, 'classes')


def get_palette(dataset: str) -> list[list[int]]:
    """RGB colour per class of a dataset given by name or alias."""
    return _lookup(dataset, 'palette')


def cityscapes_classes() -> list[str]:
    return get_classes('cityscapes')


def cityscapes_palette() -> list[list[int]]:
    return get_palette('cityscapes')


def ade_classes() -> list[str]:
    return get_classes('ade')


def ade_palette() -> list[list[int]]:
    return get_palette('ade')


def voc_classes() -> list[str]:
    return get_classes('voc')


def voc_palette() -> list[list[int]]:
    return get_palette('voc')


def cocostuff_classes() -> list[str]:
    return get_classes('cocostuff')


def cocostuff_palette() -> list[list[int]]:
    return get_palette('cocostuff')
