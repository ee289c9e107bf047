"""Pascal VOC augmented set: SBD ``dataset/cls/*.mat`` -> ``SegmentationClassAug/*.png``
and the merged split lists ``aug.txt`` / ``trainaug.txt``, as mmsegmentation's converter.

Split lists (sorted, so reruns write the same bytes):

- ``trainaug.txt`` = (VOC train + SBD train + SBD val) - VOC val (10582 stems on the real
  data): every image with a training mask that is not used for validation;
- ``aug.txt`` = (SBD train + SBD val) - (VOC train + VOC val) (9118 stems): the SBD-only
  images. ``_base_/datasets/pascal_voc12_aug.py`` trains on ``train.txt`` with
  ``SegmentationClass`` plus ``aug.txt`` with ``SegmentationClassAug``.
"""
from __future__ import annotations

import os
import os.path as osp
from functools import partial

import numpy as np

from ..voc import VOC_PALETTE
from .common import (
    ConversionSummary,
    Log,
    check_output_folder,
    encode_png,
    import_scipy_io,
    read_lines,
    require_dir,
    run_parallel,
    write_if_changed,
)

VOC_NUM_CLASSES = 21


def _unwrap(value: object) -> object:
    # loadmat wraps MATLAB structs and cells in (1, 1) object arrays, level after level.
    while isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
        value = value.flat[0]
    return value


def read_sbd_mask(path: str) -> np.ndarray:
    """The (H, W) uint8 class map of an SBD ``cls/*.mat`` file (``GTcls.Segmentation``).

    Raises:
        ValueError: naming the file when it is not an SBD class file or holds values
            other than 0-20 (255 is accepted as "ignore").
    """
    sio = import_scipy_io()
    try:
        data = sio.loadmat(path)
    except Exception as err:  # scipy raises several types for a corrupt or foreign file
        raise ValueError(f'cannot read SBD mask {path!r}: {type(err).__name__}: {err}'
                         ) from err
    gt = _unwrap(data.get('GTcls'))
    names = getattr(getattr(gt, 'dtype', None), 'names', None) or ()
    if gt is None or 'Segmentation' not in names:
        raise ValueError(f'{path!r} is not an SBD class file: no GTcls.Segmentation '
                         f'(variables: {sorted(k for k in data if not k.startswith("__"))})')
    seg = np.asarray(_unwrap(gt['Segmentation']))
    if seg.ndim != 2:
        raise ValueError(f'{path!r}: GTcls.Segmentation has shape {seg.shape}, expected (H, W)')
    values = np.unique(seg)
    bad = values[(values < 0) | ((values >= VOC_NUM_CLASSES) & (values != 255))]
    if bad.size:
        raise ValueError(f'{path!r}: GTcls.Segmentation holds values {bad.tolist()[:10]} '
                         f'outside the VOC class ids 0-{VOC_NUM_CLASSES - 1}')
    return seg.astype(np.uint8)


def _convert_one(stem: str, cls_dir: str, out_dir: str) -> bool:
    mask = read_sbd_mask(osp.join(cls_dir, stem + '.mat'))
    # Palette PNGs like the official SegmentationClass: indices are the classes.
    return write_if_changed(osp.join(out_dir, stem + '.png'), encode_png(mask, VOC_PALETTE))


def aug_split_lists(voc_train: list[str], voc_val: list[str], sbd_train: list[str],
                    sbd_val: list[str]) -> tuple[list[str], list[str]]:
    """(trainaug, aug) stems, sorted; see the module docstring for the set arithmetic."""
    sbd = set(sbd_train) | set(sbd_val)
    trainaug = sorted((set(voc_train) | sbd) - set(voc_val))
    aug = sorted(sbd - set(voc_train) - set(voc_val))
    return trainaug, aug


def convert_voc_aug(devkit_path: str, aug_path: str, out_dir: str | None = None, *,
                    nproc: int = 1, log: Log = print, log_every: int = 500
                    ) -> ConversionSummary:
    """Convert SBD class masks to PNG and write the merged split lists.

    Reads ``aug_path/dataset/{cls/*.mat,train.txt,val.txt}`` and
    ``devkit_path/VOC2012/ImageSets/Segmentation/{train,val}.txt``; writes
    ``out_dir/<stem>.png`` (default ``devkit_path/VOC2012/SegmentationClassAug``) and
    ``VOC2012/ImageSets/Segmentation/{trainaug,aug}.txt``. Every input is checked before
    anything is written: a missing file or list, an SBD stem without its ``.mat``, or a
    ``.mat`` whose image is missing from ``JPEGImages`` each stop with an error naming
    the file. Unchanged outputs are not rewritten.

    Args:
        devkit_path: the ``VOCdevkit`` folder (holding ``VOC2012``).
        aug_path: the unpacked SBD folder (holding ``dataset/cls``).
        out_dir: where the PNG masks go; it may only hold masks of SBD stems.
        nproc: worker processes.
        log: receives progress lines.
        log_every: progress line interval, in files.

    Returns:
        How many masks were converted and how many of them were (re)written.
    """
    voc_root = osp.join(devkit_path, 'VOC2012')
    split_dir = osp.join(voc_root, 'ImageSets', 'Segmentation')
    img_dir = require_dir(osp.join(voc_root, 'JPEGImages'), 'VOC image folder')
    cls_dir = require_dir(osp.join(aug_path, 'dataset', 'cls'), 'SBD class-mask folder')
    voc_train = read_lines(osp.join(split_dir, 'train.txt'), 'VOC split list')
    voc_val = read_lines(osp.join(split_dir, 'val.txt'), 'VOC split list')
    sbd_train = read_lines(osp.join(aug_path, 'dataset', 'train.txt'), 'SBD split list')
    sbd_val = read_lines(osp.join(aug_path, 'dataset', 'val.txt'), 'SBD split list')

    stems = sorted(name[:-4] for name in os.listdir(cls_dir) if name.endswith('.mat'))
    if not stems:
        raise FileNotFoundError(f'voc_aug converter: no .mat file in {cls_dir!r}')
    have_mat = set(stems)
    for lst, name in ((sbd_train, 'train.txt'), (sbd_val, 'val.txt')):
        missing = [s for s in lst if s not in have_mat]
        if missing:
            raise FileNotFoundError(
                f'voc_aug converter: {len(missing)} stem(s) of SBD list '
                f'{osp.join(aug_path, "dataset", name)!r} have no mask, e.g. '
                f'{osp.join(cls_dir, missing[0] + ".mat")!r}')
    images = set(os.listdir(img_dir))
    no_image = [s for s in stems if s + '.jpg' not in images]
    if no_image:
        raise FileNotFoundError(
            f'voc_aug converter: {len(no_image)} SBD mask(s) have no image, e.g. '
            f'{osp.join(cls_dir, no_image[0] + ".mat")!r} (expected '
            f'{osp.join(img_dir, no_image[0] + ".jpg")!r})')

    out_dir = out_dir or osp.join(voc_root, 'SegmentationClassAug')
    ours = {s + '.png' for s in stems}
    check_output_folder(out_dir, lambda rel: rel in ours, 'voc_aug converter')
    os.makedirs(out_dir, exist_ok=True)
    summary = run_parallel(partial(_convert_one, cls_dir=cls_dir, out_dir=out_dir), stems,
                           nproc=nproc, log=log, what='SBD .mat -> PNG', log_every=log_every)

    trainaug, aug = aug_split_lists(voc_train, voc_val, sbd_train, sbd_val)
    for name, lst in (('trainaug.txt', trainaug), ('aug.txt', aug)):
        text = ''.join(s + '\n' for s in lst).encode()
        write_if_changed(osp.join(split_dir, name), text)
    log(f'voc_aug: {summary.total} masks ({summary.written} written, {summary.unchanged} '
        f'unchanged); trainaug.txt {len(trainaug)} stems (10582 on the full data), '
        f'aug.txt {len(aug)} stems (9118)')
    return summary
