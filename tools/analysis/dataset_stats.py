"""Class pixel frequencies, image sizes and suggested class weights of a config's dataset.

    python tools/analysis/dataset_stats.py CONFIG [--split train] [--out-dir DIR]

Writes DIR/class_weights.npy (for CrossEntropyLoss(class_weight='DIR/class_weights.npy'))
and DIR/dataset_stats.json, and prints a per-class table.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction

from upertool.datasets.converters.from_config import build_dataset, dataset_cfg_from_config
from upertool.datasets.converters.stats import (
    WEIGHT_METHODS,
    class_weights,
    compute_stats,
    format_table,
    save_class_weights,
    stats_dataset_cfg,
    write_report,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('--split', default='train', choices=['train', 'val', 'test'])
    parser.add_argument('--out-dir', help='default work_dirs/dataset_stats/<config name>')
    parser.add_argument('--method', default='median_frequency', choices=WEIGHT_METHODS,
                        help='class weighting scheme')
    parser.add_argument('--max-samples', type=int, help='only the first N samples')
    parser.add_argument('--log-every', type=int, default=500, help='progress line interval')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_dataloader.dataset.data_root=X')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    dataset_cfg, _ = dataset_cfg_from_config(args.config, args.split, args.cfg_options)
    dataset = build_dataset(stats_dataset_cfg(dataset_cfg))
    classes = dataset.metainfo['classes']
    stats = compute_stats(dataset, len(classes), getattr(dataset, 'ignore_index', 255),
                          args.max_samples, log=print, log_every=args.log_every)
    weights = class_weights(stats['pixel_counts'], stats['image_pixels'], args.method)
    out_dir = args.out_dir or osp.join(
        'work_dirs', 'dataset_stats', osp.splitext(osp.basename(args.config))[0])
    weights_path = save_class_weights(weights, osp.join(out_dir, 'class_weights.npy'))
    write_report(stats, classes, weights, osp.join(out_dir, 'dataset_stats.json'))
    print(format_table(stats, classes, weights))
    print(f'class weights ({args.method}): {weights_path}\n'
          f"use: loss_decode=dict(type='CrossEntropyLoss', class_weight='{weights_path}')")


if __name__ == '__main__':
    sys.exit(main())
