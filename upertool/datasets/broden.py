"""Broden+ (the Unified Perceptual Parsing training set) in the unifiedparsing repository's layout.

Read from the layout of CSAILVision/unifiedparsing (`broden_dataset_utils/`):

    <meta_root>/{object,part,scene,material}.csv     Broden+ labels (columns label,name)
    <meta_root>/label_assignment.csv                 dataset,category,raw_label,...,broden_label
    <meta_root>/object_part_hierarchy.csv            object_label,object_name,part_labels,...
                                                     (part_labels ';'-separated; the first, 0,
                                                     is '-', the object's unlabelled pixels)
    <meta_root>/<index>.json                         one record a line: {"dataset": "ade20k" |
                                                     "pascal" | "os", "file_index": i, ...}
    <meta_root>/ade20k/index_ade20k.mat              ADE20K's index (filename, folder)
    <meta_root>/ade20k/scene_categories.txt          "<stem> <scene>" per ADE20K image
    <data_root>/ade20k/<folder>/<name>.jpg           + <name>_seg.png (object), <name>_parts_1.png
                                                     (first part level); class = R / 10 * 256 + G
    <data_root>/opensurfaces/photos.csv              photo_id per file_index
    <data_root>/opensurfaces/photos/<id>.jpg         + photos-labels/<id>.png (material = R)
    <data_root>/pascal/...                           Pascal-Context objects + Pascal-Part parts
                                                     (see upertool/datasets/broden_pascal.py)

Labels follow `resolve_record` of the reference: raw labels mapped through
label_assignment.csv; ADE20K gives objects, parts and the scene, Pascal objects and parts,
OpenSurfaces materials.
Objects and materials keep Broden's labels, 0 meaning unlabelled (336 object classes do
not fit upertool's usual 255 ignore value): Broden+ configs set `ignore_index=0` and
`seg_pad_val=0`, which is the reference's NLL(ignore_index=0). Part groups whose
image shows fewer than two of the object's part labels are marked not annotated
(`part_valid`), as the reference decides. DTD (texture) records are skipped.
"""
from __future__ import annotations

import csv
import json
import os.path as osp
from typing import Any

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.dataset import BaseDataset
from PIL import Image

from upertool.registry import DATASETS, TRANSFORMS

from .broden_pascal import PascalLayout, load_context_objects, load_part_codes

SUPPORTED = ('ade20k', 'pascal', 'os')


def _read_csv(path: str) -> list[dict[str, str]]:
    if not osp.isfile(path):
        raise FileNotFoundError(f'Broden+: {path!r} is missing (see the layout in '
                                'upertool/datasets/broden.py)')
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


class BrodenMeta:
    """The label tables of a Broden+ `meta_root`: names, raw -> Broden maps, part groups."""

    def __init__(self, meta_root: str) -> None:
        self.label_names: dict[str, dict[int, str]] = {}
        self.names: dict[str, list[str]] = {}
        for cat in ('object', 'part', 'scene', 'material'):
            path = osp.join(meta_root, f'{cat}.csv')
            table = {int(row['label']): row['name'] for row in _read_csv(path)}
            self.label_names[cat] = table
            if cat != 'part' and sorted(table) != list(range(len(table))):
                raise ValueError(f'Broden+: {path} labels must be 0 .. N-1 (they index the '
                                 f'model channels), got {sorted(table)[:10]}...')
            self.names[cat] = [table[k] for k in sorted(table)]
        pairs: dict[tuple[str, str], dict[int, int]] = {}
        for row in _read_csv(osp.join(meta_root, 'label_assignment.csv')):
            pairs.setdefault((row['dataset'], row['category']), {})[int(row['raw_label'])] = \
                int(row['broden_label'])
        self.maps = {}
        for key, table in pairs.items():
            lut = np.zeros(max(table) + 1, np.int64)
            for raw, new in table.items():
                lut[raw] = new
            self.maps[key] = lut
        self.part_groups: list[tuple[int, list[int]]] = [
            (int(row['object_label']), [int(p) for p in row['part_labels'].split(';')])
            for row in _read_csv(osp.join(meta_root, 'object_part_hierarchy.csv'))]

    def map(self, dataset: str, category: str, raw: np.ndarray, where: str) -> np.ndarray:
        """Raw labels -> Broden labels (raw labels beyond the table are unlabelled, 0)."""
        lut = self.maps.get((dataset, category))
        if lut is None:
            raise ValueError(f'Broden+: label_assignment.csv has no ({dataset}, {category}) '
                             f'rows, needed for {where}')
        raw = np.asarray(raw, np.int64)
        return np.where(raw < len(lut), lut[np.clip(raw, 0, len(lut) - 1)], 0)


def decode_ade_class(path: str) -> np.ndarray:
    """ADE20K's RGB class encoding of `_seg.png` / `_parts_N.png`: R / 10 * 256 + G."""
    img = np.asarray(Image.open(path).convert('RGB'), np.int64)
    return img[..., 0] // 10 * 256 + img[..., 1]


@DATASETS.register_module()
class BrodenPlusDataset(BaseDataset):
    """Broden+ records of one index file, for MultiSourceDataset (one source per dataset).

    Args:
        data_root: the `broden_dataset` folder (ade20k/, opensurfaces/).
        meta_root: the `meta_file` folder (CSVs, index files, ade20k/ index).
        index_file: a JSON-lines index under meta_root, e.g. 'broden_ade20k_pascal_train.json'.
        datasets: which records to keep ('ade20k', 'pascal', 'os'); others are skipped only if not
            listed here, a listed unsupported one is an error.
        **kwargs: mmengine BaseDataset's (pipeline, indices, test_mode, ...).
    """

    def __init__(self, data_root: str, meta_root: str, index_file: str,
                 datasets: tuple[str, ...] = ('ade20k',), **kwargs: Any) -> None:
        unsupported = [d for d in datasets if d not in SUPPORTED]
        if unsupported:
            raise ValueError(f'BrodenPlusDataset: datasets {unsupported} are not supported '
                             f'(supported: {list(SUPPORTED)})')
        self.meta_root, self.index_file, self.datasets = meta_root, index_file, tuple(datasets)
        self.tables = BrodenMeta(meta_root)
        metainfo = dict(classes=self.tables.names['object'], scenes=self.tables.names['scene'],
                        materials=self.tables.names['material'],
                        part_groups=[(obj, [self.tables.label_names['part'][p] for p in parts])
                                     for obj, parts in self.tables.part_groups])
        kwargs.setdefault('metainfo', metainfo)
        super().__init__(data_root=data_root, **kwargs)

    def _ade_index(self) -> tuple[list[str], list[str], list[str]]:
        from scipy.io import loadmat  # the `data` extra; only ADE20K records need it

        mat = loadmat(osp.join(self.meta_root, 'ade20k', 'index_ade20k.mat'), squeeze_me=True)
        index = mat['index']
        names = [str(n) for n in np.atleast_1d(index['filename'][()])]
        folders = [str(f) for f in np.atleast_1d(index['folder'][()])]
        with open(osp.join(self.meta_root, 'ade20k', 'scene_categories.txt')) as f:
            scenes = [line.split()[1] for line in f if line.strip()]
        scenes = ['-' if s == 'misc' else s for s in scenes]
        return names, folders, scenes

    def load_data_list(self) -> list[dict]:
        path = osp.join(self.meta_root, self.index_file)
        if not osp.isfile(path):
            raise FileNotFoundError(f'BrodenPlusDataset: index {path!r} does not exist')
        with open(path) as f:
            records = [json.loads(line) for line in f if line.strip()]
        ade = self._ade_index() if 'ade20k' in self.datasets else None
        pascal = (PascalLayout(osp.join(self.data_root, 'pascal'))
                  if 'pascal' in self.datasets else None)
        photos = (_read_csv(osp.join(self.data_root, 'opensurfaces', 'photos.csv'))
                  if 'os' in self.datasets else None)
        data_list = []
        for n, rec in enumerate(records):
            source = rec.get('dataset')
            if source not in self.datasets:
                if source not in SUPPORTED + ('dtd',):
                    raise ValueError(f'{path} line {n + 1}: unknown dataset {source!r}')
                continue
            i = int(rec['file_index'])
            where = f'{path} line {n + 1} ({source} file_index {i})'
            if source == 'ade20k':
                names, folders, scenes = ade
                if not 0 <= i < len(names):
                    raise ValueError(f'{where}: outside the {len(names)} ADE20K index entries')
                img = osp.join(self.data_root, 'ade20k', folders[i], names[i])
                stem = img[:-len('.jpg')]
                parts = f'{stem}_parts_1.png'
                scene_names = ['-'] + sorted(set(scenes) - {'-'})
                raw_scene = scene_names.index(scenes[i])
                data_list.append(dict(
                    img_path=img, seg_map_path=f'{stem}_seg.png',
                    part_seg_map_path=parts if osp.isfile(parts) else None,
                    scene_label=int(self.tables.map('ade20k', 'scene', raw_scene, where)),
                    broden_source='ade20k', record=where))
            elif source == 'pascal':
                data_list.append(dict(pascal.record(i, where), broden_source='pascal',
                                      record=where))
            else:
                photo_id = int(photos[i]['photo_id'])
                root = osp.join(self.data_root, 'opensurfaces')
                data_list.append(dict(
                    img_path=osp.join(root, 'photos', f'{photo_id}.jpg'),
                    material_seg_map_path=osp.join(root, 'photos-labels', f'{photo_id}.png'),
                    broden_source='os', record=where))
        if not data_list:
            raise ValueError(f'BrodenPlusDataset: {path} has no {list(self.datasets)} records')
        return data_list


@TRANSFORMS.register_module()
class LoadBrodenAnnotations(BaseTransform):
    """Decode a Broden+ record's label PNGs into upertool's maps (see the module doc).

    Writes `gt_seg_map` (objects, 0 unlabelled), `gt_part_seg_map` (each pixel's part
    index within its object's group, 255 elsewhere), `gt_part_valid` (G,) and
    `gt_material_seg_map` (0 unlabelled), for the paths the data info holds.

    Args:
        meta_root: the `meta_file` folder of the label tables.
    """

    def __init__(self, meta_root: str) -> None:
        self.meta_root = meta_root
        self._tables: BrodenMeta | None = None

    @property
    def tables(self) -> BrodenMeta:
        """Read on first use, so a config builds on a machine without the data."""
        if self._tables is None:
            self._tables = BrodenMeta(self.meta_root)
        return self._tables

    def _objects_and_parts(self, results: dict) -> None:
        where = results.get('record', results['seg_map_path'])
        source = results.get('broden_source', 'ade20k')
        if source == 'pascal':
            raw_obj = load_context_objects(results['seg_map_path'])
            raw_part = load_part_codes(results['part_seg_map_path'],
                                       results['part_key_path'], where)
            if raw_part.size == 0:  # no object instance: parts not annotated
                raw_part = None
            elif raw_part.shape != raw_obj.shape:
                raise ValueError(f'{where}: parts {results["part_seg_map_path"]!r} are '
                                 f'{raw_part.shape}, objects {raw_obj.shape}')
        else:
            raw_obj = decode_ade_class(results['seg_map_path'])
            part_path = results.get('part_seg_map_path')
            raw_part = decode_ade_class(part_path) if part_path else None
        obj = self.tables.map(source, 'object', raw_obj, where)
        groups = self.tables.part_groups
        part = np.full(obj.shape, 255, np.uint8)
        valid = np.zeros(len(groups), bool)
        if raw_part is not None:
            raw = self.tables.map(source, 'part', raw_part, where)
            for g, (obj_label, part_labels) in enumerate(groups):
                inside = obj == obj_label
                present = np.intersect1d(part_labels, np.unique(np.where(inside, raw, 0)))
                if len(present) <= 1:  # the reference's rule ('-', 0, counts): not annotated
                    continue
                valid[g] = True
                lut = {label: k for k, label in enumerate(part_labels)}
                part[inside] = 0
                for label in present:
                    part[inside & (raw == label)] = lut[int(label)]
        results['gt_seg_map'] = obj.astype(np.uint8 if obj.max() <= 255 else np.int64)
        results['gt_part_seg_map'] = part
        results['gt_part_valid'] = valid
        results.setdefault('seg_fields', []).extend(['gt_seg_map', 'gt_part_seg_map'])

    def transform(self, results: dict) -> dict:
        if results.get('seg_map_path'):
            self._objects_and_parts(results)
        if results.get('material_seg_map_path'):
            path = results['material_seg_map_path']
            raw = np.asarray(Image.open(path).convert('RGB'))[..., 0]
            mat = self.tables.map('os', 'material', raw, results.get('record', path))
            results['gt_material_seg_map'] = mat.astype(np.uint8)
            results.setdefault('seg_fields', []).append('gt_material_seg_map')
        if results.get('scene_label') is not None:
            results['gt_scene_label'] = int(results['scene_label'])
        for key in ('gt_seg_map', 'gt_part_seg_map', 'gt_material_seg_map'):
            shape = results.get('ori_shape')
            if key in results and shape is not None and results[key].shape != tuple(shape[:2]):
                raise ValueError(f'{results.get("record")}: {key} is {results[key].shape} but '
                                 f'the image {results["img_path"]!r} is {tuple(shape[:2])}')
        return results
