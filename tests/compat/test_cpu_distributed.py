"""`--launcher pytorch` trains on CPU: gloo, no set_device, DDP without device_ids."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.model.wrappers.distributed import MMDistributedDataParallel
from torch import nn

from upertool.compat import install_runner_fixes, install_stack_fixes

WORKER = Path(__file__).with_name('cpu_ddp_worker.py')


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU-only code path')
def test_two_cpu_ranks_train_with_averaged_gradients(tmp_path):
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone',
           '--nproc_per_node', '2', str(WORKER), str(tmp_path)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    ranks = [torch.load(tmp_path / f'rank{r}.pt', weights_only=True) for r in (0, 1)]
    for rank in ranks:
        assert rank['backend'] == 'gloo' and rank['world_size'] == 2
        assert rank['wrapper'] == 'MMDistributedDataParallel'
        assert rank['device_ids'] == 'None'
        assert rank['built_norm'] == 'FallbackSyncBatchNorm'
        assert rank['norm'] == '_BatchNormXd'  # torch's DDP refuses SyncBatchNorm on CPU
    before, after = ranks[0]['after'], ranks[1]['after']
    assert before.keys() == after.keys() and len(after) >= 3
    for name in after:
        # Ranks saw different samples: equal parameters mean DDP averaged the gradients.
        assert torch.equal(ranks[0]['after'][name], ranks[1]['after'][name]), name
    assert any(not torch.equal(ranks[0]['before'][k], ranks[0]['after'][k]) for k in after)


def test_ddp_wrapper_keeps_device_ids_off_cpu_modules_only(monkeypatch):
    install_stack_fixes()
    install_runner_fixes()  # the DDP wrapper's fix comes with the Runner's (run alone: not yet)
    seen = {}

    def fake_ddp_init(self, *args, **kwargs):  # what the patch forwards to torch's DDP
        seen.update(kwargs)

    patched = MMDistributedDataParallel.__init__
    assert patched.__upertool_replaces__ is not None
    monkeypatch.setattr('torch.nn.parallel.DistributedDataParallel.__init__', fake_ddp_init)

    patched(object.__new__(MMDistributedDataParallel), module=nn.Linear(2, 2),
            device_ids=[0], broadcast_buffers=False)
    assert seen['device_ids'] is None and seen['broadcast_buffers'] is False

    seen.clear()
    meta_module = nn.Linear(2, 2, device='meta')  # stands in for a module on a GPU
    patched(object.__new__(MMDistributedDataParallel), module=meta_module, device_ids=[0])
    assert seen['device_ids'] == [0]


@pytest.mark.parametrize('cuda', [False, True])
def test_init_dist_pytorch_changes_only_the_cpu_case(monkeypatch, cuda):
    import mmengine.dist.utils as dist_utils

    install_stack_fixes()
    calls = []
    monkeypatch.setenv('RANK', '0')
    monkeypatch.setenv('LOCAL_RANK', '1')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: cuda)
    monkeypatch.setattr(torch.cuda, 'set_device', lambda i: calls.append(('set_device', i)))
    monkeypatch.setattr(torch.distributed, 'init_process_group',
                        lambda backend, **kw: calls.append(('init', backend)))

    dist_utils._init_dist_pytorch('nccl')

    if cuda:  # mmengine's own behaviour
        assert calls == [('set_device', 1), ('init', 'nccl')]
    else:
        assert calls == [('init', 'gloo')]
