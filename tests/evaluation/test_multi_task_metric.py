"""MultiTaskMetric against hand computations, and the majority baselines of the synthetic set.

The quickstart's per-task targets are "at least twice a majority baseline on the same split";
`majority_baselines` computes those baselines through the metric on that split, and the test
checks them against a direct numpy computation.
"""
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import LabelData, PixelData

from upertool.datasets import SyntheticMultiTaskDataset
from upertool.datasets.synthetic_multitask import MultiTaskSceneGenerator
from upertool.evaluation import MultiTaskMetric
from upertool.structures import MultiTaskSegDataSample

META = dict(classes=['bg', 'a', 'b'], materials=['m0', 'm1'], scenes=['s0', 's1', 's2'],
            part_groups=[(1, ['p', 'q']), (2, ['r', 's', 't'])])
CONFIG = 'configs/upp/upernet-upp_r18-narrow_1xb8-2.4k_synthetic-multitask-96x96.py'


def _miou(pred, label, num, ignore=255):
    keep = label != ignore
    ious = []
    for c in range(num):
        inter = ((pred == c) & (label == c) & keep).sum()
        union = (((pred == c) | (label == c)) & keep).sum()
        if union:
            ious.append(inter / union)
    return 100 * float(np.mean(ious))


def _sample(rng, h=6, w=5):
    s = MultiTaskSegDataSample()
    s.gt_sem_seg = PixelData(data=torch.from_numpy(rng.integers(0, 3, (1, h, w))))
    s.pred_sem_seg = PixelData(data=torch.from_numpy(rng.integers(0, 3, (1, h, w))))
    s.gt_part_seg = PixelData(data=torch.from_numpy(rng.integers(0, 2, (1, h, w))))
    s.pred_part_seg = PixelData(data=torch.from_numpy(rng.integers(0, 2, (2, h, w))))
    s.gt_material_seg = PixelData(data=torch.from_numpy(rng.integers(0, 2, (1, h, w))))
    s.pred_material_seg = PixelData(data=torch.from_numpy(rng.integers(0, 2, (1, h, w))))
    s.gt_scene_label = LabelData(label=torch.tensor([int(rng.integers(0, 3))]))
    s.pred_scene_label = LabelData(label=torch.tensor([int(rng.integers(0, 3))]))
    return s


def test_metric_matches_hand_computation():
    rng = np.random.default_rng(0)
    samples = [_sample(rng) for _ in range(4)]
    metric = MultiTaskMetric()
    metric.dataset_meta = META
    metric.process({}, [s.to_dict() for s in samples])
    got = metric.compute_metrics(metric.results)
    cat = lambda key, i=0: np.concatenate(  # noqa: E731
        [getattr(s, key).data[i].numpy().ravel() for s in samples])
    assert got['object.mIoU'] == pytest.approx(_miou(cat('pred_sem_seg'), cat('gt_sem_seg'), 3),
                                                abs=0.01)
    assert got['material.mIoU'] == pytest.approx(
        _miou(cat('pred_material_seg'), cat('gt_material_seg'), 2), abs=0.01)
    # parts: global part ids (group offsets 0 and 2), only inside each group's object
    obj, part = cat('gt_sem_seg'), cat('gt_part_seg')
    pred = np.where(obj == 1, cat('pred_part_seg', 0), cat('pred_part_seg', 1) + 2)
    inside = obj > 0
    assert got['part.mIoU'] == pytest.approx(
        _miou(pred[inside], np.where(obj == 1, part, part + 2)[inside], 5), abs=0.01)
    hits = [int(s.pred_scene_label.label) == int(s.gt_scene_label.label) for s in samples]
    assert got['scene.top1'] == pytest.approx(100 * np.mean(hits), abs=0.01)


def val_split_labels(cfg):
    """The config's val split, rendered in memory (the same scenes the dataset writes)."""
    params = cfg.synthetic
    gen = MultiTaskSceneGenerator(image_size=params.image_size)
    outs = [gen.render_multi_task(np.random.default_rng([params.seed, 1, i]))
            for i in range(params.num_val)]
    return {key: np.stack([o[key] for o in outs]) for key in ('object', 'part', 'material',
                                                                'scene')}


def majority_baselines(labels, meta):
    """MultiTaskMetric's scores for predicting everywhere the split's most frequent object,
    part (per group), material and scene."""
    obj, part, mat, scene = (labels[k] for k in ('object', 'part', 'material', 'scene'))
    top_part = [int(np.bincount(part[(obj == o) & (part != 255)]).argmax())
                for o, _ in meta['part_groups']]
    top = {k: int(np.bincount(np.ravel(v)).argmax()) for k, v in labels.items() if k != 'part'}
    metric = MultiTaskMetric()
    metric.dataset_meta = meta
    # the dense maps as one tall image (the metric sums areas over the set anyway), the
    # scenes as one label-only sample each
    tall = lambda a: torch.from_numpy(a.reshape(1, -1, a.shape[-1])).long()  # noqa: E731
    dense = MultiTaskSegDataSample()
    dense.gt_sem_seg, dense.gt_part_seg = PixelData(data=tall(obj)), PixelData(data=tall(part))
    dense.gt_material_seg = PixelData(data=tall(mat))
    dense.pred_sem_seg = PixelData(data=torch.full_like(tall(obj), top['object']))
    dense.pred_material_seg = PixelData(data=torch.full_like(tall(obj), top['material']))
    dense.pred_part_seg = PixelData(data=torch.cat([torch.full_like(tall(obj), p)
                                                    for p in top_part]))
    metric.process({}, [dense.to_dict()])
    for label in scene:
        s = MultiTaskSegDataSample()
        s.gt_scene_label = LabelData(label=torch.tensor([int(label)]))
        s.pred_scene_label = LabelData(label=torch.tensor([top['scene']]))
        metric.process({}, [s.to_dict()])
    return metric.compute_metrics(metric.results), top_part


def test_majority_baselines_on_the_quickstart_val_split():
    cfg = Config.fromfile(CONFIG)
    labels = val_split_labels(cfg)
    meta = SyntheticMultiTaskDataset.METAINFO
    scores, top_part = majority_baselines(labels, meta)
    obj, part, mat, scene = (labels[k] for k in ('object', 'part', 'material', 'scene'))
    assert scores['scene.top1'] == pytest.approx(
        100 * np.bincount(scene).max() / len(scene), abs=0.01)
    assert scores['material.mIoU'] == pytest.approx(
        100 * np.bincount(mat.ravel()).max() / mat.size / 4, abs=0.01)
    # parts: per group the majority part has IoU = its share of the group's pixels, the
    # other part IoU 0 (6 part classes in all)
    shares = [np.mean(part[(obj == o) & (part != 255)] == p)
              for (o, _), p in zip(meta['part_groups'], top_part, strict=True)]
    assert scores['part.mIoU'] == pytest.approx(100 * sum(shares) / 6, abs=0.01)
    # the targets (twice these) are reachable: below 50 for every task
    assert max(scores['scene.top1'], scores['part.mIoU'], scores['material.mIoU']) < 50
