"""tools/train.py's switches for watching a run: --tensorboard and --val-loss.

Each edits the config exactly as its documented config form would, so a config file can say
the same thing without the flag (README, "Watching training").
"""
from __future__ import annotations

import argparse
import importlib.util

from mmengine.config import Config


def add_analysis_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--tensorboard', action='store_true',
                        help='also log to TensorBoard (<work_dir>/<timestamp>/vis_data/): losses, '
                             'lr, mIoU, per-class IoU and validation overlays')
    parser.add_argument('--val-loss', action='store_true',
                        help='log the validation loss (val/loss) at each validation')


def apply_analysis_args(cfg: Config, args: argparse.Namespace) -> None:
    if getattr(args, 'tensorboard', False):
        enable_tensorboard(cfg)
    if getattr(args, 'val_loss', False):
        add_custom_hook(cfg, dict(type='ValLossHook'))


def add_custom_hook(cfg: Config, hook: dict) -> None:
    """Append `hook` to cfg.custom_hooks unless a hook of its type is already there."""
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(h.get('type') == hook['type'] for h in hooks):
        hooks.append(hook)
    cfg.custom_hooks = hooks


def enable_tensorboard(cfg: Config) -> None:
    """Add mmengine's TensorboardVisBackend, validation drawings and per-class scalars.

    Scalars (losses, lr, aAcc/mIoU/mAcc) reach TensorBoard through the visualizer the logger
    already writes to; `PerClassMetricsHook` adds `IoU/<class>`; the config's
    `SegVisualizationHook` is switched on (draw=True, its `interval`) so validation overlays
    arrive as images.
    """
    if importlib.util.find_spec('tensorboard') is None:
        raise SystemExit("--tensorboard needs the tensorboard package: pip install tensorboard "
                         "(or pip install -e '.[optional]')")
    visualizer = cfg.get('visualizer')
    if not visualizer:
        raise SystemExit('--tensorboard needs a visualizer in the config, e.g. '
                         "visualizer = dict(type='SegLocalVisualizer', "
                         "vis_backends=[dict(type='LocalVisBackend')])")
    backends = list(visualizer.get('vis_backends') or [])
    if not any(b.get('type') == 'TensorboardVisBackend' for b in backends):
        backends.append(dict(type='TensorboardVisBackend'))
    visualizer.vis_backends = backends
    hooks = cfg.get('default_hooks') or {}
    if 'visualization' in hooks:
        hooks['visualization']['draw'] = True
    add_custom_hook(cfg, dict(type='PerClassMetricsHook'))
