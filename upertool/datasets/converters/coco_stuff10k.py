"""COCO-Stuff 10k (cocostuff-10k-v1.1): ``annotations/*.mat`` -> train-id label PNGs.

Each ``.mat`` holds ``S``, an (H, W) map of COCO category ids (1-182, 0 = unlabeled).
The mapping is the 164k one (``coco_stuff.raw_to_train_id``) shifted by one, as
mmsegmentation's 10k converter: 0 stays 0 (unlabeled), a used category id ``c`` becomes
``train_id(c - 1) + 1`` (1-171), and 'other' (183) or an unused id becomes 0. Configs read
these maps with ``reduce_zero_label=True``.

Output, as mmsegmentation's layout::

    out_dir/images/{train2014,test2014}/<stem>.jpg                 (copied)
    out_dir/annotations/{train2014,test2014}/<stem>_labelTrainIds.png
"""
from __future__ import annotations

import os.path as osp
from functools import partial

import numpy as np

from .coco_stuff import OUT_SUFFIX, raw_to_train_id
from .common import (
    ConversionSummary,
    Log,
    check_output_folder,
    copy_if_changed,
    encode_png,
    import_scipy_io,
    read_lines,
    require_dir,
    require_file,
    run_parallel,
    write_if_changed,
)

SPLITS = (('train', 'train2014'), ('test', 'test2014'))


def category_to_10k_train_id() -> np.ndarray:
    """(256,) uint8 lookup table 10k category id -> train id (0 = unlabeled, 1-171)."""
    lut = np.zeros(256, np.uint8)
    shifted = raw_to_train_id()[:182].astype(np.int64) + 1  # 255 + 1 marks unused ids
    lut[1:183] = np.where(shifted <= 171, shifted, 0)
    return lut


def read_10k_mask(path: str) -> np.ndarray:
    """The (H, W) train-id map of a 10k ``.mat`` file (variable ``S``).

    Raises:
        ValueError: naming the file when it has no 2-D ``S`` or ids above 183.
    """
    sio = import_scipy_io()
    try:
        data = sio.loadmat(path)
    except Exception as err:  # scipy raises several types for a corrupt or foreign file
        raise ValueError(f'cannot read COCO-Stuff 10k mask {path!r}: '
                         f'{type(err).__name__}: {err}') from err
    if 'S' not in data:
        raise ValueError(f'{path!r} is not a COCO-Stuff 10k annotation: no variable "S" '
                         f'(variables: {sorted(k for k in data if not k.startswith("__"))})')
    labels = np.asarray(data['S'])
    if labels.ndim != 2:
        raise ValueError(f'{path!r}: "S" has shape {labels.shape}, expected (H, W)')
    if labels.size and (labels.min() < 0 or labels.max() > 183):
        raise ValueError(f'{path!r}: "S" holds ids in [{labels.min()}, {labels.max()}]; '
                         'COCO-Stuff ids are 0-183')
    return category_to_10k_train_id()[labels.astype(np.int64)]


def _convert_one(task: tuple[str, str], root: str, out_dir: str) -> bool:
    stem, split_dir = task
    copied = copy_if_changed(osp.join(root, 'images', stem + '.jpg'),
                             osp.join(out_dir, 'images', split_dir, stem + '.jpg'))
    label = read_10k_mask(osp.join(root, 'annotations', stem + '.mat'))
    dst = osp.join(out_dir, 'annotations', split_dir, stem + OUT_SUFFIX)
    return write_if_changed(dst, encode_png(label)) or copied


def convert_coco_stuff_10k(root: str, out_dir: str | None = None, *, nproc: int = 1,
                           log: Log = print, log_every: int = 500) -> ConversionSummary:
    """Convert the 10k release into mmsegmentation's layout under ``out_dir``.

    Reads ``root/imageLists/{train,test}.txt``, ``root/images/<stem>.jpg`` and
    ``root/annotations/<stem>.mat``; a missing list, image or mask is an error naming it,
    raised before anything is written. The four output folders may hold only files of
    listed stems. Unchanged outputs (copies included) are not rewritten.

    Args:
        root: the unpacked ``cocostuff-10k-v1.1`` folder.
        out_dir: output root; default ``root`` (as mmsegmentation).
        nproc: worker processes.
        log: receives progress lines.
        log_every: progress line interval, in images.
    """
    require_dir(root, 'COCO-Stuff 10k folder')
    out_dir = out_dir or root
    tasks = []
    for split, split_dir in SPLITS:
        list_file = osp.join(root, 'imageLists', f'{split}.txt')
        stems = read_lines(list_file, 'COCO-Stuff 10k image list')
        for stem in stems:
            require_file(osp.join(root, 'images', stem + '.jpg'),
                         f'image of stem {stem!r} listed in {list_file!r}:')
            require_file(osp.join(root, 'annotations', stem + '.mat'),
                         f'annotation of stem {stem!r} listed in {list_file!r}:')
        img_names = {s + '.jpg' for s in stems}
        ann_names = {s + OUT_SUFFIX for s in stems}
        check_output_folder(osp.join(out_dir, 'images', split_dir),
                            lambda rel, names=img_names: rel in names, 'coco_stuff 10k converter')
        check_output_folder(osp.join(out_dir, 'annotations', split_dir),
                            lambda rel, names=ann_names: rel in names, 'coco_stuff 10k converter')
        tasks += [(stem, split_dir) for stem in stems]
    summary = run_parallel(partial(_convert_one, root=root, out_dir=out_dir), tasks,
                           nproc=nproc, log=log, what='COCO-Stuff 10k .mat -> PNG',
                           log_every=log_every)
    log(f'coco_stuff 10k: {summary.total} images ({summary.written} written, '
        f'{summary.unchanged} unchanged) under {out_dir} (10000 on the full data)')
    return summary
