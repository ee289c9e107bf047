"""Train a segmentor from a config: python tools/train.py CONFIG [--work-dir D] [--resume]."""
import argparse

from mmengine.runner import Runner

from upertool.engine.analysis_switches import add_analysis_args, apply_analysis_args
from upertool.engine.cli import add_common_args, close_distributed, enable_amp, load_config
from upertool.engine.run_guards import clear_errors, folder_lock, prepare_training


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--resume', action='store_true',
                        help='resume from the latest checkpoint in the work dir')
    parser.add_argument('--amp', nargs='?', const='on', choices=('on', 'auto'),
                        help='mixed precision: fp16 on CUDA, bf16 autocast on CPUs with native '
                             'bf16; --amp stops on other CPUs, --amp auto trains them in fp32')
    parser.add_argument('--on-nonfinite', choices=['stop', 'skip'],
                        help='a NaN/inf loss or gradient stops training (the default) or skips '
                             'that step (counted and logged); no such step is ever applied')
    add_analysis_args(parser)  # --tensorboard, --val-loss
    add_common_args(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    with clear_errors():
        cfg = load_config(args.config, args)
        if args.amp:
            enable_amp(cfg, args.amp)
        cfg.resume = args.resume
        apply_analysis_args(cfg, args)
        prepare_training(cfg, nonfinite_policy=args.on_nonfinite)
        with folder_lock(cfg.work_dir, 'training'):  # one run per work dir
            runner = Runner.from_cfg(cfg)
            runner.train()
    close_distributed()


if __name__ == '__main__':
    main()
