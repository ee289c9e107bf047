"""Seconds to build a config's train dataset, i.e. what the build-time sample checks cost.

    XDG_CACHE_HOME=/tmp/fresh python benchmarks/bench_dataset_build.py quickstart   # first build
    python benchmarks/bench_dataset_build.py quickstart                               # cached

Builds `train_dataloader.dataset` once in this process (the synthetic set must already be
generated, or its generation is timed too) and prints the wall time. Run it in a fresh
`XDG_CACHE_HOME` for the first build (every header read) and again for the cached rebuild
(only stats); `PYTHONPATH=<older checkout>` times a build without the checks.
"""

from __future__ import annotations

import argparse
import time

from common import NAMED_CONFIGS, REPO


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help=f'a config path or one of {", ".join(NAMED_CONFIGS)}')
    args = parser.parse_args()

    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import upertool  # noqa: F401
    from upertool.registry import DATASETS

    cfg = Config.fromfile(str(NAMED_CONFIGS.get(args.config, args.config)))
    init_default_scope(cfg.get('default_scope', 'upertool'))
    start = time.perf_counter()
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    seconds = time.perf_counter() - start
    print(f'{type(dataset).__name__}: {len(dataset)} samples built in {seconds:.2f} s (cwd {REPO})')


if __name__ == '__main__':
    main()
