"""What every converter shares: writes that leave unchanged files alone, a guard against
writing into a folder of unrelated files, and a process pool that reports progress."""
from __future__ import annotations

import io
import multiprocessing
import os
import os.path as osp
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from upertool.checkpoint.atomic_io import atomic_open, target_of_temporary

Log = Callable[[str], None]
Palette = Sequence[Sequence[int]]

# Temporary files that a killed run leaves behind must not make the next run refuse its own
# folder: `atomic_open`'s ('.<name>.tmp-<pid>-<8 hex>', removed by the next write of <name>)
# and those of earlier versions of `write_if_changed` ('<name>.<pid>.<8 hex>.tmp').
_OLD_TMP_RE = re.compile(r'(.+)\.\d+\.[0-9a-f]{8}\.tmp$')


def _temporary_target(rel: str) -> str | None:
    old = _OLD_TMP_RE.match(rel)
    return old.group(1) if old is not None else target_of_temporary(rel)


@dataclass
class ConversionSummary:
    """Counts of one conversion: items processed and files actually (re)written."""

    total: int = 0
    written: int = 0

    @property
    def unchanged(self) -> int:
        return self.total - self.written


def encode_png(array: np.ndarray, palette: Palette | None = None) -> bytes:
    """PNG bytes of an (H, W) uint8 label map: mode 'L', or mode 'P' with ``palette``.

    The pixel values are the class indices either way; a palette only makes the file
    readable in an image viewer. Encoding is deterministic, so equal labels give equal
    bytes and `write_if_changed` can skip them.
    """
    if array.ndim != 2 or array.dtype != np.uint8:
        raise ValueError(f'encode_png expects an (H, W) uint8 array, got {array.shape} '
                         f'{array.dtype}')
    img = Image.fromarray(array)
    if palette is not None:
        flat = [int(v) for colour in palette for v in colour]
        img.putpalette(flat + [0] * (768 - len(flat)))
    buf = io.BytesIO()
    img.save(buf, format='PNG')
    return buf.getvalue()


def write_if_changed(path: str, data: bytes) -> bool:
    """Write ``data`` to ``path`` unless the file already holds exactly these bytes.

    The new content goes to a temporary file in the same folder first and is renamed
    into place, so a reader (or a killed run) never sees half a file.

    Returns:
        True when the file was (re)written, False when it was left untouched.
    """
    try:
        with open(path, 'rb') as f:
            if f.read() == data:
                return False
    except FileNotFoundError:
        pass
    with atomic_open(path, 'wb', durable=False) as f:
        f.write(data)
    return True


def copy_if_changed(src: str, dst: str) -> bool:
    """Copy ``src`` to ``dst`` unless ``dst`` already has the same bytes; True if copied."""
    if osp.isfile(dst) and osp.getsize(dst) == osp.getsize(src):
        with open(src, 'rb') as a, open(dst, 'rb') as b:
            if a.read() == b.read():
                return False
    with open(src, 'rb') as f:
        return write_if_changed(dst, f.read())


def check_output_folder(folder: str, is_ours: Callable[[str], bool], tool: str) -> None:
    """Refuse to write into ``folder`` when it holds files this converter would not write.

    A mistyped output path would otherwise mix generated labels into someone else's
    files. A missing or empty folder is fine, and so is one holding what an earlier run
    of the same converter wrote (that is what makes a second run a no-op).

    Args:
        folder: the output folder, scanned recursively.
        is_ours: takes a path relative to ``folder`` and says whether the converter
            writes (or expects) a file there.
        tool: converter name for the message.

    Raises:
        NotADirectoryError: ``folder`` exists but is a file.
        FileExistsError: naming up to five unrelated files and their total count.
    """
    if not osp.exists(folder):
        return
    if not osp.isdir(folder):
        raise NotADirectoryError(f'{tool}: output path {folder!r} exists and is not a folder')
    unrelated = []
    for dirpath, _, filenames in os.walk(folder):
        for name in sorted(filenames):
            rel = osp.relpath(osp.join(dirpath, name), folder)
            target = _temporary_target(rel)
            if is_ours(rel) or (target is not None and is_ours(target)):
                continue
            unrelated.append(rel)
    if unrelated:
        shown = ', '.join(repr(r) for r in sorted(unrelated)[:5])
        raise FileExistsError(
            f'{tool}: output folder {folder!r} holds {len(unrelated)} file(s) this converter '
            f'does not write, e.g. {shown}; point the output at an empty folder (or one an '
            'earlier run of this converter wrote)')


def _chunksize(total: int, nproc: int) -> int:
    # Big enough to amortise the pickling, small enough that progress lines keep coming.
    return max(1, min(32, total // (nproc * 8)))


def run_parallel(func: Callable[[Any], bool], tasks: Sequence[Any], *, nproc: int = 1,
                 log: Log = print, what: str = 'converting', log_every: int = 500
                 ) -> ConversionSummary:
    """Run ``func`` on every task (in ``nproc`` processes) and report progress.

    ``func`` must be a picklable top-level function (or a ``functools.partial`` of one)
    returning True when it wrote a file. A line ``'<what>: i/N (w written)'`` is logged
    every ``log_every`` tasks and at the end. Errors raised in a worker are raised here.
    """
    total = len(tasks)
    summary = ConversionSummary(total=total)
    log(f'{what}: {total} item(s), {max(1, nproc)} process(es)')
    pool = multiprocessing.Pool(nproc) if nproc > 1 and total > 1 else None
    try:
        results: Iterable[bool] = (
            pool.imap(func, tasks, chunksize=_chunksize(total, nproc)) if pool is not None
            else map(func, tasks))
        for i, written in enumerate(results, 1):
            summary.written += bool(written)
            if i % max(1, log_every) == 0 or i == total:
                log(f'{what}: {i}/{total} ({summary.written} written, '
                    f'{i - summary.written} unchanged)')
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    return summary


def read_lines(path: str, what: str) -> list[str]:
    """Non-empty stripped lines of a split list; a missing file is an error naming it."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path!r} does not exist')
    with open(path, encoding='utf-8') as f:
        return [ln.strip() for ln in f if ln.strip()]


def require_file(path: str, what: str) -> str:
    """Return ``path``, or raise FileNotFoundError naming it as ``what``."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path!r} does not exist')
    return path


def require_dir(path: str, what: str) -> str:
    """Return ``path``, or raise FileNotFoundError naming it as ``what``."""
    if not osp.isdir(path):
        raise FileNotFoundError(f'{what} {path!r} is not a folder')
    return path


def import_scipy_io() -> Any:
    """scipy.io, or an ImportError saying which extra provides it (for `.mat` files)."""
    try:
        import scipy.io
    except ImportError as err:  # pragma: no cover - scipy is present in the test venvs
        raise ImportError('reading .mat annotations needs scipy: pip install "upertool[data]"'
                          ) from err
    return scipy.io
