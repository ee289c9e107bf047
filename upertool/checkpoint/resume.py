"""Which checkpoint `--resume` continues from, and a `last_checkpoint` pointer that survives moves.

mmengine's `find_latest_checkpoint(work_dir)` only reads the `last_checkpoint` file. Without it
(a process stopped between the checkpoint's rename and the pointer's write, or a copied work dir
whose pointer names the old absolute path), `--resume` logs "resumed from None", starts at
iteration 1 and overwrites the existing `iter_*.pth`. Here:

- the pointer is written relative to the work dir (`iter_20.pth`), and read either way (a
  stale absolute path falls back to the same name inside this work dir);
- the newest readable `iter_*.pth` / `epoch_*.pth` wins when it is newer than what the pointer
  names, or when the pointer is missing or names an unreadable file (saying so);
- checkpoints that exist but none of which is readable stop the run instead of being
  overwritten from iteration 0.

`install()` puts `find_resume_checkpoint` in place of mmengine's function (every Runner with
`resume=True` and no `load_from` uses it); `upertool.compat.atomic_checkpoint` writes the
pointer through `pointer_text`.
"""

from __future__ import annotations

import contextlib
import os
import os.path as osp
import re
import zipfile
from collections.abc import Iterator
from typing import Any

from mmengine.logging import print_log

POINTER_NAME = 'last_checkpoint'
_NUMBERED = re.compile(r'^(iter|epoch)_(\d+)\.pth$')


class ResumeError(RuntimeError):
    """Checkpoints exist in the work dir but none can be resumed from."""


def pointer_text(checkpoint: str, work_dir: str) -> str:
    """What `last_checkpoint` holds for `checkpoint`: relative to `work_dir` when inside it."""
    checkpoint, work_dir = osp.abspath(checkpoint), osp.abspath(work_dir)
    if osp.commonpath([checkpoint, work_dir]) == work_dir:
        return osp.relpath(checkpoint, work_dir)
    return checkpoint


class _PointerFile:
    """The file object `open_pointer` yields: checkpoint paths are written relative."""

    def __init__(self, file: Any, work_dir: str) -> None:
        self.file, self.work_dir = file, work_dir

    def write(self, text: str) -> int:
        if text.strip() and osp.isabs(text.strip()):
            text = pointer_text(text.strip(), self.work_dir)
        return self.file.write(text)


@contextlib.contextmanager
def open_pointer(path: str | os.PathLike, encoding: str | None = None) -> Iterator[Any]:
    """Write `last_checkpoint` atomically, holding a path relative to its folder."""
    from .atomic_io import atomic_open

    with atomic_open(path, 'w', encoding=encoding) as f:
        yield _PointerFile(f, osp.dirname(osp.abspath(os.fspath(path))))


def unreadable_reason(path: str) -> str | None:
    """Why `path` cannot be a complete torch checkpoint (None if it looks complete).

    Cheap: torch's zip format ends with a central directory, so a truncated file fails
    `is_zipfile`; the tensors are not read.
    """
    try:
        size = osp.getsize(path)
    except OSError as err:
        return f'cannot stat: {err.strerror}'
    if size == 0:
        return 'empty file'
    if not zipfile.is_zipfile(path):
        return 'not a complete torch zip checkpoint (truncated?)'
    try:
        with zipfile.ZipFile(path) as archive:
            if not any(n.endswith('/data.pkl') or n == 'data.pkl' for n in archive.namelist()):
                return 'zip file without data.pkl (not a torch checkpoint)'
    except (OSError, zipfile.BadZipFile) as err:
        return f'unreadable zip: {err}'
    return None


def numbered_checkpoints(work_dir: str) -> list[tuple[int, str]]:
    """`(number, path)` of `iter_N.pth` / `epoch_N.pth` in `work_dir`, newest first."""
    try:
        names = os.listdir(work_dir)
    except OSError:
        return []
    found = [
        (int(m.group(2)), osp.join(work_dir, name))
        for name in names
        if (m := _NUMBERED.match(name))
    ]
    return sorted(found, reverse=True)


def _pointer_target(work_dir: str) -> str | None:
    pointer = osp.join(work_dir, POINTER_NAME)
    if not osp.isfile(pointer):
        return None
    with open(pointer, encoding='utf-8') as f:
        text = f.read().strip()
    if not text:
        return None
    if not osp.isabs(text):
        return osp.join(work_dir, text)
    if not osp.exists(text):  # a moved or copied work dir: the same name here
        return osp.join(work_dir, osp.basename(text))
    return text


def _number(path: str) -> int:
    m = _NUMBERED.match(osp.basename(path))
    return int(m.group(2)) if m else -1


def find_resume_checkpoint(work_dir: str) -> str | None:
    """The checkpoint to resume from in `work_dir`, or None when there is none at all.

    Raises:
        ResumeError: checkpoints exist, none is readable (nothing is overwritten).
    """
    target = _pointer_target(work_dir)
    target_problem = (
        None
        if target is None
        else ('missing' if not osp.isfile(target) else unreadable_reason(target))
    )
    problems = []
    for number, path in numbered_checkpoints(work_dir):
        reason = unreadable_reason(path)
        if reason is not None:
            problems.append(f'{osp.basename(path)}: {reason}')
            continue
        if target is not None and target_problem is None and _number(target) >= number:
            break
        if target is None:
            why = f'there is no {POINTER_NAME} file'
        elif target_problem is not None:
            why = f'{POINTER_NAME} names {target} ({target_problem})'
        else:
            why = f'it is newer than {osp.basename(target)}, which {POINTER_NAME} names'
        print_log(f'resume: using {path} because {why}', logger='current')
        return path
    if target is not None and target_problem is None:
        return target
    if problems or target is not None:
        if target is not None:
            problems.insert(0, f'{POINTER_NAME} -> {target}: {target_problem}')
        raise ResumeError(
            f'--resume: no readable checkpoint in {work_dir} ({"; ".join(problems)}). '
            'Refusing to start from iteration 0, which would overwrite them; move them away '
            'or train without --resume in another work dir.'
        )
    print_log(
        f'resume: no checkpoint in {work_dir}; training starts from iteration 0', logger='current'
    )
    return None
