"""SyntheticShapesDataset: a seeded shapes-in-clutter set, written once to disk, then
read back through BaseSegDataset, so the real loading path is exercised.

On-disk layout (as any mmsegmentation dataset)::

    <root>/img_dir/{train,val}/00000.png   BGR images
    <root>/ann_dir/{train,val}/00000.png   palette PNGs whose pixel values are class ids
    <root>/meta.json                       the generation parameters

``<root>`` is ``<cache_dir>/<hash of the parameters>`` unless ``data_root`` names it.
Generation writes into a temporary folder beside ``<root>`` and renames it into place,
so concurrent processes never see a half-written set (the loser of the race discards
its copy). See ``synthetic_shapes.py`` for what the scenes contain.
"""
import hashlib
import json
import os
import os.path as osp
import shutil
import tempfile
import time
from typing import Any

import cv2
import numpy as np
from mmengine.logging import print_log
from PIL import Image

from upertool.registry import DATASETS

from .base import BaseSegDataset
from .synthetic_shapes import CLASSES, PALETTE, ShapeSceneGenerator

# Bump when the drawing code changes, so caches of older scenes are not reused.
GENERATOR_VERSION = 2
_SPLIT_IDS = {'train': 0, 'val': 1}


def _write_mask(mask: np.ndarray, path: str) -> None:
    img = Image.fromarray(mask)  # mode L; putpalette turns it into P, indices kept
    flat = [v for colour in PALETTE for v in colour]
    img.putpalette(flat + [0] * (768 - len(flat)))
    img.save(path, optimize=False)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temporaries(parent: str, name: str, max_age_s: float = 3600.) -> list[str]:
    """Remove `.<name>.tmp-<pid>-*` folders of generations whose process is gone (killed).

    Folders without a pid (older versions) are removed once older than `max_age_s`; a live
    process's folder is left alone, as another process may be generating right now.
    """
    removed = []
    prefix = f'.{name}.tmp-'
    for entry in os.listdir(parent) if osp.isdir(parent) else []:
        if not entry.startswith(prefix):
            continue
        path = osp.join(parent, entry)
        pid = entry[len(prefix):].split('-', 1)[0]
        stale = (not pid_alive(int(pid))) if pid.isdigit() else (
            time.time() - osp.getmtime(path) > max_age_s)
        if stale:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    if removed:
        print_log(f'SyntheticShapesDataset: removed {len(removed)} unfinished generation(s) of '
                  f'killed runs: {removed}', logger='current')
    return removed


def generate_synthetic_shapes(root: str, params: dict, log_every: int = 500) -> None:
    """Write the train and val splits for ``params`` to ``root`` (which must not exist).

    Sample ``i`` of a split is drawn from its own generator seeded with
    (seed, split id, i), so samples do not depend on each other or on the order.
    """
    gen_args = {k: params[k] for k in ('image_size', 'num_shapes', 'radius_range',
                                       'num_clutter', 'front_line_prob', 'noise_std',
                                       'min_contrast')}
    generator = ShapeSceneGenerator(**gen_args)
    parent = osp.dirname(osp.abspath(root))
    os.makedirs(parent, exist_ok=True)
    remove_stale_temporaries(parent, osp.basename(root))
    tmp = tempfile.mkdtemp(prefix=f'.{osp.basename(root)}.tmp-{os.getpid()}-', dir=parent)
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the set is meant to be shared
    try:
        total = params['num_train'] + params['num_val']
        done, start = 0, time.perf_counter()
        print_log(f'SyntheticShapesDataset: generating {total} images of '
                  f"{params['image_size']}px into {root}", logger='current')
        for split, count in (('train', params['num_train']), ('val', params['num_val'])):
            img_dir = osp.join(tmp, 'img_dir', split)
            ann_dir = osp.join(tmp, 'ann_dir', split)
            os.makedirs(img_dir)
            os.makedirs(ann_dir)
            for i in range(count):
                rng = np.random.default_rng([params['seed'], _SPLIT_IDS[split], i])
                img, mask = generator.render(rng)
                cv2.imwrite(osp.join(img_dir, f'{i:05d}.png'), img)
                _write_mask(mask, osp.join(ann_dir, f'{i:05d}.png'))
                done += 1
                if done % log_every == 0 and done < total:
                    print_log(f'SyntheticShapesDataset: {done}/{total} images '
                              f'({time.perf_counter() - start:.1f}s)', logger='current')
        with open(osp.join(tmp, 'meta.json'), 'w') as f:
            json.dump(dict(params, classes=list(CLASSES), palette=PALETTE), f, indent=1)
        try:
            os.rename(tmp, root)  # atomic; fails if another process got there first
        except OSError:
            if not osp.isfile(osp.join(root, 'meta.json')):
                raise
        print_log(f'SyntheticShapesDataset: {total} images in '
                  f'{time.perf_counter() - start:.1f}s', logger='current')
    finally:
        if osp.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


@DATASETS.register_module()
class SyntheticShapesDataset(BaseSegDataset):
    """Shapes in clutter: background, circle, square, triangle, star, ring.

    Built so that shape and context, not colour, decide the label: every region's colour
    and texture come from one distribution, so a per-pixel colour classifier stays near
    chance while a small CNN learns the shapes.

    Args:
        split: 'train' or 'val'.
        num_train: images in the train split.
        num_val: images in the val split.
        image_size: side of the square images.
        seed: generation seed; same parameters -> byte-identical files.
        cache_dir: folder holding one subfolder per parameter hash.
        data_root: exact folder to use instead (generated there if absent).
        num_shapes: (min, max) shapes per image.
        radius_range: (min, max) shape radius, fraction of the image side.
        num_clutter: (min, max) unlabelled clutter items (lines, blobs, bands).
        front_line_prob: chance of a thin line over the shapes (labelled background).
        noise_std: per-pixel Gaussian noise std.
        min_contrast: least RGB distance between an object's mean colour and what it covers
            (lower is harder).
        **kwargs: BaseSegDataset's arguments (pipeline, test_mode, indices, ...).
    """

    METAINFO = dict(classes=CLASSES, palette=PALETTE)

    def __init__(self,
                 split: str = 'train',
                 num_train: int = 2000,
                 num_val: int = 200,
                 image_size: int = 96,
                 seed: int = 0,
                 cache_dir: str = 'data/synthetic_shapes',
                 data_root: str | None = None,
                 num_shapes: tuple[int, int] = (3, 6),
                 radius_range: tuple[float, float] = (0.12, 0.25),
                 num_clutter: tuple[int, int] = (1, 3),
                 front_line_prob: float = 0.2,
                 noise_std: float = 5.,
                 min_contrast: float = 90.,
                 **kwargs: Any) -> None:
        if split not in _SPLIT_IDS:
            raise ValueError(f'SyntheticShapesDataset: split must be one of '
                             f'{list(_SPLIT_IDS)}, got {split!r}')
        if num_train < 1 or num_val < 1:
            raise ValueError('SyntheticShapesDataset: num_train and num_val must be >= 1, '
                             f'got {num_train} and {num_val}')
        self.split = split
        self.params = dict(
            version=GENERATOR_VERSION, num_train=int(num_train), num_val=int(num_val),
            image_size=int(image_size), seed=int(seed), num_shapes=list(num_shapes),
            radius_range=[float(r) for r in radius_range], num_clutter=list(num_clutter),
            front_line_prob=float(front_line_prob), noise_std=float(noise_std),
            min_contrast=float(min_contrast))
        digest = hashlib.sha1(json.dumps(self.params, sort_keys=True).encode()).hexdigest()
        root = data_root if data_root is not None else osp.join(cache_dir, digest[:12])
        self._ensure_generated(root)
        super().__init__(
            data_root=root,
            data_prefix=dict(img_path=f'img_dir/{split}', seg_map_path=f'ann_dir/{split}'),
            img_suffix='.png', seg_map_suffix='.png', reduce_zero_label=False, **kwargs)

    def _ensure_generated(self, root: str) -> None:
        meta_path = osp.join(root, 'meta.json')
        if not osp.exists(root) or (osp.isdir(root) and not os.listdir(root)):
            if osp.isdir(root):
                os.rmdir(root)  # an empty folder would block the atomic rename
            generate_synthetic_shapes(root, self.params)
            return
        if not osp.isfile(meta_path):
            raise FileExistsError(f'SyntheticShapesDataset: {root!r} exists but holds no '
                                  'meta.json; it is not a synthetic shapes set (choose '
                                  'another data_root or remove the folder)')
        with open(meta_path) as f:
            found = {k: v for k, v in json.load(f).items() if k in self.params}
        if found != self.params:
            diff = {k: (found.get(k), v) for k, v in self.params.items() if found.get(k) != v}
            raise ValueError(f'SyntheticShapesDataset: {root!r} was generated with other '
                             f'parameters (found, wanted): {diff}; remove it or choose another '
                             'data_root')
