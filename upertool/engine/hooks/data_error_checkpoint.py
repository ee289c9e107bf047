"""DataErrorCheckpointHook: a bad sample met mid-training costs no finished iterations.

Build-time checks read only file headers; a file that decodes badly further in, or a label
outside the classes, is found when its batch is loaded. mmengine then stops and everything
since the last checkpoint is lost. This hook wraps the iteration-based loop's data iterator:
when loading a batch raises, the current weights (after `runner.iter` finished iterations,
checked finite) are saved as `iter_<N>.pth` before the error goes on, with a note naming the
checkpoint; `--resume` continues from it.
"""

from __future__ import annotations

import os.path as osp
from typing import Any

from mmengine.hooks import Hook

from upertool.registry import HOOKS

from .divergence_guard import nonfinite_tensors


class _GuardedIterator:
    def __init__(self, iterator: Any, on_error: Any) -> None:
        self.iterator, self.on_error = iterator, on_error

    def __iter__(self) -> _GuardedIterator:
        return self

    def __next__(self) -> Any:
        try:
            return next(self.iterator)
        except StopIteration:
            raise
        except Exception as err:
            self.on_error(err)
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.iterator, name)


@HOOKS.register_module()
class DataErrorCheckpointHook(Hook):
    """Save a checkpoint of the finished iterations when loading a training batch fails."""

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._runner: Any = None

    def before_train(self, runner: Any) -> None:
        loop = runner.train_loop
        if hasattr(loop, 'dataloader_iterator') and not isinstance(
            loop.dataloader_iterator, _GuardedIterator
        ):
            self._runner = runner
            loop.dataloader_iterator = _GuardedIterator(loop.dataloader_iterator, self._save)

    def _save(self, err: Exception) -> None:
        runner = self._runner
        done = runner.iter
        name = f'iter_{done}.pth'
        path = osp.join(runner.work_dir, name)
        if done == 0 or osp.exists(path):
            if done:
                err.add_note(
                    f'Checkpoint {path} holds the {done} finished iterations; fix or '
                    'remove the file named above and continue with --resume.'
                )
            return
        from .run_checks import unwrap_model

        if nonfinite_tensors(unwrap_model(runner.model).state_dict()):
            return
        try:
            runner.save_checkpoint(
                runner.work_dir, name, save_optimizer=True, save_param_scheduler=True
            )
        except Exception as save_err:  # the data error is the one to report
            err.add_note(f'Saving {path} after this error failed too: {save_err}')
            return
        runner.logger.error(
            f'Loading a training batch failed after {done} iterations; saved '
            f'{path} before stopping.'
        )
        err.add_note(
            f'Saved {path} with the {done} finished iterations before stopping; fix '
            'or remove the file named above and continue with --resume.'
        )
