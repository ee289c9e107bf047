"""What tools/train.py and tools/test.py share: config loading and run settings."""
from __future__ import annotations

import argparse
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.config import Config

from upertool.engine.config_checks import CheckedDictAction, check_cfg_options, read_config_file
from upertool.engine.optimizers import cpu_supports_bf16


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--cfg-options', nargs='+', action=CheckedDictAction,
        help='override config entries, e.g. train_cfg.max_iters=100 '
             'model.decode_head.num_classes=5; keys must exist in the config, '
             'a leading + adds a new one (+model.backbone.new_arg=1)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher for distributed runs (torchrun: pytorch)')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK instead
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help=argparse.SUPPRESS)


def read_config(config: str, cfg_options: dict | None = None) -> Config:
    """Read a config file and apply --cfg-options; a missing file stops with its name."""
    if not osp.isfile(config):
        raise SystemExit(f'Config file not found: {config}')
    cfg = read_config_file(config)  # a syntax error names the file and line
    if cfg_options:
        cfg.merge_from_dict(check_cfg_options(cfg, cfg_options))
    return cfg


def load_config(config: str, args: argparse.Namespace) -> Config:
    """Read the config, apply --cfg-options, --launcher and --work-dir (default work_dirs/NAME)."""
    cfg = read_config(config, args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    return cfg


def enable_amp(cfg: Config, mode: str = 'on') -> str:
    """Switch the optimizer wrapper to mixed precision for the device at hand.

    CUDA: mmengine's AmpOptimWrapper (fp16, dynamic loss scale). CPU: bf16 autocast where
    the CPU has native bf16 (AVX512-BF16 / AMX). Elsewhere bf16 would be emulated and slower
    than fp32: mode 'on' (`--amp`) stops there, mode 'auto' (`--amp auto`) trains in fp32.

    Returns:
        The precision training will use: 'fp16', 'bf16' or 'fp32'.
    """
    if mode not in ('on', 'auto'):
        raise ValueError(f"enable_amp: mode must be 'on' or 'auto', got {mode!r}")
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper not in ('OptimWrapper', 'AmpOptimWrapper', 'BF16AutocastOptimWrapper'):
        raise SystemExit(f'--amp works with OptimWrapper; this config uses {wrapper}.')
    if torch.cuda.is_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        return 'fp16'
    if cpu_supports_bf16():
        cfg.optim_wrapper.type = 'BF16AutocastOptimWrapper'
        cfg.optim_wrapper.pop('loss_scale', None)
        return 'bf16'
    if mode == 'auto':
        print('--amp auto: this CPU has no native bf16 (AVX512-BF16/AMX); training in fp32.')
        return 'fp32'
    raise SystemExit(
        '--amp: no CUDA device, and this CPU has no native bf16 (AVX512-BF16/AMX), where '
        'bf16 autocast would run slower than fp32. Train without --amp, or with --amp auto '
        '(mixed precision only where it pays).')


def close_distributed() -> None:
    """Tear down the process group before the interpreter exits.

    mmengine leaves it open; gloo's threads then die with the interpreter and a rank can abort
    at exit ("terminate called without an active exception", SIGABRT) after a successful run.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
