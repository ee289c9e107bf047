"""The multi-task config under `--launcher pytorch` (two CPU ranks, gloo): every rank draws the
same source at every iteration, batches never mix sources, and DDP (with unused branches
on single-source batches) keeps the ranks' weights equal."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name('multi_task_ddp_worker.py')
ROOT = Path(__file__).parents[3]


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU-only code path')
def test_two_ranks_draw_the_same_sources_and_stay_in_sync(tmp_path):
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node',
           '2', str(WORKER), str(tmp_path)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600,
                            cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f'rank{r}.pt', weights_only=True) for r in (0, 1)]
    assert ranks[0]['wrapper'] == 'MMDistributedDataParallel'
    assert len(ranks[0]['sources']) == 6
    assert all(len(s) == 1 for rank in ranks for s in rank['sources'])  # one source a batch
    assert ranks[0]['sources'] == ranks[1]['sources']
    # parameters (BatchNorm statistics are per rank with plain BN)
    for key, value in ranks[0]['params'].items():
        assert torch.equal(value, ranks[1]['params'][key]), key
