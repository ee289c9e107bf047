"""Confusion matrix of a trained model, or of a folder of predicted masks, on the test split.

    python tools/analysis/confusion_matrix.py CONFIG CKPT --out-dir D [--normalize] [--top-k K]
    python tools/analysis/confusion_matrix.py CONFIG --pred-dir MASKS --out-dir D

With a checkpoint, the model is evaluated by tools/test.py (same loading, `--tta`, and
`--cfg-options` passed through) with `IoUMetric(save_confusion_matrix=True)`. With
`--pred-dir`, the masks written by `tools/test.py --out` (`<image stem>.png`, in the dataset's
own label numbering) are compared with the config's test ground truth, no model needed.

Writes to D: confusion_matrix.csv (pixel counts, rows ground truth), confusion_matrix.png,
per_class_results.csv (IoU, Acc in %) and per_class_iou.png. Nothing is written when the
inputs do not match.
"""
from __future__ import annotations

import argparse
import os.path as osp
import runpy
import sys
from pathlib import Path

import numpy as np

TEST_TOOL = Path(__file__).resolve().parents[1] / 'test.py'
MAX_LISTED = 5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Confusion matrix of a segmentor')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint (not with --pred-dir)')
    parser.add_argument('--pred-dir', help='folder of predicted masks <image stem>.png')
    parser.add_argument('--out-dir', required=True, help='where the CSV and PNG files go')
    parser.add_argument('--normalize', action='store_true',
                        help='draw row percentages (share of each ground-truth class)')
    parser.add_argument('--top-k', type=int, help='draw only the K most-confused classes')
    parser.add_argument('--tta', action='store_true', help='passed to tools/test.py')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='override config entries (k=v ...), as tools/test.py takes them')
    args = parser.parse_args(argv)
    if (args.checkpoint is None) == (args.pred_dir is None):
        parser.error('give either a CHECKPOINT or --pred-dir (one of them)')
    if args.top_k is not None and args.top_k < 2:
        parser.error(f'--top-k must be at least 2, got {args.top_k}')
    if args.pred_dir and args.tta:
        parser.error('--tta needs a checkpoint, not --pred-dir')
    return args


def _iou_metric_key(cfg, config: str) -> str:
    """The --cfg-options prefix of the config's IoUMetric in test_evaluator."""
    evaluator = cfg.get('test_evaluator')
    if not evaluator:
        raise SystemExit(f'{config}: no test_evaluator in the config; add '
                         "test_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])")
    if isinstance(evaluator, dict):
        evaluator, prefix = [evaluator], 'test_evaluator'
    else:
        prefix = 'test_evaluator.{}'
    for i, metric in enumerate(evaluator):
        if metric.get('type') in ('IoUMetric', 'upertool.IoUMetric', 'mmseg.IoUMetric'):
            return prefix.format(i)
    raise SystemExit(f'{config}: test_evaluator has no IoUMetric '
                     f'({[m.get("type") for m in evaluator]})')


def parse_options(raw: list[str]) -> dict:
    """'k=v' strings as --cfg-options parses them (the strings go to tools/test.py unchanged)."""
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    return parser.parse_args(['--cfg-options', *raw]).cfg_options if raw else {}


def run_model(args: argparse.Namespace) -> None:
    """tools/test.py with the IoUMetric switched to save its reports into --out-dir."""
    from upertool.engine.cli import read_config
    cfg = read_config(args.config, parse_options(args.cfg_options))
    key = _iou_metric_key(cfg, args.config)
    out_dir = osp.abspath(args.out_dir)
    argv = [str(TEST_TOOL), args.config, args.checkpoint, '--work-dir', out_dir]
    if args.tta:
        argv.append('--tta')
    argv += ['--cfg-options', *args.cfg_options, f'{key}.save_confusion_matrix=True',
             f'{key}.report_dir={out_dir}']
    saved = sys.argv
    sys.argv = argv
    try:
        runpy.run_path(str(TEST_TOOL), run_name='__main__')
    finally:
        sys.argv = saved
    if args.normalize or args.top_k:
        redraw(out_dir, args.normalize, args.top_k)


def redraw(out_dir: str, normalize: bool, top_k: int | None) -> None:
    """Draw confusion_matrix.png again from the CSV, with the drawing options."""
    from upertool.evaluation.metric_reports import CONFUSION_CSV, CONFUSION_PNG, read_confusion_csv
    from upertool.visualization.confusion_matrix import plot_confusion_matrix
    matrix, classes = read_confusion_csv(osp.join(out_dir, CONFUSION_CSV))
    plot_confusion_matrix(matrix, classes, osp.join(out_dir, CONFUSION_PNG),
                          normalize=normalize, top_k=top_k)


def build_test_dataset(config: str, cfg_options: dict):
    """The config's test dataset with no pipeline (data infos only), and its class names."""
    import upertool  # noqa: F401  (registers the components)
    from upertool.engine.cli import read_config
    from upertool.registry import DATASETS
    cfg = read_config(config, cfg_options)
    loader = cfg.get('test_dataloader')
    if not loader or 'dataset' not in loader:
        raise SystemExit(f'{config}: no test_dataloader.dataset in the config')
    dataset_cfg = loader.dataset
    dataset_cfg.pipeline = []
    dataset = DATASETS.build(dataset_cfg)
    return dataset, list(dataset.metainfo['classes'])


def _listing(names: list[str]) -> str:
    more = f' (and {len(names) - MAX_LISTED} more)' if len(names) > MAX_LISTED else ''
    return ', '.join(names[:MAX_LISTED]) + more


def _read_prediction(path: str, reduce_zero_label: bool) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as image:
        pred = np.asarray(image).astype(np.int64)
    if pred.ndim != 2:
        raise SystemExit(f'{path}: a prediction must be a single-channel class-index PNG, '
                         f'got shape {pred.shape}')
    # tools/test.py --out writes label + 1 for reduce_zero_label datasets (ADE20K numbering)
    return pred - 1 if reduce_zero_label else pred


def pred_dir_matrix(dataset, classes: list[str], pred_dir: str) -> np.ndarray:
    """Sum the confusion matrices of every test image; stop on any mismatch, naming files."""
    import torch

    from upertool.datasets.transforms import LoadAnnotations
    from upertool.evaluation.metric_reports import confusion_matrix
    if not osp.isdir(pred_dir):
        raise SystemExit(f'--pred-dir {pred_dir}: no such folder')
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    stems = [osp.splitext(osp.basename(info['img_path']))[0] for info in infos]
    available = {p.stem for p in Path(pred_dir).glob('*.png')}
    missing = [f'{s}.png' for s in stems if s not in available]
    if missing:
        extra = sorted(available - set(stems))
        raise SystemExit(
            f'--pred-dir {pred_dir}: {len(missing)} of {len(stems)} test images have no '
            f'prediction: {_listing(missing)}' + (
                f'; files there that match no test image: {_listing(extra)}' if extra else ''))
    num_classes, loader = len(classes), LoadAnnotations()
    ignore_index = getattr(dataset, 'ignore_index', 255)
    total = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    wrong_size, out_of_range = [], []
    for info, stem in zip(infos, stems, strict=True):
        path = osp.join(pred_dir, f'{stem}.png')
        gt = loader(dict(info))['gt_seg_map']
        pred = _read_prediction(path, bool(info.get('reduce_zero_label', False)))
        if pred.shape != gt.shape:
            wrong_size.append(f'{stem}.png {pred.shape[1]}x{pred.shape[0]} vs ground truth '
                              f'{gt.shape[1]}x{gt.shape[0]}')
            continue
        if pred.min() < 0 or pred.max() >= num_classes:
            out_of_range.append(f'{stem}.png [{pred.min()}, {pred.max()}]')
            continue
        total += confusion_matrix(torch.from_numpy(pred), torch.from_numpy(gt.astype(np.int64)),
                                  num_classes, ignore_index)
    if wrong_size:
        raise SystemExit(f'--pred-dir {pred_dir}: {len(wrong_size)} predictions differ in size '
                         f'(WxH) from their ground truth: {_listing(wrong_size)}')
    if out_of_range:
        raise SystemExit(f'--pred-dir {pred_dir}: {len(out_of_range)} predictions hold labels '
                         f'outside [0, {num_classes}) (after the reduce_zero_label shift): '
                         f'{_listing(out_of_range)}')
    return total.numpy()


def run_pred_dir(args: argparse.Namespace) -> None:
    from upertool.evaluation.iou_metric import format_table
    from upertool.evaluation.metric_reports import metrics_from_confusion, write_reports
    dataset, classes = build_test_dataset(args.config, parse_options(args.cfg_options))
    matrix = pred_dir_matrix(dataset, classes, args.pred_dir)
    per_class = metrics_from_confusion(matrix)
    paths = write_reports(args.out_dir, matrix, classes, per_class, normalize=args.normalize,
                          top_k=args.top_k)
    columns = {'Class': classes}
    columns.update({k: [round(float(v) * 100, 2) for v in values]
                    for k, values in per_class.items()})
    print(format_table(columns))
    with np.errstate(invalid='ignore'):
        print(f'mIoU: {np.nanmean(per_class["IoU"]) * 100:.2f}  '
              f'mAcc: {np.nanmean(per_class["Acc"]) * 100:.2f}  '
              f'aAcc: {np.trace(matrix) / max(matrix.sum(), 1) * 100:.2f}')
    print('confusion_matrix: wrote ' + ', '.join(paths))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.pred_dir:
        run_pred_dir(args)
    else:
        run_model(args)


if __name__ == '__main__':
    main(sys.argv[1:])
