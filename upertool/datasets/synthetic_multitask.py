"""The synthetic shapes set extended to the four tasks of Unified Perceptual Parsing.

Scenes are drawn as in `synthetic_shapes.py` (same layers, same fill distribution), with
three more annotations, each learnable from the image:

- parts: squares have (border, centre), stars (tips, core), rings (rim, inner band),
  by the pixel's place in the shape (the centre is a concentric square of 0.6 x the
  size, the core the star's inner disc, the rim the outer half of the annulus);
- materials: the texture family of the fill that shows at each pixel (flat, gradient,
  stripes, noise), for shapes, clutter and background alike;
- scene: the shape class covering the most visible pixels ("circle scene", ...).

As Broden+, the training images come from sources that annotate different tasks:
`subset='parsing'` (objects, parts, scene; the first `num_parsing` train images) and
`subset='materials'` (materials only; the rest). Only the annotations of an image's
source are written. The val split carries every annotation (`subset='all'`).

On-disk layout (written once, then read through the normal loading path):

    <root>/img_dir/<split>/00000.png
    <root>/ann_dir/{object,part,material}/<split>/00000.png
    <root>/scene.json          {split: {stem: scene label}}
    <root>/meta.json           the generation parameters
"""
from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Any

import cv2
import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from upertool.registry import DATASETS

from .synthetic import _write_mask
from .synthetic_shapes import (
    _CENTRE_MARGIN,
    _POLY_SCALE,
    _STAR_INNER,
    CLASSES,
    PALETTE,
    TEXTURES,
    ShapeSceneGenerator,
)

GENERATOR_VERSION = 1
# (object class, part names): each group is one softmax in the model
PART_GROUPS = ((2, ('border', 'centre')), (4, ('tips', 'core')), (5, ('rim', 'inner band')))
SCENES = tuple(f'{name} scene' for name in CLASSES[1:])
_SPLIT_IDS = {'train': 0, 'val': 1}
SUBSET_TASKS = {'parsing': ('object', 'part', 'scene'), 'materials': ('material',),
                'all': ('object', 'part', 'scene', 'material')}
_SQUARE_CENTRE = 0.6
_RING_RIM = 0.75
_NUM_SHAPE_CLASSES = len(CLASSES)


class MultiTaskSceneGenerator(ShapeSceneGenerator):
    """ShapeSceneGenerator that also records parts, materials and the scene label."""

    def _part_of(self, cls: int, cx: float, cy: float, r: float, angle: float,
                 region: np.ndarray) -> np.ndarray | None:
        """Part index (uint8, 255 outside `region`) of shape `cls`, None if it has none."""
        name = CLASSES[cls]
        if name == 'square':
            inner = self.shape_mask(cls, cx, cy, r * _SQUARE_CENTRE, angle)
        elif name == 'star':
            inner = self._disc(cx, cy, r * _POLY_SCALE['star'] * _STAR_INNER)
        elif name == 'ring':
            inner = self._disc(cx, cy, r * _RING_RIM)
        else:
            return None
        return np.where(region, inner.astype(np.uint8), 255).astype(np.uint8)

    def render_multi_task(self, rng: np.random.Generator) -> dict[str, Any]:
        """One scene: image, object / part / material maps (S, S) uint8 and a scene label."""
        s = self.size
        values, kind = self._fill_and_kind(rng, np.arange(s * s))
        canvas = np.array(values, dtype=np.float32)
        label = np.zeros((s, s), np.uint8)
        material = np.full((s, s), kind, np.uint8)
        part = np.full((s, s), 255, np.uint8)
        for _ in range(int(rng.integers(self.num_clutter[0], self.num_clutter[1] + 1))):
            region = self._clutter_mask(rng)
            self._record(self._paint(rng, canvas, region), region, material)
        for _ in range(int(rng.integers(self.num_shapes[0], self.num_shapes[1] + 1))):
            cls = int(rng.integers(1, len(CLASSES)))
            cx, cy = rng.uniform(_CENTRE_MARGIN * s, (1 - _CENTRE_MARGIN) * s, 2)
            r = rng.uniform(*self.radius_range) * s
            angle = rng.uniform(0, 2 * np.pi)
            region = self.shape_mask(cls, cx, cy, r, angle)
            self._record(self._paint(rng, canvas, region), region, material)
            label[region] = cls
            parts = self._part_of(cls, cx, cy, r, angle, region)
            part[region] = 255 if parts is None else parts[region]
        if rng.uniform() < self.front_line_prob:
            region = self._line_mask(rng, int(rng.integers(1, 3)))
            self._record(self._paint(rng, canvas, region), region, material)
            label[region] = 0
            part[region] = 255
        areas = np.bincount(label.ravel(), minlength=_NUM_SHAPE_CLASSES)[1:]
        return dict(img=self._finish(rng, canvas.reshape(s, s, 3)), object=label, part=part,
                    material=material, scene=int(areas.argmax()))

    @staticmethod
    def _record(kind: int | None, region: np.ndarray, material: np.ndarray) -> None:
        if kind is not None:
            material[region] = kind


def _generate(root: str, params: dict) -> None:
    """Write `params['split']` of the set to `root` (atomically, as SyntheticShapesDataset)."""
    gen_args = {k: params[k] for k in ('image_size', 'num_shapes', 'radius_range',
                                       'num_clutter', 'front_line_prob', 'noise_std',
                                       'min_contrast')}
    generator = MultiTaskSceneGenerator(**gen_args)
    split = params['split']
    parent = osp.dirname(osp.abspath(root))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{osp.basename(root)}.tmp-', dir=parent)
    os.chmod(tmp, 0o755)
    try:
        print_log(f"SyntheticMultiTaskDataset: generating {params['num_images']} {split} "
                  f'images into {root}', logger='current')
        for sub in ('img_dir', 'ann_dir/object', 'ann_dir/part', 'ann_dir/material'):
            os.makedirs(osp.join(tmp, sub, split))
        scenes = {}
        for i in range(params['num_images']):
            rng = np.random.default_rng([params['seed'], _SPLIT_IDS[split], i])
            out = generator.render_multi_task(rng)
            stem = f'{i:05d}'
            cv2.imwrite(osp.join(tmp, 'img_dir', split, f'{stem}.png'), out['img'])
            source = _source_of(i, params)
            if source in ('parsing', 'all'):
                _write_mask(out['object'], osp.join(tmp, 'ann_dir/object', split, f'{stem}.png'))
                cv2.imwrite(osp.join(tmp, 'ann_dir/part', split, f'{stem}.png'), out['part'])
                scenes[stem] = out['scene']
            if source in ('materials', 'all'):
                cv2.imwrite(osp.join(tmp, 'ann_dir/material', split, f'{stem}.png'),
                            out['material'])
        with open(osp.join(tmp, 'scene.json'), 'w') as f:
            json.dump({split: scenes}, f)
        with open(osp.join(tmp, 'meta.json'), 'w') as f:
            json.dump(params, f, indent=1)
        try:
            os.rename(tmp, root)
        except OSError:
            if not osp.isfile(osp.join(root, 'meta.json')):
                raise
    finally:
        if osp.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def _source_of(index: int, params: dict) -> str:
    if params['split'] != 'train':
        return 'all'
    return 'parsing' if index < params['num_parsing'] else 'materials'


@DATASETS.register_module()
class SyntheticMultiTaskDataset(BaseDataset):
    """Shapes with objects, parts, materials and a scene label, for trying UPP in minutes.

    Args:
        split: 'train' or 'val'.
        subset: 'parsing' (train images 0 .. num_parsing-1: objects, parts, scene),
            'materials' (the other train images: materials) or 'all' (val: every task).
        num_train: train images (both sources).
        num_parsing: how many of them belong to the parsing source.
        num_val: val images.
        image_size, seed, num_shapes, radius_range, num_clutter, front_line_prob,
        noise_std, min_contrast: the scene parameters, as SyntheticShapesDataset.
        cache_dir: folder holding one generated split per parameter hash.
        **kwargs: mmengine BaseDataset's arguments (pipeline, test_mode, indices, ...).
    """

    METAINFO = dict(classes=CLASSES, palette=PALETTE, scenes=SCENES, materials=TEXTURES,
                    part_groups=[(obj, list(parts)) for obj, parts in PART_GROUPS])

    def __init__(self, split: str = 'train', subset: str = 'all', num_train: int = 3000,
                 num_parsing: int = 2000, num_val: int = 300, image_size: int = 96,
                 seed: int = 0, num_shapes: tuple[int, int] = (3, 6),
                 radius_range: tuple[float, float] = (0.12, 0.25),
                 num_clutter: tuple[int, int] = (1, 3), front_line_prob: float = 0.2,
                 noise_std: float = 5., min_contrast: float = 90.,
                 cache_dir: str = 'data/synthetic_multitask', **kwargs: Any) -> None:
        name = type(self).__name__
        if split not in _SPLIT_IDS:
            raise ValueError(f'{name}: split must be one of {list(_SPLIT_IDS)}, got {split!r}')
        if subset not in SUBSET_TASKS:
            raise ValueError(f'{name}: subset must be one of {list(SUBSET_TASKS)}, got '
                             f'{subset!r}')
        if (split == 'train') == (subset == 'all'):
            raise ValueError(f"{name}: the train split has subsets 'parsing' and 'materials', "
                             f"the val split 'all'; got split={split!r}, subset={subset!r}")
        if not 0 < num_parsing < num_train:
            raise ValueError(f'{name}: need 0 < num_parsing < num_train, got {num_parsing} '
                             f'and {num_train}')
        self.split, self.subset = split, subset
        self.tasks = SUBSET_TASKS[subset]
        self.params = dict(
            version=GENERATOR_VERSION, split=split,
            num_images=int(num_train if split == 'train' else num_val),
            num_parsing=int(num_parsing) if split == 'train' else 0,
            image_size=int(image_size), seed=int(seed), num_shapes=list(num_shapes),
            radius_range=[float(r) for r in radius_range], num_clutter=list(num_clutter),
            front_line_prob=float(front_line_prob), noise_std=float(noise_std),
            min_contrast=float(min_contrast))
        digest = hashlib.sha1(json.dumps(self.params, sort_keys=True).encode()).hexdigest()
        root = osp.join(cache_dir, f'{split}-{digest[:12]}')
        if not osp.isfile(osp.join(root, 'meta.json')):
            _generate(root, self.params)
        super().__init__(data_root=root, **kwargs)

    def load_data_list(self) -> list[dict]:
        root, split = self.data_root, self.split
        with open(osp.join(root, 'scene.json')) as f:
            scenes = json.load(f)[split]
        data_list = []
        for i in range(self.params['num_images']):
            source = _source_of(i, self.params)
            if source != self.subset:
                continue
            stem = f'{i:05d}'
            info = dict(img_path=osp.join(root, 'img_dir', split, f'{stem}.png'),
                        source=self.subset, tasks=self.tasks, seg_fields=[])
            if 'object' in self.tasks:
                info['seg_map_path'] = osp.join(root, 'ann_dir/object', split, f'{stem}.png')
                info['part_seg_map_path'] = osp.join(root, 'ann_dir/part', split,
                                                     f'{stem}.png')
                info['scene_label'] = scenes[stem]
            if 'material' in self.tasks:
                info['material_seg_map_path'] = osp.join(root, 'ann_dir/material', split,
                                                         f'{stem}.png')
            data_list.append(info)
        return data_list
