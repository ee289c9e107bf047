"""Decode every image and mask of a config's datasets and report all problems at once.

    python tools/analysis/check_dataset.py CONFIG [--splits train val test] [--cfg-options ...]

Datasets check file headers when they are built; this reads every file in full, as training
would: undecodable or truncated images, masks of another size than their image, colour masks,
label values outside [0, num_classes) other than the ignore index (after label_map and
reduce_zero_label). Exit status 1 if anything was found, 0 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from mmengine.config import DictAction


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument(
        '--splits', nargs='+', default=['train', 'val', 'test'], choices=['train', 'val', 'test']
    )
    parser.add_argument('--workers', type=int, default=min(8, 2 * (os.cpu_count() or 1)))
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def check_sample(info: dict) -> str | None:
    """The problem with one sample's files, or None."""
    from upertool.datasets.transforms import LoadAnnotations, LoadImageFromFile

    results = dict(info)
    try:
        results = LoadImageFromFile()(results)
        if results is not None and info.get('seg_map_path'):
            LoadAnnotations()(results)
    except Exception as err:  # every loader error names its file
        return f'{type(err).__name__}: {err}'
    return None


def check_split(cfg, split: str, workers: int) -> tuple[int, list[str]]:
    from upertool.datasets.sample_checks import sample_checks_disabled
    from upertool.registry import DATASETS

    loader = cfg.get(f'{split}_dataloader')
    if not loader:
        return 0, []
    with sample_checks_disabled():
        try:
            dataset = DATASETS.build(loader['dataset'])
        except Exception as err:
            return 0, [f'building the dataset failed: {type(err).__name__}: {err}']
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        problems = [p for p in pool.map(check_sample, infos) if p]
    return len(infos), problems


def main() -> int:
    args = parse_args()
    from mmengine.registry import init_default_scope

    from upertool.engine.cli import read_config

    cfg = read_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'upertool'))
    total = 0
    seen = set()
    for split in args.splits:
        key = repr(cfg.get(f'{split}_dataloader', {}).get('dataset'))
        if key in seen:  # test_dataloader = val_dataloader
            continue
        seen.add(key)
        count, problems = check_split(cfg, split, args.workers)
        total += len(problems)
        print(f'{split}: {count} samples, {len(problems)} problem(s)')
        for problem in problems:
            print(f'  {problem}')
    print('no problems found' if total == 0 else f'{total} problem(s) found')
    return 1 if total else 0


if __name__ == '__main__':
    sys.exit(main())
