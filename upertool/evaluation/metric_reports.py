"""Confusion matrices and per-class tables as files: what a run learned, class by class.

The matrix is accumulated exactly as `IoUMetric` counts its areas (same pixels kept, same
ignore rule), so its diagonal, row sums and column sums are IoUMetric's intersection, label
and prediction areas, and the IoU/Acc derived here equal the printed ones.

Files are written to a temporary name in the target folder and renamed into place, so a
failure never leaves a half-written CSV or PNG behind.
"""
from __future__ import annotations

import csv
import io
import os.path as osp
from collections.abc import Sequence

import numpy as np
import torch

from upertool.checkpoint.atomic_io import atomic_open

CONFUSION_CSV = 'confusion_matrix.csv'
CONFUSION_PNG = 'confusion_matrix.png'
PER_CLASS_CSV = 'per_class_results.csv'
PER_CLASS_PNG = 'per_class_iou.png'


def confusion_matrix(pred: torch.Tensor, label: torch.Tensor, num_classes: int,
                     ignore_index: int) -> torch.Tensor:
    """(C, C) int64 counts of one image: rows are ground truth, columns are predictions.

    Pixels whose label is `ignore_index` or outside [0, C) are dropped, as in
    `intersect_and_union`; a prediction outside [0, C) counts for no column.
    """
    label, pred = label.reshape(-1).long(), pred.reshape(-1).long()
    keep = ((label != ignore_index) & (label >= 0) & (label < num_classes)
            & (pred >= 0) & (pred < num_classes))
    flat = label[keep] * num_classes + pred[keep]
    counts = torch.bincount(flat, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).cpu()


def metrics_from_confusion(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class 'IoU' and 'Acc' (fractions; NaN for a class absent from gt and prediction).

    Acc is the diagonal over the row sum (recall, mmsegmentation's per-class accuracy);
    IoU is the diagonal over row sum + column sum - diagonal.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    diag = np.diag(matrix)
    rows, cols = matrix.sum(1), matrix.sum(0)
    with np.errstate(divide='ignore', invalid='ignore'):
        return {'IoU': diag / (rows + cols - diag), 'Acc': diag / rows}


def _write_csv(path: str, rows: Sequence[Sequence[object]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator='\n').writerows(rows)
    with atomic_open(path, 'w', durable=False) as f:
        f.write(buffer.getvalue())


def write_confusion_csv(path: str, matrix: np.ndarray, classes: Sequence[str]) -> None:
    """Counts with a header row of predicted classes and a first column of gt classes."""
    rows: list[list[object]] = [['gt \\ pred', *classes]]
    rows += [[name, *(int(v) for v in row)] for name, row in zip(classes, matrix, strict=True)]
    _write_csv(path, rows)


def read_confusion_csv(path: str) -> tuple[np.ndarray, list[str]]:
    """The matrix and class names of a file written by `write_confusion_csv`."""
    with open(path, encoding='utf-8') as f:
        rows = list(csv.reader(f))
    classes = rows[0][1:]
    matrix = np.array([[int(v) for v in row[1:]] for row in rows[1:]], dtype=np.int64)
    if matrix.shape != (len(classes), len(classes)):
        raise ValueError(f'{path}: expected a {len(classes)}x{len(classes)} matrix after the '
                         f'header, got {matrix.shape}')
    return matrix, classes


def write_per_class_csv(path: str, classes: Sequence[str],
                        per_class: dict[str, np.ndarray]) -> None:
    """One row per class; values in percent with 2 decimals (blank for NaN)."""
    keys = list(per_class)
    rows: list[list[object]] = [['Class', *keys]]
    for i, name in enumerate(classes):
        values = [per_class[k][i] for k in keys]
        rows.append([name, *('' if np.isnan(v) else f'{v * 100:.2f}' for v in values)])
    _write_csv(path, rows)


def write_reports(out_dir: str, matrix: np.ndarray, classes: Sequence[str],
                  per_class: dict[str, np.ndarray], normalize: bool = False,
                  top_k: int | None = None) -> list[str]:
    """Write the confusion matrix and per-class table as CSV and PNG into `out_dir`.

    Args:
        out_dir: target folder (created).
        matrix: (C, C) counts, rows ground truth.
        classes: the C class names.
        per_class: e.g. {'IoU': (C,), 'Acc': (C,)} fractions, as IoUMetric computes them.
        normalize: draw row percentages instead of counts (the CSV always holds counts).
        top_k: draw only the K most-confused classes.

    Returns:
        The paths written.
    """
    # matplotlib is imported only when something is drawn (import upertool stays light)
    from upertool.visualization import confusion_matrix as plot
    matrix = np.asarray(matrix)
    if matrix.shape != (len(classes), len(classes)):
        raise ValueError(f'confusion matrix {matrix.shape} does not match {len(classes)} '
                         'class names')
    paths = [osp.join(out_dir, name) for name in
             (CONFUSION_CSV, CONFUSION_PNG, PER_CLASS_CSV, PER_CLASS_PNG)]
    write_confusion_csv(paths[0], matrix, classes)
    plot.plot_confusion_matrix(matrix, classes, paths[1], normalize=normalize, top_k=top_k)
    write_per_class_csv(paths[2], classes, per_class)
    plot.plot_per_class_bars(per_class['IoU'], classes, paths[3], metric='IoU')
    return paths
