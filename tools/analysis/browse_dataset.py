"""Write a config's samples as the model sees them: after the pipeline, mask overlaid.

    python tools/analysis/browse_dataset.py CONFIG --output-dir DIR [--max-samples 20]

Each file is `image | image + mask` with a legend of the classes present; ignored pixels
(255: borders, padding) are left unpainted.
"""
import argparse
import sys

from mmengine.config import DictAction

from upertool.datasets.converters.browse import browse_dataset
from upertool.datasets.converters.from_config import build_dataset, dataset_cfg_from_config


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('--output-dir', required=True, help='where the drawings go')
    parser.add_argument('--split', default='train', choices=['train', 'val', 'test'])
    parser.add_argument('--max-samples', type=int, default=20)
    parser.add_argument('--alpha', type=float, default=0.5, help='overlay opacity')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_dataloader.dataset.data_root=X')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    dataset_cfg, _ = dataset_cfg_from_config(args.config, args.split, args.cfg_options)
    dataset = build_dataset(dataset_cfg)
    paths = browse_dataset(dataset, args.output_dir, args.max_samples, args.alpha)
    print(f'{len(paths)} drawing(s) in {args.output_dir}')


if __name__ == '__main__':
    sys.exit(main())
