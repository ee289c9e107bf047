"""IoUMetric: per-class IoU / Dice / F-score accumulated over the whole evaluation set.

Per image only four histograms are kept (intersection, union, predicted and labelled
areas per class); the metrics are computed once from their sums, so a class's IoU is
its IoU over the whole set, not a mean of per-image IoUs.
"""
from __future__ import annotations

import os
import os.path as osp
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from PIL import Image

from upertool.evaluation.class_coverage import absent_classes_message
from upertool.evaluation.metric_reports import (
    confusion_matrix,
    metrics_from_confusion,
    write_reports,
)
from upertool.evaluation.prediction_paths import PredictionPaths
from upertool.registry import METRICS

ALLOWED_METRICS = ('mIoU', 'mDice', 'mFscore')
Areas = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _field(sample: Any, key: str) -> Any:
    """Read `key` from a data sample given as a dict (what mmengine's Evaluator passes,
    after `to_dict()`) or as a data element (what a direct caller may pass)."""
    if isinstance(sample, dict):
        return sample[key]
    return getattr(sample, key)


def _has(sample: Any, key: str) -> bool:
    return key in sample if isinstance(sample, dict) else hasattr(sample, key)


def _pixel_data(sample: Any, key: str) -> torch.Tensor:
    """`sample.<key>.data` as a tensor (numpy arrays are accepted too)."""
    data = _field(_field(sample, key), 'data')
    return torch.as_tensor(data)


def intersect_and_union(pred_label: torch.Tensor, label: torch.Tensor, num_classes: int,
                        ignore_index: int) -> Areas:
    """Per-class areas of one image.

    Args:
        pred_label: predicted label map, (H, W) integer.
        label: ground-truth label map, (H, W) integer, on the same device.
        num_classes: number of classes C.
        ignore_index: label value excluded from every area.

    Returns:
        area_intersect, area_union, area_pred_label, area_label: each (C,) float64 on CPU.
        Pixels whose label lies outside [0, C) are excluded entirely (mmsegmentation
        would still count their prediction as a false positive); predictions outside
        [0, C) count for no class.
    """
    keep = (label != ignore_index) & (label >= 0) & (label < num_classes)
    pred_label = pred_label[keep].long()
    label = label[keep].long()

    def hist(values: torch.Tensor) -> torch.Tensor:
        values = values[(values >= 0) & (values < num_classes)]
        return torch.bincount(values, minlength=num_classes).cpu().double()

    area_intersect = hist(pred_label[pred_label == label])
    area_pred_label = hist(pred_label)
    area_label = hist(label)
    area_union = area_pred_label + area_label - area_intersect
    return area_intersect, area_union, area_pred_label, area_label


def total_area_to_metrics(total_area_intersect: np.ndarray, total_area_union: np.ndarray,
                          total_area_pred_label: np.ndarray, total_area_label: np.ndarray,
                          metrics: Sequence[str] = ('mIoU',), nan_to_num: float | None = None,
                          beta: float = 1) -> OrderedDict[str, np.ndarray]:
    """Per-class metrics (fractions, not percent) from areas summed over the set.

    Args:
        total_area_*: (C,) summed areas.
        metrics: any of 'mIoU', 'mDice', 'mFscore'.
        nan_to_num: replaces NaN (a class absent from both gt and prediction) if given.
        beta: weight of recall in the F-score.

    Returns:
        'aAcc' (scalar) then, in mmsegmentation's order, 'IoU', 'Acc', 'Dice', 'Fscore',
        'Precision', 'Recall' as asked, each (C,) float64.
    """
    inter, union = np.asarray(total_area_intersect, np.float64), np.asarray(total_area_union)
    pred, label = np.asarray(total_area_pred_label), np.asarray(total_area_label)
    ret: OrderedDict[str, np.ndarray] = OrderedDict()
    # 0/0 is the defined outcome for an absent class (NaN), not an error worth a warning.
    with np.errstate(divide='ignore', invalid='ignore'):
        ret['aAcc'] = np.asarray(inter.sum() / label.sum())
        for metric in metrics:
            if metric == 'mIoU':
                ret['IoU'] = inter / union
                ret['Acc'] = inter / label
            elif metric == 'mDice':
                ret['Dice'] = 2 * inter / (pred + label)
                ret['Acc'] = inter / label
            elif metric == 'mFscore':
                precision, recall = inter / pred, inter / label
                ret['Fscore'] = ((1 + beta**2) * precision * recall
                                 / (beta**2 * precision + recall))
                ret['Precision'] = precision
                ret['Recall'] = recall
    if nan_to_num is not None:
        ret = OrderedDict((k, np.nan_to_num(v, nan=nan_to_num)) for k, v in ret.items())
    return ret


def format_table(columns: OrderedDict[str, Sequence[Any]]) -> str:
    """A text table of equal-length columns; prettytable's when it is installed."""
    try:
        from prettytable import PrettyTable
    except ImportError:
        PrettyTable = None
    if PrettyTable is not None:
        table = PrettyTable()
        for key, values in columns.items():
            table.add_column(key, list(values))
        return table.get_string()
    cells = [[str(key)] + [str(v) for v in values] for key, values in columns.items()]
    widths = [max(len(c) for c in col) for col in cells]
    rule = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'
    rows = ['| ' + ' | '.join(col[i].ljust(w) for col, w in zip(cells, widths, strict=True))
            + ' |' for i in range(len(cells[0]))]
    return '\n'.join([rule, rows[0], rule, *rows[1:], rule])


@METRICS.register_module()
class IoUMetric(BaseMetric):
    """Semantic segmentation metric, as mmsegmentation 1.x's `IoUMetric`.

    Args:
        ignore_index: label value excluded from evaluation.
        iou_metrics: any of 'mIoU', 'mDice', 'mFscore' (a str is one metric).
        nan_to_num: replaces NaN per-class values (classes absent from both gt and
            prediction) before averaging; None keeps NaN, which the means skip.
        beta: weight of recall in the F-score.
        collect_device: 'cpu' or 'gpu', for gathering results across ranks.
        output_dir: if set, each predicted mask is written there as
            `<image path relative to the image folder>.png` (subfolders kept; uint8; +1
            where the sample has `reduce_zero_label`, so labels are back in the dataset's
            own numbering, e.g. ADE20K's test server).
        format_only: only write the masks (no ground truth needed); no metrics.
        prefix: prefix of the metric names (none by default, as mmsegmentation).
        save_confusion_matrix: also accumulate the (C, C) confusion matrix and write it,
            with the per-class table, as CSV and PNG (`metric_reports.write_reports`); a
            dict turns it on with drawing options, e.g. dict(normalize=True, top_k=20).
        report_dir: where those files go; None: the run's log folder
            (`<work_dir>/<timestamp>/`), or `./metric_reports` without a log file.
    """

    def __init__(self, ignore_index: int = 255, iou_metrics: str | list[str] = ['mIoU'],
                 nan_to_num: int | None = None, beta: int = 1, collect_device: str = 'cpu',
                 output_dir: str | None = None, format_only: bool = False,
                 prefix: str | None = None, save_confusion_matrix: bool | dict = False,
                 report_dir: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        metrics = [iou_metrics] if isinstance(iou_metrics, str) else list(iou_metrics)
        unknown = [m for m in metrics if m not in ALLOWED_METRICS]
        if unknown or not metrics:
            raise KeyError(f'IoUMetric: iou_metrics {metrics} not supported; '
                           f'choose from {list(ALLOWED_METRICS)}')
        if format_only and output_dir is None:
            raise ValueError('IoUMetric: format_only=True needs an output_dir to write to')
        self.ignore_index = ignore_index
        self.metrics = metrics
        self.nan_to_num = nan_to_num
        self.beta = beta
        self.output_dir = output_dir
        self.format_only = format_only
        if output_dir and is_main_process():
            os.makedirs(output_dir, exist_ok=True)
        self._warned_out_of_range = False
        self.save_confusion_matrix = isinstance(save_confusion_matrix, dict) or bool(
            save_confusion_matrix)
        self.drawing_options = (dict(save_confusion_matrix)
                                if isinstance(save_confusion_matrix, dict) else {})
        unknown = set(self.drawing_options) - {'normalize', 'top_k'}
        if unknown:
            raise ValueError(f'IoUMetric: save_confusion_matrix options {sorted(unknown)} not '
                             "supported; use 'normalize' and 'top_k'")
        self.report_dir = report_dir
        # the last evaluation's per-class values, for hooks that log them (e.g. TensorBoard)
        self.per_class_results: OrderedDict[str, np.ndarray] = OrderedDict()

    def _num_classes(self) -> int:
        if not self.dataset_meta or 'classes' not in self.dataset_meta:
            raise ValueError('IoUMetric needs dataset_meta with "classes" (the evaluator sets '
                             'it from the dataset\'s metainfo); got none')
        return len(self.dataset_meta['classes'])

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Accumulate the per-class areas of each sample.

        Args:
            data_batch: the batch from the dataloader (unused).
            data_samples: model outputs, dicts or SegDataSamples, with `pred_sem_seg`
                ((1, H, W) labels), `gt_sem_seg` ((1, H, W), unless format_only) and
                `img_path`.
        """
        num_classes = self._num_classes()
        for sample in data_samples:
            pred = _pixel_data(sample, 'pred_sem_seg').squeeze()
            img_path = _field(sample, 'img_path') if _has(sample, 'img_path') else '<no path>'
            if not self.format_only:
                if not _has(sample, 'gt_sem_seg'):
                    raise KeyError(f'IoUMetric: sample {img_path} has no gt_sem_seg; use '
                                   'format_only=True to only write predictions')
                label = _pixel_data(sample, 'gt_sem_seg').squeeze().to(pred.device)
                if pred.shape != label.shape:
                    raise ValueError(
                        f'IoUMetric: prediction {tuple(pred.shape)} and ground truth '
                        f'{tuple(label.shape)} differ in shape for {img_path}')
                self._check_label_range(label, num_classes, img_path)
                areas = intersect_and_union(pred, label, num_classes, self.ignore_index)
                if self.save_confusion_matrix:
                    areas = (*areas, confusion_matrix(pred, label, num_classes,
                                                      self.ignore_index))
                self.results.append(areas)
            if self.output_dir is not None:
                self._write_mask(pred, sample, img_path)

    def _check_label_range(self, label: torch.Tensor, num_classes: int, img_path: str) -> None:
        # Labels >= num_classes (other than ignore_index) usually mean a wrong
        # reduce_zero_label or num_classes; their pixels are excluded, and this is said once.
        if self._warned_out_of_range:
            return
        bad = (label != self.ignore_index) & ((label < 0) | (label >= num_classes))
        if bool(bad.any()):
            self._warned_out_of_range = True
            values = torch.unique(label[bad]).tolist()[:10]
            print_log(f'IoUMetric: {img_path} has label values {values} outside [0, '
                      f'{num_classes}) that are not ignore_index={self.ignore_index}; they '
                      'are excluded from evaluation (check reduce_zero_label / num_classes)',
                      logger='current', level=30)

    def _write_mask(self, pred: torch.Tensor, sample: Any, img_path: str) -> None:
        mask = pred.cpu().numpy().astype(np.int64)
        reduce_zero_label = _field(sample, 'reduce_zero_label') if _has(
            sample, 'reduce_zero_label') else False
        if reduce_zero_label:
            mask = mask + 1
        paths = getattr(self, '_prediction_paths', None)
        if paths is None or paths.output_dir != self.output_dir:
            # subfolders of the image folder are kept: a/x.png and b/x.png stay apart
            paths = self._prediction_paths = PredictionPaths(
                self.output_dir, (self.dataset_meta or {}).get('img_dir'))
        Image.fromarray(mask.astype(np.uint8)).save(paths.path_for(img_path))

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Sum the areas over the whole set and compute the metrics.

        Args:
            results: one (intersect, union, pred, label) tuple of (C,) tensors per image.

        Returns:
            'aAcc', 'mIoU', 'mAcc' (and 'mDice', 'mFscore', 'mPrecision', 'mRecall' when
            asked), in percent rounded to 2 decimals; the m-values are NaN-skipping means
            over classes. Empty when format_only.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        if self.format_only:
            print_log(f'IoUMetric: predictions written to {self.output_dir}', logger=logger)
            return OrderedDict()
        if not results:
            raise ValueError('IoUMetric: no results to evaluate (empty evaluation set?)')
        totals = [torch.stack(areas).sum(0).numpy() for areas in zip(*results, strict=True)]
        ret = total_area_to_metrics(*totals[:4], metrics=self.metrics,
                                    nan_to_num=self.nan_to_num, beta=self.beta)
        absent = absent_classes_message(totals[3], totals[2], self.dataset_meta['classes'],
                                        self.ignore_index)
        if absent:
            print_log(absent, logger=logger, level=30)

        metrics: dict[str, float] = OrderedDict()
        with warnings.catch_warnings():
            # nanmean of an all-NaN column ('Mean of empty slice') is a NaN result, not news.
            warnings.simplefilter('ignore', RuntimeWarning)
            for key, values in ret.items():
                name = key if key == 'aAcc' else 'm' + key
                metrics[name] = float(np.round(np.nanmean(values) * 100, 2))

        ret.pop('aAcc')
        self.per_class_results = OrderedDict((k, np.asarray(v)) for k, v in ret.items())
        if self.save_confusion_matrix:
            self._write_reports(totals[4], ret)
        columns: OrderedDict[str, Sequence[Any]] = OrderedDict()
        columns['Class'] = list(self.dataset_meta['classes'])
        for key, values in ret.items():
            columns[key] = [float(v) for v in np.round(values * 100, 2)]
        print_log('per class results:', logger)
        print_log('\n' + format_table(columns), logger=logger)
        return metrics

    def _write_reports(self, matrix: np.ndarray, per_class: OrderedDict) -> None:
        out_dir = self.report_dir
        if out_dir is None:
            log_file = MMLogger.get_current_instance().log_file
            out_dir = osp.dirname(log_file) if log_file else 'metric_reports'
        # IoU and Acc always, even where only mDice/mFscore were asked for
        per_class = {**metrics_from_confusion(matrix), **per_class}
        paths = write_reports(out_dir, matrix, list(self.dataset_meta['classes']), per_class,
                              **self.drawing_options)
        print_log(f'IoUMetric: confusion matrix and per-class results written to '
                  f'{", ".join(paths)}', logger='current')
