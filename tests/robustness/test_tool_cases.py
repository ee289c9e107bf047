"""The audit's cases through the tools themselves (tiny quickstart runs, real processes).

This module uses no new upertool names, so it runs unchanged against an older checkout: every
test here failed there (exit 0 on divergence, a restart from iteration 1, a mismatched
checkpoint scored, num_classes crashing mid-training).
"""

import pytest
import torch

pytestmark = pytest.mark.slow


def _finite(path) -> bool:
    state = torch.load(path, weights_only=False)['state_dict']
    return all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_train_tool_with_huge_lr_stops_with_exit_1(robust, tiny_cache, tmp_path):
    """The audit's case: optimizer.lr=1e6 on the quickstart (tiny) ran to the end with exit 0."""
    proc = robust.run_tool(
        [
            'tools/train.py',
            robust.QUICKSTART,
            '--work-dir',
            str(tmp_path),
            '--cfg-options',
            *robust.tiny_options(tiny_cache, 12),
            'optim_wrapper.optimizer.lr=1e6',
        ]
    )
    assert proc.returncode == 1, proc.output[-3000:]
    assert 'Training diverged at iteration' in proc.output
    assert 'decode.loss_ce=' in proc.output
    for ckpt in tmp_path.glob('iter_*.pth'):
        assert _finite(ckpt)


def test_train_tool_resume_without_pointer_continues(robust, tiny_cache, tmp_path):
    """The audit's case: 'resumed from None', iteration 1 again, iter_2.pth overwritten."""
    proc = robust.run_tool(
        [
            'tools/train.py',
            robust.QUICKSTART,
            '--work-dir',
            str(tmp_path),
            '--cfg-options',
            *robust.tiny_options(tiny_cache, 2),
        ]
    )
    assert proc.returncode == 0, proc.output[-3000:]
    (tmp_path / 'last_checkpoint').unlink()
    before = (tmp_path / 'iter_2.pth').read_bytes()
    proc = robust.run_tool(
        [
            'tools/train.py',
            robust.QUICKSTART,
            '--work-dir',
            str(tmp_path),
            '--resume',
            '--cfg-options',
            *robust.tiny_options(tiny_cache, 4),
        ]
    )
    assert proc.returncode == 0, proc.output[-3000:]
    assert 'Iter(train) [3/4]' in proc.output and 'Iter(train) [1/4]' not in proc.output
    assert (tmp_path / 'iter_2.pth').read_bytes() == before
    assert (tmp_path / 'last_checkpoint').read_text() == 'iter_4.pth'


def test_test_tool_refuses_and_allows_with_flag(robust, tiny_cache, tmp_path):
    work = tmp_path / 'work'
    opts = robust.tiny_options(tiny_cache, 2)
    proc = robust.run_tool(
        ['tools/train.py', robust.QUICKSTART, '--work-dir', str(work), '--cfg-options', *opts]
    )
    assert proc.returncode == 0, proc.output[-3000:]
    deeper = ['model.backbone.depth=34']
    proc = robust.run_tool(
        [
            'tools/test.py',
            robust.QUICKSTART,
            str(work / 'iter_2.pth'),
            '--work-dir',
            str(tmp_path / 't'),
            '--cfg-options',
            *opts,
            *deeper,
        ]
    )
    assert proc.returncode == 1, proc.output[-3000:]
    assert 'does not fit the model' in proc.output and 'missing from the checkpoint' in proc.output
    assert 'Iter(test)' not in proc.output  # nothing was scored
    proc = robust.run_tool(
        [
            'tools/test.py',
            robust.QUICKSTART,
            str(work / 'iter_2.pth'),
            '--work-dir',
            str(tmp_path / 't'),
            '--allow-partial-checkpoint',
            '--cfg-options',
            *opts,
            *deeper,
        ]
    )
    assert proc.returncode == 0 and 'Iter(test)' in proc.output, proc.output[-3000:]


def test_train_tool_checks_num_classes_before_the_first_step(robust, tiny_cache, tmp_path):
    proc = robust.run_tool(
        [
            'tools/train.py',
            robust.QUICKSTART,
            '--work-dir',
            str(tmp_path),
            '--cfg-options',
            *robust.tiny_options(tiny_cache, 4),
            'model.decode_head.num_classes=5',
            'model.auxiliary_head.num_classes=5',
        ]
    )
    assert proc.returncode != 0
    assert 'num_classes=5 but the train dataset' in proc.output
    assert 'Iter(train)' not in proc.output
