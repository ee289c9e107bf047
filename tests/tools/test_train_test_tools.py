"""tools/train.py and tools/test.py end to end on a tiny quickstart run (real processes)."""
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from upertool.engine.optimizers import cpu_supports_bf16

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / 'configs/quickstart/upernet_r18-narrow_1xb8-2.4k_synthetic-96x96.py')
pytestmark = pytest.mark.slow


def tiny_options(cache_dir: Path, max_iters: int) -> list[str]:
    """Shrink the quickstart to seconds: 32 px images, 16 train / 6 val, narrow widths."""
    opts = [
        f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={max_iters}',
        'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
        'model.data_preprocessor.size=[32,32]', 'model.backbone.base_channels=8',
        'model.backbone.stem_channels=8', 'model.decode_head.channels=8',
        'param_scheduler.0.end=2',
    ]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.dataset.{k}' for k in (
            'num_train=16', 'num_val=6', 'image_size=32', f'cache_dir={cache_dir}')]
        opts += [f'{loader}.num_workers=0', f'{loader}.persistent_workers=False',
                 f'{loader}.batch_size=2']
    return opts


def run_tool(args: list[str], cwd: Path, launcher: list[str] | None = None) -> str:
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    cmd = (launcher or [sys.executable]) + args
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{" ".join(cmd)} failed:\n{output[-4000:]}'
    return output


def read_metrics(output: str) -> dict[str, float]:
    """The final test metrics as rank 0 logs them ('Iter(test) [N/N]  aAcc: ..  mIoU: ..')."""
    found = re.findall(r'Iter\(test\) \[(\d+)/\1\]\s+aAcc: ([\d.]+)\s+mIoU: ([\d.]+)'
                       r'\s+mAcc: ([\d.]+)', output)
    assert len(found) == 1, output[-3000:]
    _, aacc, miou, macc = found[0]
    return {'aAcc': float(aacc), 'mIoU': float(miou), 'mAcc': float(macc)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture(scope='module')
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """Train 4 iterations, interrupted after 2 and resumed with --resume."""
    base = tmp_path_factory.mktemp('tools')
    work = base / 'work'
    cache = base / 'cache'
    run_tool(['tools/train.py', CONFIG, '--work-dir', str(work), '--cfg-options',
              *tiny_options(cache, 2)], cwd=ROOT)
    assert (work / 'iter_2.pth').exists()
    assert (work / 'last_checkpoint').read_text().strip().endswith('iter_2.pth')
    out = run_tool(['tools/train.py', CONFIG, '--work-dir', str(work), '--resume',
                    '--cfg-options', *tiny_options(cache, 4)], cwd=ROOT)
    assert 'resumed' in out.lower() and 'iter_2.pth' in out, out[-3000:]
    assert 'Iter(train) [3/4]' in out and 'Iter(train) [1/4]' not in out
    assert (work / 'iter_4.pth').exists()
    return work, cache


def test_train_resume_then_test_writes_metrics_overlays_and_masks(trained, tmp_path):
    work, cache = trained
    out_dir, show_dir = tmp_path / 'masks', tmp_path / 'show'
    output = run_tool(['tools/test.py', CONFIG, str(work / 'iter_4.pth'), '--work-dir',
                       str(tmp_path), '--out', str(out_dir), '--show-dir', str(show_dir),
                       '--cfg-options', *tiny_options(cache, 4)], cwd=ROOT)
    metrics = read_metrics(output)
    assert {'aAcc', 'mIoU', 'mAcc'} <= set(metrics)
    assert 0.0 <= metrics['mIoU'] <= 100.0
    assert 'per class results' in output
    assert len(list(out_dir.glob('*.png'))) == 6
    overlays = list(show_dir.rglob('*.png'))
    assert len(overlays) == 6


def test_tta_runs_and_reports_metrics(trained, tmp_path):
    work, cache = trained
    output = run_tool(['tools/test.py', CONFIG, str(work / 'iter_4.pth'), '--work-dir',
                       str(tmp_path), '--tta', '--cfg-options', *tiny_options(cache, 4)], cwd=ROOT)
    assert 0.0 <= read_metrics(output)['mIoU'] <= 100.0


@pytest.fixture(scope='module')
def single_process_metrics(trained, tmp_path_factory):
    work, cache = trained
    output = run_tool(['tools/test.py', CONFIG, str(work / 'iter_4.pth'), '--work-dir',
                       str(tmp_path_factory.mktemp('one')), '--cfg-options',
                       *tiny_options(cache, 4)], cwd=ROOT)
    return read_metrics(output)


def test_precision_bf16(trained, single_process_metrics, tmp_path):
    work, cache = trained
    output = run_tool(['tools/test.py', CONFIG, str(work / 'iter_4.pth'), '--work-dir',
                       str(tmp_path), '--precision', 'bf16', '--cfg-options',
                       *tiny_options(cache, 4)], cwd=ROOT)
    metrics = read_metrics(output)
    if cpu_supports_bf16():
        assert abs(metrics['mIoU'] - single_process_metrics['mIoU']) < 5.0
    else:  # emulated bf16 would be slower than fp32: it says so and runs fp32
        assert "precision 'bf16' on cpu" in output and 'running in fp32' in output
        assert metrics == single_process_metrics


def test_distributed_train_and_test_match_single_process(trained, single_process_metrics,
                                                         tmp_path):
    work, cache = trained
    torchrun = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
                '--master_port', str(free_port())]
    run_tool(['tools/train.py', CONFIG, '--work-dir', str(tmp_path / 'ddp_train'),
              '--launcher', 'pytorch', '--cfg-options', *tiny_options(cache, 2)],
             cwd=ROOT, launcher=torchrun)
    assert (tmp_path / 'ddp_train' / 'iter_2.pth').exists()

    ckpt = str(work / 'iter_4.pth')
    two = run_tool(['tools/test.py', CONFIG, ckpt, '--work-dir', str(tmp_path / 'two'),
                    '--launcher', 'pytorch', '--cfg-options', *tiny_options(cache, 4)],
                   cwd=ROOT, launcher=torchrun[:-1] + [str(free_port())])
    one, two = single_process_metrics, read_metrics(two)
    for key in ('aAcc', 'mIoU', 'mAcc'):
        assert one[key] == two[key], (key, one, two)


MULTI_TASK_CONFIG = str(
    ROOT / 'configs/upp/upernet-upp_r18-narrow_1xb8-2.4k_synthetic-multitask-96x96.py')


def test_show_dir_draws_every_task_of_a_multi_task_model(tmp_path):
    """--show-dir on a MultiTaskEncoderDecoder: draw_multi_task's panels, not objects only."""
    import cv2
    import torch
    from mmengine.config import Config

    from upertool.registry import MODELS
    from upertool.utils import register_all_modules

    opts = ['model.data_preprocessor.size=[32,32]', 'model.backbone.base_channels=8',
            'model.backbone.stem_channels=8', 'model.decode_head.channels=8',
            'model.auxiliary_head.channels=8']
    data = [f'test_dataloader.dataset.sources.0.dataset.{k}' for k in (
        'num_train=8', 'num_parsing=4', 'num_val=3', 'image_size=32',
        f'cache_dir={tmp_path / "cache"}')] + ['test_dataloader.batch_size=2']
    register_all_modules()
    cfg = Config.fromfile(MULTI_TASK_CONFIG)
    cfg.model.data_preprocessor.size = [32, 32]
    cfg.model.decode_head.channels = cfg.model.auxiliary_head.channels = 8
    cfg.model.backbone.base_channels = cfg.model.backbone.stem_channels = 8
    torch.manual_seed(0)
    ckpt = tmp_path / 'random.pth'
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict(), 'meta': {}}, ckpt)
    show_dir = tmp_path / 'show'
    run_tool(['tools/test.py', MULTI_TASK_CONFIG, str(ckpt), '--work-dir', str(tmp_path),
              '--show-dir', str(show_dir), '--cfg-options', *opts, *data], cwd=ROOT)
    drawings = sorted(show_dir.rglob('*.png'))
    assert len(drawings) == 3
    img = cv2.imread(str(drawings[0]))
    # 32 px images drawn at 8x: image, objects, parts and materials panels (256 px each,
    # 4 px gaps) under the scene banner; an objects-only overlay is the image's width
    assert img.shape[1] == 4 * 256 + 3 * 4, img.shape
    banner = img[:28]
    assert (banner < 128).any()  # the scene label is written
