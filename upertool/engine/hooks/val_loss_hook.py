"""ValLossHook: the validation set's loss, logged next to mIoU, to see over-fitting."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.structures import PixelData

from upertool.registry import HOOKS


@HOOKS.register_module()
class ValLossHook(Hook):
    """After each validation batch, run the segmentor's `loss` on it; log the means per epoch.

    Enable with `custom_hooks = [dict(type='ValLossHook')]`. Each validation then logs
    `val/loss` and one `val/<head>.<loss name>` per loss term (e.g. `val/decode.loss_ce`,
    `val/aux.loss_ce`): in the log line, in `vis_data/scalars.json` (under those names) and in
    TensorBoard, so `analyze_logs.py plot_curve --keys loss val/loss` draws both curves.

    It costs one more forward pass per validation image, in eval mode (BatchNorm statistics,
    no dropout) and without gradients. Ground truth is padded like the inputs, with the data
    preprocessor's `seg_pad_val`, so padded pixels are ignored by the loss.
    """

    priority = 'NORMAL'  # before LoggerHook (BELOW_NORMAL) writes the validation record

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self._count = 0

    def before_val_epoch(self, runner: Any) -> None:
        self._sums, self._count = {}, 0

    @staticmethod
    def _model(runner: Any) -> Any:
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def after_val_iter(self, runner: Any, batch_idx: int, data_batch: Any = None,
                       outputs: Sequence[Any] | None = None) -> None:
        """Compute the loss of this batch, weighted by its number of images."""
        if not data_batch:
            return
        model = self._model(runner)
        with torch.no_grad():
            data = model.data_preprocessor(data_batch, training=False)
            inputs = data['inputs']
            samples = [self._padded_gt(s, inputs.shape[-2:], model) for s in data['data_samples']]
            losses = model(inputs, samples, mode='loss')
            _, log_vars = model.parse_losses(losses)
        batch = len(samples)
        for key, value in log_vars.items():
            if 'loss' in key:
                self._sums[key] = self._sums.get(key, 0.0) + float(value) * batch
        self._count += batch

    @staticmethod
    def _padded_gt(sample: Any, shape: Sequence[int], model: Any) -> Any:
        """A copy of the sample whose gt_sem_seg is padded (bottom/right) to `shape`."""
        if 'gt_sem_seg' not in sample:
            raise KeyError(f'ValLossHook: validation sample {sample.metainfo.get("img_path")} '
                           'has no gt_sem_seg (the validation pipeline needs LoadAnnotations)')
        gt = sample.gt_sem_seg.data
        pad_value = getattr(model.data_preprocessor, 'seg_pad_val', 255)
        padding = (0, shape[1] - gt.shape[-1], 0, shape[0] - gt.shape[-2])
        copy = type(sample)(metainfo=sample.metainfo)
        copy.gt_sem_seg = PixelData(data=F.pad(gt, padding, value=pad_value))
        return copy

    def after_val_epoch(self, runner: Any, metrics: dict | None = None) -> None:
        """Put the means on the message hub, where LoggerHook collects `val/*` scalars."""
        if not self._count:
            return
        hub = runner.message_hub
        for key, total in self._sums.items():
            # LoggerHook strips the first 'val/' and averages keys named like '*loss*' over
            # its window: a fresh buffer with this epoch's value alone keeps the mean exact.
            name = f'val/val/{key}'
            hub.log_scalars.pop(name, None)
            hub.update_scalar(name, total / self._count)
