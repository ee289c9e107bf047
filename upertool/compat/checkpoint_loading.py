"""Route every mmengine checkpoint load through `upertool.checkpoint.load_checkpoint_file`.

mmengine 0.10.x calls `torch.load(filename, map_location=...)` without `weights_only`
(`mmengine/runner/checkpoint.py`, `load_from_local` and the URL loaders). Since torch
2.6 that defaults to `weights_only=True`, which refuses what mmengine itself saves
(the message hub's `HistoryBuffer`, numpy arrays/scalars/dtypes), so `resume=True`
fails; passing `weights_only=False` instead would run any code a file carries.

Every mmengine load path (`Runner.load_checkpoint` for `load_from` and resume,
`init_cfg=dict(type='Pretrained')`, `load_checkpoint`, `_load_checkpoint`,
`CheckpointHook`, inferencers) asks `CheckpointLoader._get_checkpoint_loader`, which
tries the registered prefixes as regexes, longest-sorting first, and falls back to
the prefix ''. So re-registering '' and the URL prefixes with `force=True` is the
one patch point: local files load with the allowlist, URLs fail at once offline.
"""
from __future__ import annotations

from typing import Any

from upertool.checkpoint.safe_load import (
    URL_PATTERN,
    OfflineCheckpointError,
    load_checkpoint_file,
    offline_message,
)

# The prefixes mmengine 0.10.7 registers for remote files (some are regexes).
MMENGINE_URL_PREFIXES = ('http://', 'https://', 'pavi://', r'(\S+\:)?s3://',
                         r'(\S+\:)?petrel://', 'modelzoo://', 'torchvision://',
                         'open-mmlab://', 'openmmlab://', 'mmcls://')


def load_from_local_safe(filename: str, map_location: Any = None) -> dict[str, Any]:
    """CheckpointLoader backend for local files (mmengine logs it as 'local_safe')."""
    return load_checkpoint_file(filename, map_location=map_location)


def load_from_url_offline(filename: str, map_location: Any = None) -> dict[str, Any]:
    """CheckpointLoader backend for URLs: never downloads, says what to do instead."""
    raise OfflineCheckpointError(offline_message(filename))


def install() -> None:
    """Register both backends with mmengine's CheckpointLoader (idempotent)."""
    from mmengine.runner.checkpoint import CheckpointLoader

    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_safe, force=True)
    CheckpointLoader.register_scheme(
        prefixes=[*MMENGINE_URL_PREFIXES, URL_PATTERN],
        loader=load_from_url_offline, force=True)
