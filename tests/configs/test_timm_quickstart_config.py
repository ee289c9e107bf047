"""The quickstart's timm variant trains through tools/train.py (two iterations, tiny data)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from upertool.checkpoint import load_checkpoint_file

ROOT = Path(__file__).resolve().parents[2]
CONFIG = 'configs/quickstart/upernet_timm-resnet18-narrow_1xb8-2.4k_synthetic-96x96.py'
pytestmark = [pytest.mark.extras, pytest.mark.slow]


def test_timm_quickstart_trains_two_iterations(tmp_path):
    pytest.importorskip('timm')
    work, cache = tmp_path / 'work', tmp_path / 'cache'
    options = [
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=2', 'param_scheduler.0.end=2',
        'model.data_preprocessor.size=[32,32]', 'model.decode_head.channels=8',
        # timm's own arguments, shrunk like the quickstart's ResNet in tests/tools
        'model.backbone.stem_width=4', 'model.backbone.channels=[8,8,16,16]',
    ]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [f'{loader}.dataset.{k}' for k in (
            'num_train=8', 'num_val=4', 'image_size=32', f'cache_dir={cache}')]
        options += [f'{loader}.num_workers=0', f'{loader}.persistent_workers=False',
                    f'{loader}.batch_size=2']
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(work), '--cfg-options',
         *options], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    losses = re.findall(r'Iter\(train\) \[(\d)/2\].*?decode\.loss_ce: ([\d.]+)', output)
    assert [i for i, _ in losses] == ['1', '2'], output[-3000:]
    assert all(0 < float(loss) < 10 for _, loss in losses)
    # the validation at the last iteration ran and reported metrics
    assert re.search(r'Iter\(val\) \[\d+/\d+\]\s+aAcc: [\d.]+\s+mIoU: [\d.]+', output), \
        output[-3000:]
    state = load_checkpoint_file(work / 'iter_2.pth')['state_dict']
    assert state['backbone.timm_model.layer4.0.conv1.weight'].shape[0] == 16
