"""Shared by the analysis-tool tests: a quickstart run shrunk to seconds, and tool runners.

Loaded by path (the tests run with --import-mode=importlib), see `load_helpers` in each test.
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / 'configs/quickstart/upernet_r18-narrow_1xb8-2.4k_synthetic-96x96.py')


def tiny_options(cache_dir: Path, max_iters: int, val_interval: int | None = None) -> list[str]:
    """32 px images, 8 train / 4 val, 8-channel widths: a few seconds per run."""
    opts = [
        f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={val_interval or max_iters}',
        f'default_hooks.checkpoint.interval={val_interval or max_iters}',
        'default_hooks.logger.interval=1', 'model.data_preprocessor.size=[32,32]',
        'model.backbone.base_channels=8', 'model.backbone.stem_channels=8',
        'model.decode_head.channels=8', 'model.auxiliary_head.channels=8',
        'param_scheduler.0.end=2', 'param_scheduler.1.begin=2',
        f'param_scheduler.1.end={max_iters}',
    ]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.dataset.{k}' for k in (
            'num_train=8', 'num_val=4', 'image_size=32', f'cache_dir={cache_dir}')]
        opts += [f'{loader}.num_workers=0', f'{loader}.persistent_workers=False']
    return opts + ['train_dataloader.batch_size=2']


def run_tool(args: list[str], expect_ok: bool = True) -> str:
    """Run a tool in a fresh interpreter from the repository root; stdout + stderr."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert (proc.returncode == 0) == expect_ok, f'{" ".join(args)} -> {proc.returncode}:\n' \
                                                f'{output[-4000:]}'
    return output


def load_tool(relative: str):
    """A tool script as a module (tools/ is not a package)."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(f'tool_{path.stem}', path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def printed_per_class(output: str, classes: list[str]) -> dict[str, dict[str, float]]:
    """IoUMetric's per-class table from a log: {'IoU': {class: %}, 'Acc': {...}}."""
    table = output[output.rindex('per class results'):]
    header = re.search(r'\|\s*Class\s*\|(.*)\|', table).group(1)
    keys = [k.strip() for k in header.split('|')]
    found: dict[str, dict[str, float]] = {k: {} for k in keys}
    for name in classes:
        row = re.search(rf'\|\s*{re.escape(name)}\s*\|(.*)\|', table).group(1)
        for key, cell in zip(keys, row.split('|'), strict=True):
            found[key][name] = float(cell)
    return found


def check_png(path: Path, min_size: tuple[int, int], max_size: tuple[int, int],
              min_coloured: float = 0.01) -> np.ndarray:
    """Open a PNG, check its (width, height) lies in the bounds and that it is not blank
    (`min_coloured`: the share of clearly coloured pixels; thin curves need a lower one)."""
    from PIL import Image
    with Image.open(path) as image:
        image.load()
        size = image.size
        pixels = np.asarray(image.convert('RGB'))
    assert min_size[0] <= size[0] <= max_size[0] and min_size[1] <= size[1] <= max_size[1], \
        (path, size)
    assert pixels.std() > 10, f'{path} looks blank'
    # more than background and text: some coloured (non-grey) pixels are drawn
    spread = pixels.max(axis=2).astype(int) - pixels.min(axis=2)
    assert (spread > 40).mean() > min_coloured, f'{path} has no coloured content'
    return pixels
