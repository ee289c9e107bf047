"""DivergenceGuardHook: a non-finite loss or gradient never reaches the weights or a checkpoint.

Without it, mmengine trains on after the loss turns NaN (every later step writes NaN into the
weights), exits 0, and `CheckpointHook(max_keep_ckpts=k)` rotates the last finite checkpoints
out in favour of NaN ones. The hook wraps the optimizer wrapper's `update_params` and `step`:

- the loss is checked before `backward` (one `isfinite` per step);
- with `check_grads=True`, the gradients are checked before `optimizer.step` (one fused norm
  over all gradients; off for `AmpOptimWrapper`, whose loss scaler already skips such steps);
- a bad step is never applied: the gradients are dropped and the weights stay as they were.

Then, by `policy`: 'stop' raises `DivergenceError` naming the iteration and every loss term
(before any later hook, e.g. the checkpoint hook, sees the iteration); 'skip' counts and logs
the step (`train/nonfinite_skips`) and carries on, stopping after `max_skips` skipped steps in
a row. Independently, a checkpoint whose weights are not all finite is never written
(`before_save_checkpoint` raises, so nothing is rotated out either).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import torch
from mmengine.hooks import Hook

from upertool.registry import HOOKS

POLICIES = ('stop', 'skip')


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss or gradient, or a non-finite checkpoint."""


def _format_terms(outputs: Mapping[str, Any] | None) -> str:
    terms = []
    for name, value in (outputs or {}).items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, (int, float)):
            terms.append(f'{name}={value:.4g}')
    return ', '.join(terms) or 'no loss terms reported'


def all_finite(tensors: list[torch.Tensor]) -> bool:
    """Whether every tensor is finite (one fused norm over all of them, one device sync)."""
    tensors = [t for t in tensors if t is not None and t.is_floating_point()]
    if not tensors:
        return True
    return bool(torch.isfinite(torch.stack(torch._foreach_norm(tensors))).all())


def nonfinite_tensors(state: Mapping[str, Any]) -> list[str]:
    """Names of the floating-point tensors in `state` holding NaN or inf."""
    return [
        name
        for name, value in state.items()
        if isinstance(value, torch.Tensor)
        and value.is_floating_point()
        and not bool(torch.isfinite(value).all())
    ]


@HOOKS.register_module()
class DivergenceGuardHook(Hook):
    """Stop (or skip the step) when the loss or the gradients are not finite.

    Args:
        policy: 'stop' raises `DivergenceError` at the first bad step; 'skip' drops bad
            steps (counted and logged) and trains on.
        check_grads: also check the gradients before each optimizer step (a finite loss
            can still give inf gradients). Ignored under `AmpOptimWrapper`.
        max_skips: with 'skip', stop after this many bad steps in a row (the run has
            diverged rather than met an outlier batch).
    """

    priority = 'VERY_HIGH'  # after_train_iter runs before the logger and checkpoint hooks

    def __init__(self, policy: str = 'stop', check_grads: bool = True, max_skips: int = 20) -> None:
        if policy not in POLICIES:
            raise ValueError(
                f'DivergenceGuardHook: policy must be one of {POLICIES}, got {policy!r}'
            )
        if max_skips < 1:
            raise ValueError(f'DivergenceGuardHook: max_skips must be >= 1, got {max_skips}')
        self.policy = policy
        self.check_grads = check_grads
        self.max_skips = max_skips
        self.skipped = 0
        self._in_a_row = 0
        self._bad: str | None = None  # what was wrong with this iteration's step

    # -- wrapping the optimizer wrapper -------------------------------------------------
    def before_train(self, runner: Any) -> None:
        wrapper = runner.optim_wrapper
        wrappers = list(wrapper.values()) if hasattr(wrapper, 'values') else [wrapper]
        for one in wrappers:
            self._wrap(one)

    def _wrap(self, wrapper: Any) -> None:
        if getattr(wrapper, '_upertool_guarded', False):
            return
        update_params, step = wrapper.update_params, wrapper.step

        @functools.wraps(update_params)
        def guarded_update(loss: torch.Tensor, *args: Any, **kwargs: Any) -> None:
            if not bool(torch.isfinite(loss.detach()).all()):
                self._bad = f'the loss is {loss.detach().float().sum().item()}'
                wrapper.zero_grad()
                return None
            return update_params(loss, *args, **kwargs)

        check = self.check_grads and type(wrapper).__name__ != 'AmpOptimWrapper'

        @functools.wraps(step)
        def guarded_step(*args: Any, **kwargs: Any) -> None:
            if check and not all_finite(
                [p.grad for g in wrapper.optimizer.param_groups for p in g['params']]
            ):
                self._bad = 'the gradients are not finite (the loss is finite)'
                return None  # update_params zeroes the gradients next
            return step(*args, **kwargs)

        wrapper.update_params = guarded_update
        wrapper.step = guarded_step
        wrapper._upertool_guarded = True

    # -- deciding ------------------------------------------------------------------------
    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
        self._bad = None

    def after_train_iter(
        self,
        runner: Any,
        batch_idx: int,
        data_batch: Any = None,
        outputs: Mapping[str, Any] | None = None,
    ) -> None:
        iteration = runner.iter + 1
        terms = f'loss terms: {_format_terms(outputs)}'
        if self._bad is None and self.check_grads and not all_finite(self._buffers(runner)):
            # BatchNorm statistics change in the forward pass, before any check could skip
            # the step: they cannot be restored, so even policy='skip' stops here.
            self._stop(
                f'iteration {iteration}: normalisation statistics (buffers) became '
                f'non-finite; {terms}'
            )
        if self._bad is None:
            self._in_a_row = 0
            return
        what = (
            f'iteration {iteration}: {self._bad}; {terms}. The step was not applied: the '
            'weights are those of the previous iteration'
        )
        if self.policy == 'skip':
            self.skipped += 1
            self._in_a_row += 1
            runner.message_hub.update_scalar('train/nonfinite_skips', self.skipped)
            runner.logger.warning(
                f'DivergenceGuardHook: skipped {what} ({self.skipped} skipped so far).'
            )
            if self._in_a_row < self.max_skips:
                return
            what += f'; {self._in_a_row} steps in a row were skipped'
        self._stop(what)

    @staticmethod
    def _stop(what: str) -> None:
        raise DivergenceError(
            f'Training diverged at {what}. No checkpoint of a non-finite state is written. '
            'Lower optimizer.lr (or add optim_wrapper.clip_grad=dict(max_norm=...)), or '
            "train through outliers with DivergenceGuardHook(policy='skip') "
            '(tools/train.py --on-nonfinite skip).'
        )

    @staticmethod
    def _buffers(runner: Any) -> list[torch.Tensor]:
        if not hasattr(runner, '_upertool_float_buffers'):
            runner._upertool_float_buffers = [
                b for b in runner.model.buffers() if b.is_floating_point()
            ]
        return runner._upertool_float_buffers

    def before_save_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        bad = nonfinite_tensors(checkpoint.get('state_dict') or {})
        if bad:
            iteration = (checkpoint.get('meta') or {}).get('iter', runner.iter)
            raise DivergenceError(
                f'Refusing to write a checkpoint at iteration {iteration}: {len(bad)} '
                f'weight tensor(s) are not finite (e.g. {bad[:3]}); the checkpoints already '
                'on disk are kept.'
            )
