"""bf16 against fp32 inference of a trained model on its validation images: labels and mIoU.

    python benchmarks/check_bf16_inference.py \\
        configs/quickstart/upernet_r18-narrow_1xb8-2.4k_synthetic-96x96.py \\
        work_dirs/quickstart/iter_2400.pth

Runs every validation image (the config's val dataset, built and checked as tools/test.py
builds it) through `inference_model` with `test_cfg.precision` 'fp32' and then 'bf16', and
prints the share of pixels given the same label and each precision's mIoU, computed here
from the confusion matrix against the ground truth (classes absent from both prediction and
ground truth are left out, as IoUMetric does). On a CPU without native bf16, 'bf16' falls
back to fp32 and says so: the agreement is then 100% by construction, and the script says
that instead of reporting it as a result.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from upertool.apis import inference_model, init_model
from upertool.models.utils.precision import cpu_supports_bf16
from upertool.registry import DATASETS


def confusion(pred: np.ndarray, truth: np.ndarray, classes: int, ignore: int) -> np.ndarray:
    keep = truth != ignore
    index = truth[keep].astype(np.int64) * classes + pred[keep].astype(np.int64)
    return np.bincount(index, minlength=classes * classes).reshape(classes, classes)


def miou(matrix: np.ndarray) -> float:
    inter = np.diag(matrix).astype(np.float64)
    union = matrix.sum(0) + matrix.sum(1) - inter
    present = union > 0
    return float(100 * np.mean(inter[present] / union[present]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    args = parser.parse_args()
    if not cpu_supports_bf16():
        sys.exit('this CPU has no native bf16 (AVX512-BF16/AMX): bf16 would fall back to '
                 'fp32, so there is nothing to compare here')

    model = init_model(args.config, args.checkpoint, device='cpu')
    dataset_cfg = model.cfg.val_dataloader.dataset
    dataset = DATASETS.build(dataset_cfg)
    classes, ignore = model.num_classes, 255
    labels = {'fp32': [], 'bf16': []}
    matrices = {p: np.zeros((classes, classes), np.int64) for p in labels}
    infos = dataset.load_data_list()
    truths = [dataset.pipeline(dict(info))['data_samples'].gt_sem_seg.data[0].numpy()
              for info in infos]
    for precision in labels:
        model.test_cfg['precision'] = precision
        with torch.inference_mode():
            for info, truth in zip(infos, truths, strict=True):
                pred = inference_model(model, info['img_path']).pred_sem_seg.data[0].numpy()
                labels[precision].append(pred)
                matrices[precision] += confusion(pred, truth, classes, ignore)
    same = sum(int((a == b).sum()) for a, b in zip(labels['fp32'], labels['bf16'], strict=True))
    total = sum(a.size for a in labels['fp32'])
    print(f'{len(truths)} validation images, {total} pixels')
    print(f'  labels equal in bf16 and fp32: {100 * same / total:.3f}% of pixels')
    print(f"  mIoU fp32 {miou(matrices['fp32']):.2f}, bf16 {miou(matrices['bf16']):.2f}")


if __name__ == '__main__':
    main()
