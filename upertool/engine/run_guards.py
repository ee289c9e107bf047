"""What tools/train.py and tools/test.py do around the Runner so that nothing fails silently.

Before the Runner is built: config values that would fail late are refused
(`config_checks.check_run_config`) and the robustness hooks are added (divergence guard, checks
of the model against the data, a checkpoint when a bad sample stops training). Around the run:
the errors upertool raises on purpose end the process with their message alone (exit 1), not a
traceback through mmengine.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from upertool.checkpoint.resume import ResumeError
from upertool.checkpoint.safe_load import (
    CheckpointReadError,
    OfflineCheckpointError,
    UnsafeCheckpointError,
)
from upertool.checkpoint.strict_load import CheckpointMismatchError
from upertool.engine.config_checks import ConfigError, check_run_config
from upertool.engine.hooks import DivergenceError, ensure_robustness_hooks
from upertool.engine.run_lock import RunLock, RunLockedError, install_unique_log_dir

# Errors whose message is the whole story; anything else keeps its traceback.
CLEAR_ERRORS: tuple[type[BaseException], ...] = (
    CheckpointMismatchError,
    CheckpointReadError,
    ConfigError,
    DivergenceError,
    OfflineCheckpointError,
    ResumeError,
    RunLockedError,
    UnsafeCheckpointError,
)


def prepare_training(cfg: Any, nonfinite_policy: str | None = None) -> None:
    check_run_config(cfg, training=True)
    ensure_robustness_hooks(cfg, nonfinite_policy=nonfinite_policy, training=True)
    install_unique_log_dir()


def prepare_testing(cfg: Any) -> None:
    check_run_config(cfg, training=False)
    ensure_robustness_hooks(cfg, training=False)
    install_unique_log_dir()


def folder_lock(folder: str | None, purpose: str) -> contextlib.AbstractContextManager:
    """`RunLock(folder)` on the main process (rank 0); nothing elsewhere or without a folder."""
    if not folder or int(os.environ.get('RANK', '0')) != 0:
        return contextlib.nullcontext()
    return RunLock(folder, purpose)


@contextlib.contextmanager
def clear_errors() -> Iterator[None]:
    """Turn upertool's deliberate errors into `SystemExit('error: ...')`."""
    try:
        yield
    except CLEAR_ERRORS as err:
        raise SystemExit(f'error: {err}') from None
