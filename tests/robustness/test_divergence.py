"""Case 1: a diverging run stops (or skips the step) and never writes or keeps NaN weights."""

import pytest
import torch

from upertool.engine.hooks import DivergenceError, DivergenceGuardHook


def _finite(path) -> bool:
    state = torch.load(path, weights_only=False)['state_dict']
    return all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_nan_loss_stops_naming_iteration_and_terms(robust, tmp_path):
    runner = robust.toy_runner(tmp_path, max_iters=6, bad=(3,))  # sample 3 = iteration 4
    with pytest.raises(DivergenceError, match=r'iteration 4: the loss is nan.*loss_fit=nan'):
        runner.train()
    assert sorted(p.name for p in tmp_path.glob('iter_*.pth')) == ['iter_2.pth', 'iter_3.pth']
    assert all(_finite(p) for p in tmp_path.glob('iter_*.pth'))
    assert all(torch.isfinite(p).all() for p in runner.model.parameters())  # step not applied


def test_skip_policy_counts_and_trains_on(robust, tmp_path):
    hook = dict(type='DivergenceGuardHook', policy='skip')
    runner = robust.toy_runner(tmp_path, max_iters=8, bad=(2, 5), hooks=[hook])
    runner.train()
    guard = next(h for h in runner.hooks if isinstance(h, DivergenceGuardHook))
    assert guard.skipped == 2
    assert runner.message_hub.get_scalar('train/nonfinite_skips').current() == 2
    assert _finite(tmp_path / 'iter_8.pth')


def test_skip_policy_stops_after_max_skips_in_a_row(robust, tmp_path):
    hook = dict(type='DivergenceGuardHook', policy='skip', max_skips=2)
    runner = robust.toy_runner(tmp_path, max_iters=8, bad=(2, 3), hooks=[hook])
    with pytest.raises(DivergenceError, match='2 steps in a row'):
        runner.train()


def test_nonfinite_checkpoint_is_never_written_nor_rotates_finite_ones_out(robust, tmp_path):
    runner = robust.toy_runner(tmp_path, max_iters=6, max_keep=1)
    runner.train()
    assert [p.name for p in tmp_path.glob('iter_*.pth')] == ['iter_6.pth']
    with torch.no_grad():
        runner.model.linear.weight.fill_(float('inf'))
    with pytest.raises(DivergenceError, match='Refusing to write a checkpoint'):
        runner.save_checkpoint(str(tmp_path), 'iter_7.pth')
    assert [p.name for p in tmp_path.glob('iter_*.pth')] == ['iter_6.pth']


def test_grad_check_catches_inf_gradients_with_finite_loss():
    from upertool.engine.hooks.divergence_guard import all_finite

    assert all_finite([torch.ones(3), None])
    assert not all_finite([torch.ones(3), torch.tensor([1.0, float('inf')])])
