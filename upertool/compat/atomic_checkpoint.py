"""Checkpoints written atomically, and `last_checkpoint` only ever naming a complete file.

mmengine 0.10.7 writes checkpoints in place: `mmengine.runner.checkpoint.save_checkpoint`
serialises to memory and calls `LocalBackend.put`, i.e. `open(path, 'wb').write(...)`, and
`CheckpointHook._save_checkpoint_with_step` writes `last_checkpoint` with `open(..., 'w')`.
A process killed (or a disk filling up) during either write leaves a truncated file. Worse,
with `max_keep_ckpts` the hook deletes the oldest kept checkpoint *before* saving the new one
(and `_save_best_checkpoint` the previous best), so with `max_keep_ckpts=1` a failed save
leaves no loadable checkpoint at all and `last_checkpoint` naming a deleted file.

Three patch points, each as narrow as mmengine allows:
- `save_checkpoint` (rebound wherever mmengine imported it: `mmengine.runner`,
  `mmengine.runner.runner`; the hook and strategies import it at call time): local files are
  written by `upertool.checkpoint.atomic_io` (temporary file in the same folder, fsync,
  `os.replace`); remote backends (pavi, petrel, ...) go to mmengine's original.
- `open` as seen by `mmengine.hooks.checkpoint_hook` (a module global shadowing the builtin):
  writing a file named `last_checkpoint` goes through `atomic_open`; any other call is the
  builtin `open`. The hook writes it after `runner.save_checkpoint` returned, so it names a
  complete file.
- `CheckpointHook._save_checkpoint_with_step` / `_save_best_checkpoint`: removals of outdated
  checkpoints are deferred until the new checkpoint and `last_checkpoint` are in place, and
  dropped if saving failed.
"""
from __future__ import annotations

import builtins
import functools
import os
import os.path as osp
from collections.abc import Callable
from typing import Any

from upertool.checkpoint.atomic_io import atomic_torch_save

from ._patching import replace_function

POINTER_NAME = 'last_checkpoint'


def _is_local(filename: str, backend_args: dict | None) -> bool:
    from mmengine.fileio import get_file_backend
    from mmengine.fileio.backends import LocalBackend

    if filename.startswith('pavi://'):
        return False
    return isinstance(get_file_backend(filename, backend_args=backend_args), LocalBackend)


def _atomic_save_checkpoint(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def save_checkpoint(checkpoint: dict, filename: str, file_client_args: dict | None = None,
                        backend_args: dict | None = None) -> None:
        if file_client_args is not None or not _is_local(str(filename), backend_args):
            return original(checkpoint, filename, file_client_args=file_client_args,
                            backend_args=backend_args)
        atomic_torch_save(checkpoint, str(filename))

    return save_checkpoint


def hook_open(file: Any, mode: str = 'r', *args: Any, **kwargs: Any) -> Any:
    """`open` for mmengine's checkpoint_hook module: `last_checkpoint` is written atomically."""
    if (mode in ('w', 'wt') and not args and isinstance(file, (str, os.PathLike))
            and osp.basename(os.fspath(file)) == POINTER_NAME):
        from upertool.checkpoint.resume import open_pointer  # relative to the work dir

        return open_pointer(file, encoding=kwargs.get('encoding'))
    return builtins.open(file, mode, *args, **kwargs)


class _DeferredRemovals:
    """Stands in for a hook's `file_backend`: records `remove`/`rmtree`, passes the rest."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.pending: list[tuple[str, str]] = []

    def remove(self, path: str) -> None:
        self.pending.append(('remove', path))

    def rmtree(self, path: str) -> None:
        self.pending.append(('rmtree', path))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)


def _current_paths(hook: Any) -> set[str]:
    """Checkpoints the hook now points at; a deferred removal never deletes one of them."""
    paths = {hook.last_ckpt, getattr(hook, 'best_ckpt_path', None)}
    paths.update((getattr(hook, 'best_ckpt_path_dict', None) or {}).values())
    return {str(p) for p in paths if p}


def _removals_after_save(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def method(self: Any, *args: Any, **kwargs: Any) -> None:
        backend = getattr(self, 'file_backend', None)
        if backend is None or isinstance(backend, _DeferredRemovals):
            return original(self, *args, **kwargs)  # not set up yet, or an outer call defers
        deferred = _DeferredRemovals(backend)
        self.file_backend = deferred
        try:
            original(self, *args, **kwargs)
        finally:
            self.file_backend = backend
        keep = _current_paths(self)
        for action, path in deferred.pending:
            if str(path) not in keep:
                getattr(backend, action)(path)

    return method


def install() -> None:
    """Install the three patches (idempotent)."""
    import mmengine.hooks.checkpoint_hook as checkpoint_hook
    import mmengine.runner.checkpoint as checkpoint
    from mmengine.hooks import CheckpointHook

    replace_function(checkpoint, 'save_checkpoint', _atomic_save_checkpoint)
    checkpoint_hook.open = hook_open  # module global: shadows the builtin for that module only
    for name in ('_save_checkpoint_with_step', '_save_best_checkpoint'):
        replace_function(CheckpointHook, name, _removals_after_save)
    # --resume falls back to the newest readable file (upertool.checkpoint.resume).
    replace_function(checkpoint, 'find_latest_checkpoint', _resume_fallback)


def _resume_fallback(original: Callable[..., Any]) -> Callable[..., Any]:
    from upertool.checkpoint.resume import find_resume_checkpoint

    def find_latest_checkpoint(path: str) -> str | None:
        return find_resume_checkpoint(path)
    return find_latest_checkpoint
