"""Confusion-matrix heatmap and per-class bar chart: sizes, content, many classes, NaN."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from upertool.visualization.confusion_matrix import plot_confusion_matrix, plot_per_class_bars

_spec = importlib.util.spec_from_file_location(
    'analysis_helpers', Path(__file__).parents[1] / 'tools' / 'analysis_helpers.py')
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


def test_top_k_keeps_150_classes_readable(tmp_path):
    rng = np.random.default_rng(0)
    matrix = np.diag(rng.integers(1000, 5000, 150)) + rng.integers(0, 20, (150, 150))
    names = [f'class_{i}' for i in range(150)]
    plot_confusion_matrix(matrix, names, str(tmp_path / 'top.png'), normalize=True, top_k=12)
    plot_confusion_matrix(matrix, names, str(tmp_path / 'all.png'))
    top = helpers.check_png(tmp_path / 'top.png', (500, 450), (1100, 1000))
    full = helpers.check_png(tmp_path / 'all.png', (2500, 2500), (5000, 5000))
    assert top.shape[0] < full.shape[0] / 3


def test_per_class_bars_put_absent_classes_last(tmp_path):
    plot_per_class_bars(np.array([0.5, np.nan, 0.9]), ['a', 'b', 'c'], str(tmp_path / 'bars.png'))
    helpers.check_png(tmp_path / 'bars.png', (400, 150), (900, 400))


def test_shape_mismatches_are_refused(tmp_path):
    with pytest.raises(ValueError, match='does not match 2 classes'):
        plot_confusion_matrix(np.eye(3), ['a', 'b'], str(tmp_path / 'x.png'))
    with pytest.raises(ValueError, match='3 classes'):
        plot_per_class_bars(np.ones(2), ['a', 'b', 'c'], str(tmp_path / 'y.png'))
    assert list(tmp_path.iterdir()) == []
