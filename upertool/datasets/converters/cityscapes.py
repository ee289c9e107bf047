"""Cityscapes: official label ids (``*_gtFine_labelIds.png``) -> the 19 train ids.

The result, ``*_gtFine_labelTrainIds.png`` beside each original, is what
``CityscapesDataset`` reads. The table below restates the Cityscapes label definition
(id, name, trainId); every label that is not one of the 19 evaluated classes gets 255.
"""
from __future__ import annotations

import os
import os.path as osp
import re

import numpy as np
from PIL import Image

from .common import (
    ConversionSummary,
    Log,
    check_output_folder,
    encode_png,
    require_dir,
    run_parallel,
    write_if_changed,
)

# (label id, name, train id) of the Cityscapes label definition. 'license plate' (id -1)
# exists only in the instance tooling and never appears in a labelIds image.
CITYSCAPES_LABELS: tuple[tuple[int, str, int], ...] = (
    (0, 'unlabeled', 255), (1, 'ego vehicle', 255), (2, 'rectification border', 255),
    (3, 'out of roi', 255), (4, 'static', 255), (5, 'dynamic', 255), (6, 'ground', 255),
    (7, 'road', 0), (8, 'sidewalk', 1), (9, 'parking', 255), (10, 'rail track', 255),
    (11, 'building', 2), (12, 'wall', 3), (13, 'fence', 4), (14, 'guard rail', 255),
    (15, 'bridge', 255), (16, 'tunnel', 255), (17, 'pole', 5), (18, 'polegroup', 255),
    (19, 'traffic light', 6), (20, 'traffic sign', 7), (21, 'vegetation', 8),
    (22, 'terrain', 9), (23, 'sky', 10), (24, 'person', 11), (25, 'rider', 12),
    (26, 'car', 13), (27, 'truck', 14), (28, 'bus', 15), (29, 'caravan', 255),
    (30, 'trailer', 255), (31, 'train', 16), (32, 'motorcycle', 17), (33, 'bicycle', 18))

LABEL_IDS_SUFFIX = '_gtFine_labelIds.png'
TRAIN_IDS_SUFFIX = '_gtFine_labelTrainIds.png'
# What the official gtFine archive holds next to the label ids, plus our output.
_GTFINE_FILE_RE = re.compile(
    r'.+_gtFine_(labelIds|labelTrainIds|instanceIds|color)\.png|.+_gtFine_polygons\.json')


def label_id_lut() -> np.ndarray:
    """(256,) int16 lookup table label id -> train id; -1 marks ids Cityscapes lacks."""
    lut = np.full(256, -1, np.int16)
    for label_id, _, train_id in CITYSCAPES_LABELS:
        lut[label_id] = train_id
    return lut


def label_ids_to_train_ids(label_ids: np.ndarray, path: str = '<array>') -> np.ndarray:
    """Map an (H, W) label-id map to train ids (uint8, 255 = ignored).

    Raises:
        ValueError: naming ``path`` for a non-2-D map or values that are no Cityscapes id.
    """
    if label_ids.ndim != 2:
        raise ValueError(f'{path!r}: expected a single-channel label-id image, got shape '
                         f'{label_ids.shape}')
    if label_ids.size and (label_ids.min() < 0 or label_ids.max() > 255):
        raise ValueError(f'{path!r}: label ids in [{label_ids.min()}, {label_ids.max()}] are '
                         'not Cityscapes label ids (0-33)')
    lut = label_id_lut()
    mapped = lut[label_ids.astype(np.int64)]
    if (mapped < 0).any():
        bad = np.unique(label_ids[mapped < 0]).tolist()
        raise ValueError(f'{path!r}: values {bad[:10]} are not Cityscapes label ids (0-33); '
                         'is this a *_gtFine_labelIds.png?')
    return mapped.astype(np.uint8)


def _convert_one(src: str) -> bool:
    with Image.open(src) as img:
        label_ids = np.array(img)
    train_ids = label_ids_to_train_ids(label_ids, src)
    dst = src[:-len(LABEL_IDS_SUFFIX)] + TRAIN_IDS_SUFFIX
    return write_if_changed(dst, encode_png(train_ids))


def convert_cityscapes(gt_dir: str, *, nproc: int = 1, log: Log = print,
                       log_every: int = 500) -> ConversionSummary:
    """Write ``*_gtFine_labelTrainIds.png`` next to every ``*_gtFine_labelIds.png``.

    Files already holding the right bytes are left untouched, so a second run changes
    nothing. The folder may hold only files of the official gtFine archive (label ids,
    instance ids, colour images, polygons) and earlier outputs: anything else means it
    is not a Cityscapes gtFine folder, and nothing is written.

    Args:
        gt_dir: the ``gtFine`` folder (``<split>/<city>/...`` below it).
        nproc: worker processes.
        log: receives progress lines.
        log_every: progress line interval, in files.

    Returns:
        How many masks were converted and how many of them were (re)written.
    """
    require_dir(gt_dir, 'Cityscapes gtFine folder')
    check_output_folder(gt_dir, lambda rel: bool(_GTFINE_FILE_RE.fullmatch(osp.basename(rel))),
                        'cityscapes converter')
    sources = sorted(
        osp.join(dirpath, name) for dirpath, _, names in os.walk(gt_dir) for name in names
        if name.endswith(LABEL_IDS_SUFFIX))
    if not sources:
        raise FileNotFoundError(f'cityscapes converter: no *{LABEL_IDS_SUFFIX} found under '
                                f'{gt_dir!r} (searched recursively)')
    summary = run_parallel(_convert_one, sources, nproc=nproc, log=log,
                           what='cityscapes labelIds -> labelTrainIds', log_every=log_every)
    log(f'cityscapes: {summary.total} masks, {summary.written} written, '
        f'{summary.unchanged} already up to date')
    return summary
