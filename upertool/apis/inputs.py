"""What an inferencer is given, as a flat list of named items: paths, folders, globs, arrays.

Every item carries the name its outputs are written under (`pred/<name>.png`, `vis/<name>`):
the path relative to the folder it was found in, the file name for a single path or glob hit,
`array_<k>.png` for arrays. Problems that make the whole request wrong (a missing path, an
unsupported suffix, a glob that matches nothing, two inputs that would write the same output)
raise at once, before any model runs.
"""
from __future__ import annotations

import glob
import os
import os.path as osp
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
VIDEO_SUFFIXES = ('.mp4', '.avi', '.mov', '.mkv')
InputType = Union[str, Path, np.ndarray]


@dataclass
class InputItem:
    """One image to segment: a file or an array, and the relative name its outputs use."""

    name: str
    path: str | None = None
    array: np.ndarray | None = None

    @property
    def pred_name(self) -> str:
        """`pred/` file of this item: its name with the suffix replaced by .png."""
        return osp.splitext(self.name)[0] + '.png'


def is_video(path: str | Path) -> bool:
    return str(path).lower().endswith(VIDEO_SUFFIXES)


def is_image(path: str | Path) -> bool:
    return str(path).lower().endswith(IMAGE_SUFFIXES)


def _check_array(array: np.ndarray, where: str) -> np.ndarray:
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f'{where}: arrays must be (H, W, 3) uint8 BGR as cv2 reads them, got '
                         f'{array.shape} {array.dtype}')
    return array


def _folder_items(folder: str, skipped: list[str]) -> list[InputItem]:
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs.sort()
        for name in sorted(files):
            path = osp.join(root, name)
            if name.startswith('.'):
                continue
            if is_image(name):
                found.append(InputItem(osp.relpath(path, folder), path=path))
            else:
                skipped.append(path)
    if not found:
        raise FileNotFoundError(f'folder {folder} holds no images (searched recursively for '
                                f'{", ".join(IMAGE_SUFFIXES)})')
    return found


def _path_items(spec: str, skipped: list[str]) -> list[InputItem]:
    if osp.isdir(spec):
        return _folder_items(spec, skipped)
    if glob.has_magic(spec):
        hits = sorted(p for p in glob.glob(spec, recursive=True) if osp.isfile(p))
        images = [p for p in hits if is_image(p)]
        skipped.extend(p for p in hits if not is_image(p))
        if not images:
            raise FileNotFoundError(f'the pattern {spec!r} matches no image files '
                                    f'({len(hits)} files of other kinds)')
        root = osp.commonpath([osp.dirname(osp.abspath(p)) for p in images])
        return [InputItem(osp.relpath(osp.abspath(p), root), path=p) for p in images]
    if not osp.exists(spec):
        raise FileNotFoundError(f'input not found: {spec}')
    if is_video(spec):
        raise ValueError(f'{spec} is a video; tools/infer.py (or upertool.apis.video.'
                         'segment_video) handles videos, SegInferencer takes images')
    if not is_image(spec):
        raise ValueError(f'{spec}: unsupported file type {osp.splitext(spec)[1]!r}; images '
                         f'must end in one of {", ".join(IMAGE_SUFFIXES)}')
    return [InputItem(osp.basename(spec), path=spec)]


def collect_inputs(inputs: InputType | Sequence[InputType]
                   ) -> tuple[list[InputItem], list[str]]:
    """Flatten `inputs` (a path, folder, glob, BGR array, or a list of them) into items.

    Returns:
        The items, and the files found in folders or globs that are not images (skipped).

    Raises:
        FileNotFoundError: a path that does not exist, a folder without images, a glob with
            no image hit.
        ValueError: an unsupported suffix, a malformed array, an empty list, or two inputs
            whose outputs would have the same name.
    """
    many = isinstance(inputs, (list, tuple))
    specs = list(inputs) if many else [inputs]
    if not specs:
        raise ValueError('no inputs given (an empty list)')
    items: list[InputItem] = []
    skipped: list[str] = []
    arrays = 0
    for spec in specs:
        if isinstance(spec, np.ndarray):
            items.append(InputItem(f'array_{arrays:05d}.png',
                                   array=_check_array(spec, f'input array {arrays}')))
            arrays += 1
        elif isinstance(spec, (str, Path)):
            items.extend(_path_items(os.fspath(spec), skipped))
        else:
            raise TypeError(f'inputs must be paths, folders, globs or BGR arrays, got '
                            f'{type(spec).__name__}')
    _check_unique(items)
    return items, skipped


def _check_unique(items: list[InputItem]) -> None:
    seen: dict[str, InputItem] = {}
    for item in items:
        other = seen.setdefault(item.pred_name, item)
        if other is not item:
            raise ValueError(f'{other.path or other.name} and {item.path or item.name} would '
                             f'both write pred/{item.pred_name}; give them in separate calls '
                             'or out_dirs')
