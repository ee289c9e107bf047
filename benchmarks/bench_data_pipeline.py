"""Images per second of a config's training data pipeline through a DataLoader.

    python benchmarks/bench_data_pipeline.py quickstart --workers 0 1 2
    python benchmarks/bench_data_pipeline.py configs/upernet/upernet_r50_4xb4-80k_ade20k-512x512.py

Builds the config's train_dataloader (its dataset, pipeline and batch size; the synthetic
set is generated on first use) and times `--batches` batches after one warm-up batch, for
each worker count. Nothing runs the model: this is the loader alone.
"""
from __future__ import annotations

import argparse
import os
import time

from common import NAMED_CONFIGS, REPO


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help=f"a config path or one of {', '.join(NAMED_CONFIGS)}")
    parser.add_argument('--workers', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--batches', type=int, default=50)
    args = parser.parse_args()

    from mmengine.config import Config
    from mmengine.runner import Runner

    import upertool  # noqa: F401
    path = NAMED_CONFIGS.get(args.config, args.config)
    cfg = Config.fromfile(path if os.path.isabs(path) else os.path.join(REPO, path))
    for workers in args.workers:
        loader_cfg = cfg.train_dataloader.copy()
        loader_cfg.update(num_workers=workers, persistent_workers=workers > 0)
        loader = Runner.build_dataloader(loader_cfg, seed=0)
        batches = iter(loader)
        next(batches)  # workers started, files opened
        start = time.perf_counter()
        images = 0
        for _ in range(args.batches):
            images += len(next(batches)['inputs'])
        seconds = time.perf_counter() - start
        print(f'{args.config}: {workers} workers, batch {loader_cfg.batch_size}: '
              f'{images / seconds:.1f} images/s ({1000 * seconds / args.batches:.1f} ms/batch)')


if __name__ == '__main__':
    main()
