"""PerClassMetricsHook: each class's IoU and Acc as scalars, e.g. for TensorBoard."""
from __future__ import annotations

import math
from typing import Any

from mmengine.hooks import Hook

from upertool.registry import HOOKS


@HOOKS.register_module()
class PerClassMetricsHook(Hook):
    """After each validation, send `IoU/<class>` and `Acc/<class>` (percent) to the visualizer.

    The values are those the evaluator's `IoUMetric` just printed in its per-class table
    (`IoUMetric.per_class_results`); they go to every visualizer backend at the training
    iteration, so TensorBoard shows one curve per class and `vis_data/scalars.json` gets them
    too. The log line is left alone (150 ADE20K classes would drown it). NaN values (a class
    absent from both ground truth and prediction) are skipped.

    Args:
        keys: which per-class results to send.
    """

    priority = 'BELOW_NORMAL'

    def __init__(self, keys: tuple[str, ...] = ('IoU', 'Acc')) -> None:
        self.keys = tuple(keys)

    def after_val_epoch(self, runner: Any, metrics: dict | None = None) -> None:
        scalars: dict[str, float] = {}
        for metric in getattr(runner.val_evaluator, 'metrics', []):
            results = getattr(metric, 'per_class_results', None)
            classes = (metric.dataset_meta or {}).get('classes')
            if not results or not classes:
                continue
            for key in (k for k in self.keys if k in results):
                for name, value in zip(classes, results[key], strict=True):
                    if not math.isnan(float(value)):
                        scalars[f'{key}/{name}'] = round(float(value) * 100, 2)
        if scalars:
            runner.visualizer.add_scalars(scalars, step=runner.iter)
