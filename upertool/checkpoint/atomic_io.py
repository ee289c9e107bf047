"""Write files so that readers only ever see the old content or the complete new content.

A checkpoint written in place (`open(path, 'wb')`) is truncated first: a process killed, or a
disk that fills up, while writing leaves a file that cannot be loaded and has already replaced
the previous one. Here the bytes go to a temporary file in the same folder, which is flushed,
fsync'ed and renamed over the target with `os.replace` (atomic on POSIX and Windows for files on
one filesystem); the folder is fsync'ed too, so the rename survives a power cut.
"""
from __future__ import annotations

import contextlib
import errno
import glob
import os
import os.path as osp
import secrets
from collections.abc import Callable, Iterator
from typing import IO, Any

import torch

TMP_MARK = '.tmp-'


def temporary_name(path: str) -> str:
    """A fresh hidden name beside `path`: `dir/.name.tmp-<pid>-<random>`."""
    folder, name = osp.split(path)
    return osp.join(folder, f'.{name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}')


def target_of_temporary(path: str) -> str | None:
    """The file a temporary of `temporary_name` was going to become, else None."""
    folder, name = osp.split(path)
    if not name.startswith('.') or TMP_MARK not in name:
        return None
    target, _, tail = name[1:].rpartition(TMP_MARK)
    pid, _, token = tail.partition('-')
    if not (target and pid.isdigit() and len(token) == 8):
        return None
    return osp.join(folder, target)


def stale_temporaries(path: str) -> list[str]:
    """Temporary files left beside `path` by writes that never finished (a killed process)."""
    folder, name = osp.split(path)
    return sorted(glob.glob(osp.join(glob.escape(folder or '.'),
                                     glob.escape(f'.{name}{TMP_MARK}') + '*')))


def fsync_folder(folder: str) -> None:
    """Make a rename inside `folder` durable; a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder or '.', os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on folders; the rename is still atomic
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = 'wb', encoding: str | None = None,
                durable: bool = True) -> Iterator[IO[Any]]:
    """Open `path` for writing; the content appears at `path` only when the block succeeds.

    Leftover temporaries of earlier, killed writes to the same `path` are removed first. On an
    exception inside the block the temporary file is removed and `path` keeps its old content.

    Args:
        path: Target file; its folder is created if missing.
        mode: 'wb' or 'w' (text).
        encoding: Text encoding for mode 'w' (default utf-8).
        durable: fsync the file and its folder, and first remove leftovers of killed writes
            (checkpoints). False for bulk outputs that can be regenerated (converted labels:
            thousands of files per folder): neither fsync nor the folder scan, and a crash may
            lose the new content but still never leaves a half-written file.

    Yields:
        The open temporary file.
    """
    if mode not in ('w', 'wb'):
        raise ValueError(f"atomic_open writes whole files: mode must be 'w' or 'wb', got {mode!r}")
    path = os.fspath(path)
    folder = osp.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    for leftover in stale_temporaries(path) if durable else ():
        with contextlib.suppress(OSError):
            os.remove(leftover)
    tmp = temporary_name(path)
    # O_EXCL: never follow or reuse someone else's file; 0o666 lets the umask decide, as open().
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_BINARY', 0), 0o666)
    try:
        with os.fdopen(fd, mode, encoding=None if mode == 'wb' else encoding or 'utf-8') as f:
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        full = _disk_full_error(err, path)
        if full is not None:
            raise full from err
        raise
    if durable:
        fsync_folder(folder)


def _disk_full_error(err: BaseException, path: str) -> OSError | None:
    """A clear error for a write the file system refused (torch reports a full disk as
    `inline_container.cc:... unexpected pos`), or None for any other failure."""
    text = f'{err} {err.__context__ or ""}'
    code = getattr(err, 'errno', None)
    if code in (errno.EFBIG, errno.EDQUOT) or 'File too large' in text:
        code = code or errno.EFBIG
        return OSError(code, f'the file system refused to write {path} ({os.strerror(code)}); '
                       f'the previous file there (if any) is kept ({err})')
    if code == errno.ENOSPC or 'No space left' in text or (
            isinstance(err, RuntimeError) and 'unexpected pos' in text):
        return OSError(errno.ENOSPC, f'no space left while writing {path}; the previous '
                       f'file there (if any) is kept. Free some space and retry ({err})')
    return None


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> None:
    """Call `write(file)` on a temporary binary file, then move it to `path` atomically."""
    with atomic_open(path, 'wb') as f:
        write(f)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """`torch.save(obj, path)`, atomically: `path` is never left half-written."""
    atomic_write(path, lambda f: torch.save(obj, f))
