"""IoUMetric against a confusion matrix computed here with numpy."""
import math

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from PIL import Image

from upertool.evaluation import IoUMetric
from upertool.registry import METRICS
from upertool.structures import PixelData, SegDataSample

CLASSES = ('a', 'b', 'c', 'd', 'absent')  # 'absent' never appears in gt nor prediction
IGNORE = 255


def make_sample(pred: np.ndarray, gt: np.ndarray | None, path: str = 'x/img.jpg',
                **meta) -> dict:
    """A sample as mmengine's Evaluator hands it over: `SegDataSample.to_dict()`."""
    sample = SegDataSample(metainfo=dict(img_path=path, **meta))
    sample.pred_sem_seg = PixelData(data=torch.from_numpy(pred)[None].long())
    if gt is not None:
        sample.gt_sem_seg = PixelData(data=torch.from_numpy(gt)[None].long())
    return sample.to_dict()


def random_set(seed: int = 0, n: int = 4, size=(9, 11)):
    rng = np.random.default_rng(seed)
    preds, gts = [], []
    for _ in range(n):
        pred = rng.integers(0, 4, size)  # classes 0..3 only: class 4 is absent
        gt = rng.integers(0, 4, size)
        gt[rng.random(size) < 0.2] = IGNORE
        preds.append(pred)
        gts.append(gt)
    return preds, gts


def confusion(preds, gts, num_classes: int) -> np.ndarray:
    """cm[t, p] = pixels with gt t predicted p, over the whole set, ignore excluded."""
    cm = np.zeros((num_classes, num_classes), np.int64)
    for pred, gt in zip(preds, gts, strict=True):
        keep = gt != IGNORE
        np.add.at(cm, (gt[keep], pred[keep]), 1)
    return cm


def run_metric(preds, gts, **kwargs) -> dict:
    metric = IoUMetric(**kwargs)
    metric.dataset_meta = dict(classes=CLASSES)
    samples = [make_sample(p, g, f'd/img{i}.png') for i, (p, g) in
               enumerate(zip(preds, gts, strict=True))]
    metric.process({}, samples[:2])
    metric.process({}, samples[2:])
    return metric.evaluate(len(samples))


def nanmean_pct(values: np.ndarray) -> float:
    return round(float(np.nanmean(values)) * 100, 2)


def test_miou_macc_aacc_from_confusion_matrix():
    preds, gts = random_set()
    cm = confusion(preds, gts, len(CLASSES))
    tp = np.diag(cm).astype(float)
    gt_area, pred_area = cm.sum(1), cm.sum(0)
    with np.errstate(invalid='ignore'):
        iou = tp / (gt_area + pred_area - tp)
        acc = tp / gt_area
    assert np.isnan(iou[4]) and np.isnan(acc[4])

    res = run_metric(preds, gts)
    assert list(res) == ['aAcc', 'mIoU', 'mAcc']
    assert res['aAcc'] == round(tp.sum() / cm.sum() * 100, 2)
    assert res['mIoU'] == nanmean_pct(iou)  # nan class skipped
    assert res['mAcc'] == nanmean_pct(acc)


def test_dice_fscore_precision_recall_from_confusion_matrix():
    preds, gts = random_set(seed=1)
    cm = confusion(preds, gts, len(CLASSES))
    tp = np.diag(cm).astype(float)
    gt_area, pred_area = cm.sum(1), cm.sum(0)
    with np.errstate(invalid='ignore'):
        dice = 2 * tp / (gt_area + pred_area)
        precision, recall = tp / pred_area, tp / gt_area
        beta = 2
        fscore = (1 + beta**2) * precision * recall / (beta**2 * precision + recall)

    res = run_metric(preds, gts, iou_metrics=['mIoU', 'mDice', 'mFscore'], beta=beta)
    assert list(res) == ['aAcc', 'mIoU', 'mAcc', 'mDice', 'mFscore', 'mPrecision', 'mRecall']
    assert res['mDice'] == nanmean_pct(dice)
    assert res['mFscore'] == nanmean_pct(fscore)
    assert res['mPrecision'] == nanmean_pct(precision)
    assert res['mRecall'] == nanmean_pct(recall)
    # F1 with beta=1 equals Dice per class.
    res1 = run_metric(preds, gts, iou_metrics=['mDice', 'mFscore'])
    assert res1['mFscore'] == res1['mDice']


def test_nan_to_num_counts_absent_class_in_the_mean():
    preds, gts = random_set(seed=2)
    cm = confusion(preds, gts, len(CLASSES))
    tp = np.diag(cm).astype(float)
    with np.errstate(invalid='ignore'):
        iou = np.nan_to_num(tp / (cm.sum(1) + cm.sum(0) - tp), nan=0)
    res = run_metric(preds, gts, nan_to_num=0)
    assert res['mIoU'] == round(iou.mean() * 100, 2)
    assert res['mIoU'] < run_metric(preds, gts)['mIoU']


def test_accumulates_over_the_whole_set_not_per_image_mean():
    # Image 1: class 1 has 1 gt pixel, predicted everywhere (100 pixels): IoU(1) = 1/100.
    # Image 2: 50 pixels of class 1 predicted right, the rest ignored: IoU(1) = 1.
    # Whole set: IoU(1) = 51 / 150; the mean of per-image IoUs would be 0.505.
    gt1 = np.zeros((10, 10), np.int64)
    gt1[0, 0] = 1
    pred1 = np.ones((10, 10), np.int64)
    gt2 = np.ones((10, 10), np.int64)
    gt2[5:] = IGNORE
    pred2 = np.ones((10, 10), np.int64)
    metric = IoUMetric()
    metric.dataset_meta = dict(classes=('zero', 'one'))
    metric.process({}, [make_sample(pred1, gt1), make_sample(pred2, gt2)])
    res = metric.evaluate(2)
    iou0 = 0.0  # class 0: 99 gt pixels, none predicted
    assert res['mIoU'] == round((iou0 + 51 / 150) / 2 * 100, 2)
    per_image_mean = (iou0 + (1 / 100 + 1) / 2) / 2
    assert abs(res['mIoU'] - per_image_mean * 100) > 5


def test_ignore_index_pixels_are_excluded_entirely():
    gt = np.full((4, 4), IGNORE, np.int64)
    gt[0] = 0
    pred = np.ones((4, 4), np.int64)  # wrong everywhere, but only row 0 counts
    pred[0] = 0
    metric = IoUMetric()
    metric.dataset_meta = dict(classes=('zero', 'one'))
    metric.process({}, [make_sample(pred, gt)])
    res = metric.evaluate(1)
    assert res == {'aAcc': 100.0, 'mIoU': 100.0, 'mAcc': 100.0}


def test_accepts_seg_data_samples_and_builds_from_registry():
    metric = METRICS.build(dict(type='IoUMetric', iou_metrics='mDice'))
    metric.dataset_meta = dict(classes=('zero', 'one'))
    sample = SegDataSample(metainfo=dict(img_path='a.png'))
    sample.pred_sem_seg = PixelData(data=torch.tensor([[[0, 1], [1, 1]]]))
    sample.gt_sem_seg = PixelData(data=torch.tensor([[[0, 1], [0, 1]]]))
    metric.process({}, [sample])
    res = metric.evaluate(1)
    # dice(0) = 2*1/(1+2), dice(1) = 2*2/(3+2)
    assert res['mDice'] == round((2 / 3 + 4 / 5) / 2 * 100, 2)


def test_logs_per_class_table(capsys):
    logger = MMLogger.get_instance('test_iou_table', log_level='INFO')
    assert MMLogger.get_current_instance() is logger
    preds, gts = random_set(seed=3, n=1)
    run_metric(preds, gts)
    out = capsys.readouterr().out
    assert 'per class results' in out
    for name in CLASSES:
        assert name in out
    assert 'IoU' in out and 'nan' in out


def test_output_dir_writes_png_per_image(tmp_path):
    pred = np.array([[0, 1], [2, 3]], np.int64)
    gt = np.zeros((2, 2), np.int64)
    metric = IoUMetric(output_dir=str(tmp_path / 'out'))
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, [make_sample(pred, gt, 'data/ADE_val_1.jpg'),
                        make_sample(pred, gt, 'data/ADE_val_2.jpg', reduce_zero_label=True)])
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / 'out' / 'ADE_val_1.png')), pred)
    np.testing.assert_array_equal(
        np.array(Image.open(tmp_path / 'out' / 'ADE_val_2.png')), pred + 1)
    assert len(metric.results) == 2


def test_format_only_needs_no_gt_and_returns_nothing(tmp_path):
    metric = IoUMetric(output_dir=str(tmp_path), format_only=True)
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, [make_sample(np.ones((3, 3), np.int64), None, 'a/b/c.jpg')])
    assert metric.evaluate(1) == {}
    assert (tmp_path / 'c.png').is_file()


def test_unknown_metric_raises():
    with pytest.raises(KeyError, match='mAP'):
        IoUMetric(iou_metrics=['mIoU', 'mAP'])


def test_shape_mismatch_names_the_image():
    metric = IoUMetric()
    metric.dataset_meta = dict(classes=CLASSES)
    sample = make_sample(np.zeros((4, 5), np.int64), np.zeros((4, 6), np.int64),
                         'some/dir/frame_007.png')
    with pytest.raises(ValueError, match='frame_007.png'):
        metric.process({}, [sample])


def test_missing_dataset_meta_is_a_clear_error():
    metric = IoUMetric()
    with pytest.raises(ValueError, match='classes'):
        metric.process({}, [make_sample(np.zeros((2, 2), np.int64), np.zeros((2, 2), np.int64))])


def test_all_classes_absent_gives_nan_without_crashing():
    metric = IoUMetric()
    metric.dataset_meta = dict(classes=('zero', 'one'))
    gt = np.full((2, 2), IGNORE, np.int64)
    metric.process({}, [make_sample(np.zeros((2, 2), np.int64), gt)])
    res = metric.evaluate(1)
    assert math.isnan(res['mIoU']) and math.isnan(res['aAcc'])


def test_out_of_range_labels_are_excluded_and_reported_once(capsys):
    MMLogger.get_instance('test_iou_range', log_level='INFO')
    gt = np.array([[0, 1], [7, 7]])  # 7 >= num_classes and not ignore_index
    pred = np.array([[0, 1], [0, 1]])
    metric = IoUMetric()
    metric.dataset_meta = dict(classes=('zero', 'one'))
    metric.process({}, [make_sample(pred, gt, 'p/bad_labels.png')] * 2)
    out = capsys.readouterr().out
    assert out.count('bad_labels.png has label values [7]') == 1
    assert metric.evaluate(2) == {'aAcc': 100.0, 'mIoU': 100.0, 'mAcc': 100.0}
