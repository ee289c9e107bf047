"""Confusion matrix accumulation and the CSV/PNG reports of IoUMetric(save_confusion_matrix)."""
import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from upertool.evaluation import IoUMetric
from upertool.evaluation.iou_metric import intersect_and_union, total_area_to_metrics
from upertool.evaluation.metric_reports import (
    confusion_matrix,
    metrics_from_confusion,
    read_confusion_csv,
    write_reports,
)
from upertool.structures import SegDataSample
from upertool.visualization.confusion_matrix import most_confused

_spec = importlib.util.spec_from_file_location(
    'analysis_helpers', Path(__file__).parents[1] / 'tools' / 'analysis_helpers.py')
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


def random_pair(seed: int, num_classes: int = 4, shape=(9, 7)):
    gen = torch.Generator().manual_seed(seed)
    pred = torch.randint(0, num_classes, shape, generator=gen)
    label = torch.randint(0, num_classes, shape, generator=gen)
    label[0, :3] = 255  # ignored
    label[1, 0] = num_classes + 1  # outside the classes: dropped, as IoUMetric does
    return pred, label


def test_confusion_matrix_counts_each_pixel_once():
    pred, label = random_pair(0)
    matrix = confusion_matrix(pred, label, 4, 255).numpy()
    expected = np.zeros((4, 4), np.int64)
    for p, t in zip(pred.flatten().tolist(), label.flatten().tolist(), strict=True):
        if t < 4:
            expected[t, p] += 1
    np.testing.assert_array_equal(matrix, expected)
    inter, union, area_pred, area_label = intersect_and_union(pred, label, 4, 255)
    np.testing.assert_array_equal(np.diag(matrix), inter.numpy())
    np.testing.assert_array_equal(matrix.sum(1), area_label.numpy())
    np.testing.assert_array_equal(matrix.sum(0), area_pred.numpy())


def test_metrics_from_confusion_equal_iou_metric_areas():
    matrix = np.zeros((4, 4), np.int64)
    areas = [torch.zeros(4, dtype=torch.float64) for _ in range(4)]
    for seed in range(3):
        pred, label = random_pair(seed)
        matrix += confusion_matrix(pred, label, 4, 255).numpy()
        areas = [a + b for a, b in zip(areas, intersect_and_union(pred, label, 4, 255),
                                       strict=True)]
    expected = total_area_to_metrics(*[a.numpy() for a in areas])
    got = metrics_from_confusion(matrix)
    np.testing.assert_allclose(got['IoU'], expected['IoU'])
    np.testing.assert_allclose(got['Acc'], expected['Acc'])


def test_most_confused_ranks_by_error_rate():
    matrix = np.diag([1000, 50, 10, 500]).astype(np.int64)
    matrix[2, 1] = 40  # class 2: 80% of its pixels go to class 1
    matrix[0, 3] = 30  # class 0: 3% wrong, but many pixels
    assert most_confused(matrix, 2).tolist() == [1, 2]


def sample(pred: torch.Tensor, label: torch.Tensor, name: str) -> dict:
    s = SegDataSample(metainfo=dict(img_path=name))
    s.pred_sem_seg = PixelData(data=pred[None])
    s.gt_sem_seg = PixelData(data=label[None])
    return s.to_dict()


def test_iou_metric_writes_matrix_and_tables(tmp_path):
    classes = ['sky', 'road', 'car', 'tree']
    metric = IoUMetric(save_confusion_matrix=dict(normalize=True), report_dir=str(tmp_path))
    metric.dataset_meta = dict(classes=classes)
    expected = np.zeros((4, 4), np.int64)
    for seed in range(3):
        pred, label = random_pair(seed)
        metric.process({}, [sample(pred, label, f'{seed}.png')])
        expected += confusion_matrix(pred, label, 4, 255).numpy()
    results = metric.evaluate(3)
    matrix, names = read_confusion_csv(str(tmp_path / 'confusion_matrix.csv'))
    assert names == classes
    np.testing.assert_array_equal(matrix, expected)
    iou = metrics_from_confusion(expected)['IoU']
    assert results['mIoU'] == pytest.approx(np.round(np.nanmean(iou) * 100, 2))
    with open(tmp_path / 'per_class_results.csv') as f:
        rows = list(csv.reader(f))
    assert rows[0] == ['Class', 'IoU', 'Acc']
    assert [float(r[1]) for r in rows[1:]] == pytest.approx(np.round(iou * 100, 2))
    np.testing.assert_allclose(metric.per_class_results['IoU'], iou)
    helpers.check_png(tmp_path / 'confusion_matrix.png', (350, 300), (900, 800))
    helpers.check_png(tmp_path / 'per_class_iou.png', (400, 200), (900, 500))


def test_iou_metric_without_the_switch_writes_nothing(tmp_path):
    metric = IoUMetric(report_dir=str(tmp_path))
    metric.dataset_meta = dict(classes=['a', 'b', 'c', 'd'])
    metric.process({}, [sample(*random_pair(0), 'x.png')])
    metric.evaluate(1)
    assert list(tmp_path.iterdir()) == []


def test_unknown_drawing_option_is_refused():
    with pytest.raises(ValueError, match=r"options \['colour'\] not supported"):
        IoUMetric(save_confusion_matrix=dict(colour='red'))


def test_mismatched_reports_leave_no_files(tmp_path):
    with pytest.raises(ValueError, match='does not match 3 class names'):
        write_reports(str(tmp_path), np.eye(4), ['a', 'b', 'c'], {'IoU': np.ones(3)})
    assert list(tmp_path.iterdir()) == []
