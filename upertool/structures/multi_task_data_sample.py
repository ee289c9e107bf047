"""The per-image record of multi-task (Unified Perceptual Parsing) models."""
from __future__ import annotations

import torch
from mmengine.structures import LabelData, PixelData

from .seg_data_sample import SegDataSample

# task -> the ground-truth field that holds its annotation
TASK_GT_FIELDS = {'object': 'gt_sem_seg', 'part': 'gt_part_seg',
                  'material': 'gt_material_seg', 'scene': 'gt_scene_label'}
TASKS = tuple(TASK_GT_FIELDS)


def _typed_field(name: str, dtype: type, doc: str) -> property:
    """A property stored as `_<name>`, type-checked by mmengine's `set_field`."""

    def getter(self):
        return getattr(self, f'_{name}')

    def setter(self, value):
        self.set_field(value, f'_{name}', dtype=dtype)

    def deleter(self):
        delattr(self, f'_{name}')

    return property(getter, setter, deleter, doc)


class MultiTaskSegDataSample(SegDataSample):
    """SegDataSample plus the fields of the other perceptual-parsing tasks.

    Objects keep SegDataSample's fields (`gt_sem_seg`, `pred_sem_seg`, `seg_logits`),
    so every single-task tool reads a multi-task sample as an object segmentation.

    Ground truth (only the fields of the tasks the sample's source annotates):
        gt_part_seg: PixelData (1, H, W) int64, each pixel's part index within its
            object's part group (255: not annotated).
        gt_part_valid: (G,) bool, per part group: are this image's parts of that object
            annotated (the reference's `valid_part`).
        gt_material_seg: PixelData (1, H, W) int64 material class (255: not annotated).
        gt_scene_label: LabelData with `label` (1,) int64 (-1: not annotated).
    Predictions:
        pred_part_seg: PixelData (G, H, W) int64, per part group the argmax within the
            group (the part of object g at each pixel, if the pixel were object g).
        pred_material_seg: PixelData (1, H, W) int64.
        pred_scene_label: LabelData with `label` (1,) and `score` (num_scenes,) softmax.
    Metainfo: `source` (name of the data source) and `tasks` (the tasks it annotates).
    """

    gt_part_seg = _typed_field('gt_part_seg', PixelData, 'part indices (1, H, W)')
    gt_part_valid = _typed_field('gt_part_valid', torch.Tensor, 'per-group flags (G,)')
    gt_material_seg = _typed_field('gt_material_seg', PixelData, 'materials (1, H, W)')
    gt_scene_label = _typed_field('gt_scene_label', LabelData, 'scene class (1,)')
    pred_part_seg = _typed_field('pred_part_seg', PixelData, 'per-group parts (G, H, W)')
    pred_material_seg = _typed_field('pred_material_seg', PixelData, 'materials (1, H, W)')
    pred_scene_label = _typed_field('pred_scene_label', LabelData, 'scene label, score')
