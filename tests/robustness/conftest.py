"""Shared pieces of the robustness tests: a toy mmengine Runner and the tiny quickstart."""

import os
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from mmengine.model import BaseModel
from torch import nn
from torch.utils.data import Dataset

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = str(ROOT / 'configs/quickstart/upernet_r18-narrow_1xb8-2.4k_synthetic-96x96.py')


class ToyModel(BaseModel):
    """One linear layer; a NaN input gives a NaN loss (two named terms)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        if mode == 'loss':
            return dict(loss_fit=(out - 1).pow(2).mean(), loss_reg=0.1 * out.abs().mean())
        return out


class ToyData(Dataset):
    """Sample i is [i, 1] (NaN for the indices in `bad`; `broken` ones fail to load)."""

    def __init__(self, n: int = 8, bad: tuple = (), broken: tuple = ()) -> None:
        self.n, self.bad, self.broken = n, set(bad), set(broken)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if i in self.broken:
            raise ValueError(
                f"cannot decode image file 'img_{i}.png' (as LoadImageFromFile says it)"
            )
        value = float('nan') if i in self.bad else float(i) / self.n
        return dict(inputs=torch.tensor([value, 1.0]))


def toy_runner(work_dir, max_iters=6, bad=(), hooks=None, interval=1, max_keep=2, broken=()):
    from mmengine.runner import Runner

    import upertool  # noqa: F401  (scope and stack fixes)

    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        default_scope='upertool',
        experiment_name=f'toy-{uuid.uuid4().hex[:8]}',
        train_dataloader=dict(
            dataset=ToyData(bad=bad, broken=broken),
            batch_size=1,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='pseudo_collate'),
            num_workers=0,
        ),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(
                type='CheckpointHook', by_epoch=False, interval=interval, max_keep_ckpts=max_keep
            ),
            logger=dict(type='LoggerHook', interval=1),
        ),
        custom_hooks=hooks if hooks is not None else [dict(type='DivergenceGuardHook')],
        randomness=dict(seed=0),
        log_level='WARNING',
    )


def tiny_options(cache_dir, max_iters: int) -> list:
    """The quickstart shrunk to seconds: 32 px images, 16 train / 6 val, narrow widths."""
    opts = [
        f'train_cfg.max_iters={max_iters}',
        f'train_cfg.val_interval={max_iters}',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1',
        'model.data_preprocessor.size=[32,32]',
        'model.backbone.base_channels=8',
        'model.backbone.stem_channels=8',
        'model.decode_head.channels=8',
        'param_scheduler.0.end=2',
    ]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [
            f'{loader}.dataset.{k}'
            for k in ('num_train=16', 'num_val=6', 'image_size=32', f'cache_dir={cache_dir}')
        ]
        opts += [
            f'{loader}.num_workers=0',
            f'{loader}.persistent_workers=False',
            f'{loader}.batch_size=2',
        ]
    return opts


def run_tool(args: list, cwd=ROOT, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    proc.output = proc.stdout + proc.stderr
    return proc


@pytest.fixture
def robust():
    """Helpers as a namespace (conftest modules are not importable)."""
    return SimpleNamespace(
        toy_runner=toy_runner,
        tiny_options=tiny_options,
        run_tool=run_tool,
        QUICKSTART=QUICKSTART,
        ROOT=ROOT,
    )


@pytest.fixture
def log_messages():
    """Messages logged through mmengine's current logger while the test runs."""
    import logging

    from mmengine.logging import MMLogger

    messages: list = []

    class Keep(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    logger, keep = MMLogger.get_current_instance(), Keep()
    logger.addHandler(keep)
    yield messages
    logger.removeHandler(keep)


@pytest.fixture(scope='session')
def tiny_cache(tmp_path_factory):
    """One synthetic-data cache for every tool run of the session."""
    return tmp_path_factory.mktemp('synthetic')
