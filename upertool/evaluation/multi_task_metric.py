"""MultiTaskMetric: the Unified Perceptual Parsing paper's per-task scores.

- scene: top-1 accuracy over images with a scene label;
- object, material: mIoU and pixel accuracy (aAcc), as IoUMetric;
- part: mIoU over all part classes, evaluated inside the ground-truth objects only (the
  part prediction read from the object's own group at each pixel of that object), as
  the paper evaluates parts.

Each task is scored over the samples that annotate it, so one evaluator serves a
validation set whose images carry only some tasks.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from upertool.registry import METRICS

from .iou_metric import _field, _has, _pixel_data, intersect_and_union, total_area_to_metrics


def _part_targets(sample: Any, groups: Sequence[tuple[int, int]], ignore_index: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(pred, label) global part indices at annotated pixels of objects with parts."""
    objects = _pixel_data(sample, 'gt_sem_seg')[0]
    parts = _pixel_data(sample, 'gt_part_seg')[0]
    pred = _pixel_data(sample, 'pred_part_seg')
    valid = (torch.as_tensor(_field(sample, 'gt_part_valid')) if _has(sample, 'gt_part_valid')
             else torch.ones(len(groups), dtype=torch.bool))
    preds, labels, offset = [], [], 0
    for g, (obj, size) in enumerate(groups):
        if valid[g]:
            mask = (objects == obj) & (parts != ignore_index)
            preds.append(pred[g][mask] + offset)
            labels.append(parts[mask] + offset)
        offset += size
    empty = torch.zeros(0, dtype=torch.long)
    return (torch.cat(preds) if preds else empty), (torch.cat(labels) if labels else empty)


@METRICS.register_module()
class MultiTaskMetric(BaseMetric):
    """Scene top-1, object/material mIoU and aAcc, part mIoU within ground-truth objects.

    Args:
        ignore_index: unlabelled value of the object, part and material maps.
        scene_ignore_index: unlabelled scene label.
        collect_device, prefix: mmengine BaseMetric's.

    The class counts come from `dataset_meta` (`classes`, `materials`, `scenes`,
    `part_groups` as [(object class, part names), ...]).
    """

    default_prefix = None

    def __init__(self, ignore_index: int = 255, scene_ignore_index: int = -1,
                 collect_device: str = 'cpu', prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ignore_index = ignore_index
        self.scene_ignore_index = scene_ignore_index

    def _groups(self) -> list[tuple[int, int]]:
        return [(int(obj), len(names)) for obj, names in
                (self.dataset_meta or {}).get('part_groups', [])]

    def _count(self, key: str) -> int:
        meta = self.dataset_meta or {}
        if key not in meta:
            raise ValueError(f'MultiTaskMetric: dataset_meta has no {key!r}; the dataset must '
                             'declare it to score that task')
        return len(meta[key])

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        for sample in data_samples:
            result: dict[str, Any] = {}
            for task, gt, pred, names in (('object', 'gt_sem_seg', 'pred_sem_seg', 'classes'),
                                          ('material', 'gt_material_seg',
                                           'pred_material_seg', 'materials')):
                if _has(sample, gt) and _has(sample, pred):
                    label = _pixel_data(sample, gt)[0]
                    result[task] = intersect_and_union(
                        _pixel_data(sample, pred)[0].to(label.device), label,
                        self._count(names), self.ignore_index)
            if _has(sample, 'gt_part_seg') and _has(sample, 'pred_part_seg'):
                groups = self._groups()
                pred, label = _part_targets(sample, groups, self.ignore_index)
                result['part'] = intersect_and_union(pred, label, sum(s for _, s in groups),
                                                     self.ignore_index)
            if _has(sample, 'gt_scene_label') and _has(sample, 'pred_scene_label'):
                label = int(torch.as_tensor(_field(_field(sample, 'gt_scene_label'),
                                                   'label')).flatten()[0])
                if label != self.scene_ignore_index:
                    pred = int(torch.as_tensor(_field(_field(sample, 'pred_scene_label'),
                                                      'label')).flatten()[0])
                    result['scene'] = (pred == label)
            self.results.append(result)

    def compute_metrics(self, results: list) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for task in ('object', 'part', 'material'):
            areas = [r[task] for r in results if task in r]
            if not areas:
                continue
            totals = [torch.stack([a[i] for a in areas]).sum(0).numpy() for i in range(4)]
            scores = total_area_to_metrics(*totals, metrics=['mIoU'])
            metrics[f'{task}.mIoU'] = round(float(np.nanmean(scores['IoU'])) * 100, 2)
            metrics[f'{task}.aAcc'] = round(float(scores['aAcc']) * 100, 2)
        scenes = [r['scene'] for r in results if 'scene' in r]
        if scenes:
            metrics['scene.top1'] = round(100 * sum(scenes) / len(scenes), 2)
        if not metrics:
            raise ValueError('MultiTaskMetric: no sample had both a ground truth and a '
                             'prediction of any task')
        print_log('per-task scores: ' + ', '.join(f'{k} {v}' for k, v in metrics.items()),
                  logger='current')
        return metrics
