"""Recursive listing of a local data folder that reports a symlink loop instead of hanging.

mmengine's `list_dir_or_file` follows a link that points back to one of its parents until the
OS gives up with "Too many levels of symbolic links" deep inside a path like `sub/up/sub/up/...`.
"""

from __future__ import annotations

import os
import os.path as osp


class SymlinkLoopError(OSError):
    """A folder under a dataset root links back to one of its own parents."""


def list_files(folder: str) -> list[str]:
    """Every file under `folder` (links followed), as sorted paths relative to it.

    Raises:
        SymlinkLoopError: naming the link and the folder it leads back to.
    """
    found: list[str] = []

    def walk(path: str, rel: str, ancestors: tuple[str, ...]) -> None:
        with os.scandir(path) as entries:
            for entry in entries:
                child_rel = osp.join(rel, entry.name) if rel else entry.name
                if entry.is_dir(follow_symlinks=True):
                    real = osp.realpath(entry.path)
                    if real in ancestors:
                        raise SymlinkLoopError(
                            f'symlink loop under {folder!r}: {entry.path!r} leads back to '
                            f'{real!r}; remove the link or point it elsewhere'
                        )
                    walk(entry.path, child_rel, (*ancestors, real))
                elif entry.is_file(follow_symlinks=True):
                    found.append(child_rel)

    walk(folder, '', (osp.realpath(folder),))
    return sorted(found)
