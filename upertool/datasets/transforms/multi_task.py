"""Loading and packing the annotations of multi-task (Unified Perceptual Parsing) samples."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from mmengine.structures import LabelData, PixelData

from upertool.registry import TRANSFORMS
from upertool.structures import MultiTaskSegDataSample

from .formatting import PackSegInputs
from .loading import LoadAnnotations

# data-info path key -> results key of the loaded map
_EXTRA_MAPS = {'part_seg_map_path': 'gt_part_seg_map',
               'material_seg_map_path': 'gt_material_seg_map'}


@TRANSFORMS.register_module()
class LoadMultiTaskAnnotations(LoadAnnotations):
    """Load whichever annotations the data info names: objects (`seg_map_path`, with
    LoadAnnotations' checks), parts (`part_seg_map_path`), materials
    (`material_seg_map_path`), the scene label (`scene_label`) and per-group part flags
    (`part_valid`). A map whose size differs from the image, or a material outside
    `[0, num_materials)` other than 255, stops with the file's name.

    Args: LoadAnnotations'.
    """

    def transform(self, results: dict) -> dict:
        if results.get('seg_map_path'):
            results = super().transform(results)
        ori_shape = results.get('ori_shape')
        for path_key, key in _EXTRA_MAPS.items():
            path = results.get(path_key)
            if not path:
                continue
            mask = self._read_mask(path)
            if ori_shape is not None and tuple(mask.shape) != tuple(ori_shape[:2]):
                raise ValueError(f'{path_key} {path!r} is {mask.shape[1]}x{mask.shape[0]} '
                                 f'(WxH) but image {results.get("img_path")!r} is '
                                 f'{ori_shape[1]}x{ori_shape[0]}')
            limit = results.get('num_materials') if key == 'gt_material_seg_map' else None
            if limit is not None:
                values = np.unique(mask)
                bad = values[(values >= limit) & (values != 255)]
                if bad.size:
                    raise ValueError(f'material map {path!r} has labels {bad.tolist()[:10]} '
                                     f'outside [0, {limit}) that are not 255')
            results[key] = mask
            results.setdefault('seg_fields', []).append(key)
        if results.get('scene_label') is not None:
            results['gt_scene_label'] = int(results['scene_label'])
        if results.get('part_valid') is not None:
            results['gt_part_valid'] = np.asarray(results['part_valid'], dtype=bool)
        return results


@TRANSFORMS.register_module()
class PackMultiTaskInputs(PackSegInputs):
    """PackSegInputs for multi-task samples: a MultiTaskSegDataSample with `gt_sem_seg`
    (objects), `gt_part_seg`, `gt_material_seg`, `gt_scene_label`, `gt_part_valid` for
    the annotations present, and `source` / `tasks` in its metainfo.

    Args:
        meta_keys: PackSegInputs' keys plus 'source' and 'tasks'.
    """

    def __init__(self, meta_keys: Sequence[str] = (
            'img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor',
            'flip', 'flip_direction', 'reduce_zero_label', 'source', 'tasks')) -> None:
        super().__init__(meta_keys=meta_keys)

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        sample = MultiTaskSegDataSample(metainfo=packed['data_samples'].metainfo)
        if 'gt_sem_seg' in packed['data_samples']:
            sample.gt_sem_seg = packed['data_samples'].gt_sem_seg
        for key, field in (('gt_part_seg_map', 'gt_part_seg'),
                           ('gt_material_seg_map', 'gt_material_seg')):
            if results.get(key) is not None:
                data = torch.from_numpy(np.ascontiguousarray(results[key])[None].astype(np.int64))
                setattr(sample, field, PixelData(data=data))
        if results.get('gt_scene_label') is not None:
            sample.gt_scene_label = LabelData(
                label=torch.tensor([results['gt_scene_label']], dtype=torch.int64))
        if results.get('gt_part_valid') is not None:
            sample.gt_part_valid = torch.from_numpy(results['gt_part_valid'])
        packed['data_samples'] = sample
        return packed
