"""Evaluate a checkpoint: python tools/test.py CONFIG CHECKPOINT [--show-dir D] [--tta]."""
import argparse
import os.path as osp

from mmengine.config import Config
from mmengine.runner import Runner

from upertool.checkpoint.strict_load import check_checkpoint_fits
from upertool.engine.cli import add_common_args, close_distributed, load_config
from upertool.engine.precision import PRECISIONS
from upertool.engine.run_guards import clear_errors, folder_lock, prepare_testing


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='folder to write predicted masks to, as PNG')
    parser.add_argument('--show', action='store_true', help='show results in a window')
    parser.add_argument('--show-dir',
                        help='write image | ground truth | prediction overlays to '
                             'DIR/vis_data/vis_image/')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds per shown image')
    parser.add_argument('--tta', action='store_true',
                        help='multi-scale + flip test-time augmentation (config tta_pipeline)')
    parser.add_argument('--precision', choices=PRECISIONS,
                        help='autocast the forward passes (test_cfg.precision); bf16 on a CPU '
                             'without native bf16 runs in fp32 and says so')
    parser.add_argument('--allow-partial-checkpoint', action='store_true',
                        help='evaluate even if the checkpoint lacks, adds or reshapes weights '
                             'of the model (by default that stops with a summary)')
    add_common_args(parser)
    return parser.parse_args()


def enable_visualization(cfg: Config, args: argparse.Namespace) -> None:
    hooks = cfg.get('default_hooks', {})
    if 'visualization' not in hooks:
        raise SystemExit('--show/--show-dir need default_hooks.visualization '
                         '(SegVisualizationHook) in the config.')
    hook = hooks['visualization']
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        cfg.visualizer['save_dir'] = args.show_dir
        cfg.visualizer['vis_backends'] = [dict(type='LocalVisBackend')]


def enable_tta(cfg: Config) -> None:
    if 'tta_pipeline' not in cfg or 'tta_model' not in cfg:
        raise SystemExit('--tta needs tta_pipeline and tta_model in the config.')
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.tta_model.module = cfg.model
    cfg.model = cfg.tta_model


def main() -> None:
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'Checkpoint not found: {args.checkpoint}')
    with clear_errors():
        cfg = load_config(args.config, args)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        enable_visualization(cfg, args)
    test_cfg = cfg.model.setdefault('test_cfg', {}) or {}
    cfg.model.test_cfg = test_cfg
    if args.precision:
        test_cfg['precision'] = args.precision
    if args.tta:
        enable_tta(cfg)  # merging views needs every view's logits
    else:
        # the metric and the visualizer read labels only: slide inference then keeps
        # bounded memory (see EncoderDecoder.predict)
        test_cfg.setdefault('return_logits', False)
    if args.out:
        cfg.test_evaluator['output_dir'] = args.out
    with clear_errors():
        prepare_testing(cfg)
        with folder_lock(args.out, 'writing predicted masks'):  # one run per --out folder
            runner = Runner.from_cfg(cfg)
            if not args.allow_partial_checkpoint:
                check_checkpoint_fits(runner.model, args.checkpoint)  # before mmengine's lax load
            runner.test()
    close_distributed()


if __name__ == '__main__':
    main()
