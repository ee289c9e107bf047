"""Cityscapes: write *_gtFine_labelTrainIds.png (19 train ids, 255 ignored) next to every
official *_gtFine_labelIds.png.

    python tools/dataset_converters/cityscapes.py data/cityscapes [--gt-dir gtFine] [--nproc 8]
"""
import argparse
import os.path as osp
import sys

from upertool.datasets.converters import convert_cityscapes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('cityscapes_path', help='Cityscapes root (holding gtFine/)')
    parser.add_argument('--gt-dir', default='gtFine', help='label folder under the root')
    parser.add_argument('--nproc', type=int, default=8, help='worker processes')
    parser.add_argument('--log-every', type=int, default=500, help='progress line interval')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    convert_cityscapes(osp.join(args.cityscapes_path, args.gt_dir), nproc=args.nproc,
                       log=lambda msg: print(msg, flush=True), log_every=args.log_every)


if __name__ == '__main__':
    sys.exit(main())
