"""Pictures of per-class results: the confusion matrix heatmap and a sorted per-class bar chart.

Drawn with matplotlib's object API on an Agg canvas (no pyplot, no global backend switch), so
it works headless and does not disturb an interactive session. Each PNG is written to a
temporary file and renamed into place.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from upertool.checkpoint.atomic_io import atomic_open

# cells are annotated with their value up to this many classes; beyond, colour only
ANNOTATE_MAX = 30


def row_normalize(matrix: np.ndarray) -> np.ndarray:
    """Each ground-truth row as percentages of its pixels (rows without pixels stay 0)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    rows = matrix.sum(1, keepdims=True)
    return np.divide(matrix * 100, rows, out=np.zeros_like(matrix), where=rows > 0)


def most_confused(matrix: np.ndarray, top_k: int) -> np.ndarray:
    """Indices of the `top_k` classes with the most misclassified pixels (gt or predicted),
    in class order, so a 150-class matrix can be drawn readably."""
    # row-normalised errors, so rare classes that are always wrong are not hidden by big ones
    rates = row_normalize(matrix)
    np.fill_diagonal(rates, 0)
    score = rates.sum(1) + rates.sum(0)
    order = np.argsort(-score, kind='stable')[:top_k]
    return np.sort(order)


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str) -> None:
    with atomic_open(path, 'wb') as f:
        fig.savefig(f, format='png', bbox_inches='tight')


def plot_confusion_matrix(matrix: np.ndarray, classes: Sequence[str], out_file: str,
                          normalize: bool = False, top_k: int | None = None,
                          title: str | None = None) -> None:
    """Draw a (C, C) confusion matrix (rows ground truth, columns prediction) as a heatmap.

    Args:
        matrix: pixel counts.
        classes: the C class names, written on both axes.
        out_file: PNG path.
        normalize: show each row as percentages of its ground-truth pixels.
        top_k: show only the K classes with the highest error rates (see `most_confused`);
            their rows are normalised over all their pixels, so hidden classes still count.
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != len(classes):
        raise ValueError(f'plot_confusion_matrix: matrix {matrix.shape} does not match '
                         f'{len(classes)} classes')
    values = row_normalize(matrix) if normalize else matrix.astype(np.float64)
    names = list(classes)
    if top_k is not None and 0 < top_k < len(names):
        keep = most_confused(matrix, top_k)
        values = values[np.ix_(keep, keep)]
        names = [names[i] for i in keep]
    n = len(names)
    side = min(max(4.0, 0.45 * n + 2), 40.0)
    fig = _figure(side + 1.5, side)
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap='Blues', vmin=0, vmax=100 if normalize else None)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04,
                 label='% of the ground-truth class' if normalize else 'pixels')
    ax.set_xticks(range(n), labels=names, rotation=60, ha='right', rotation_mode='anchor')
    ax.set_yticks(range(n), labels=names)
    ax.set_xlabel('prediction')
    ax.set_ylabel('ground truth')
    default = 'Confusion matrix' + (' (row %)' if normalize else ' (pixels)')
    if top_k is not None and n < len(classes):
        default += f', {n} most-confused of {len(classes)} classes'
    ax.set_title(title or default)
    if n <= ANNOTATE_MAX:
        high = np.nanmax(values) if values.size else 0
        for i in range(n):
            for j in range(n):
                value = values[i, j]
                text = f'{value:.1f}' if normalize else _short_count(value)
                ax.text(j, i, text, ha='center', va='center', fontsize=8,
                        color='white' if high and value > high / 2 else 'black')
    _save(fig, out_file)


def _short_count(value: float) -> str:
    """1234567 -> '1.2M', so counts fit in a cell."""
    for unit, scale in (('G', 1e9), ('M', 1e6), ('k', 1e3)):
        if value >= scale:
            return f'{value / scale:.1f}{unit}'
    return f'{value:.0f}'


def plot_per_class_bars(values: np.ndarray, classes: Sequence[str], out_file: str,
                        metric: str = 'IoU', title: str | None = None) -> None:
    """Horizontal bars of one per-class metric (fractions), best class on top.

    Classes whose value is NaN (absent from ground truth and prediction) are listed as n/a at
    the bottom rather than drawn as zero.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (len(classes),):
        raise ValueError(f'plot_per_class_bars: {values.shape} values for {len(classes)} '
                         'classes')
    order = sorted(range(len(classes)),
                   key=lambda i: (np.isnan(values[i]), -np.nan_to_num(values[i])))
    names = [classes[i] + (' (n/a)' if np.isnan(values[i]) else '') for i in order]
    percent = np.nan_to_num(values[order]) * 100
    fig = _figure(7.0, min(max(2.5, 0.28 * len(names) + 1.2), 45.0))
    ax = fig.add_subplot()
    bars = ax.barh(range(len(names)), percent, color='tab:blue')
    texts = ['' if np.isnan(values[i]) else f'{v:.1f}' for i, v in zip(order, percent,
                                                                         strict=True)]
    ax.bar_label(bars, labels=texts, padding=2, fontsize=8)
    ax.set_yticks(range(len(names)), labels=names)
    ax.invert_yaxis()
    ax.set_xlim(0, 105)
    ax.set_xlabel(f'{metric} (%)')
    mean = np.nanmean(values) * 100 if np.isfinite(values).any() else float('nan')
    ax.axvline(mean, color='tab:red', linestyle='--', linewidth=1)
    ax.set_title(title or f'Per-class {metric}, sorted (dashed: mean {mean:.2f})')
    _save(fig, out_file)
