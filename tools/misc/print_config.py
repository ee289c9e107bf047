"""Print a config fully merged: bases resolved, --cfg-options applied.

    python tools/misc/print_config.py CONFIG
    python tools/misc/print_config.py CONFIG --cfg-options model.decode_head.num_classes=5
    python tools/misc/print_config.py CONFIG --save merged.py    # a file that needs no _base_

What is printed is what tools/train.py and tools/test.py hand to the runner (before their own
flags such as --work-dir or --tta are applied).
"""
from __future__ import annotations

import argparse
import sys

from mmengine.config import DictAction

from upertool.engine.cli import read_config


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Print the fully merged config')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_cfg.max_iters=100')
    parser.add_argument('--save', help='also write the merged config to this .py file')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    cfg = read_config(args.config, args.cfg_options)
    text = cfg.pretty_text
    print(f'Config (merged from {args.config}):\n{text}')
    if args.save:
        if not args.save.endswith('.py'):
            raise SystemExit(f'--save {args.save}: give a .py file name')
        cfg.dump(args.save)
        print(f'print_config: wrote {args.save}')
    return text


if __name__ == '__main__':
    main(sys.argv[1:])
