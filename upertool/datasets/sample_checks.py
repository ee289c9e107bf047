"""Checks of every sample when a dataset is built, so bad files stop the run before step 1.

Per sample, from the file headers only (cheap): the image and the mask exist, are non-empty and
have a readable header, the mask is a single-channel index image, and both have the same size
in their stored pixel grid. Results are cached per file by (size, mtime), so a second build of
the same dataset only stats the files. All problems are reported at once, naming the files.

From a few masks decoded in full (evenly spaced, at most `VALUE_SAMPLE`): label values outside
`[0, num_classes)` other than the ignore index, and the binary-mask trap: with two classes and
`ignore_index=255`, masks that hold only 0 and 255 store the foreground as 255, which would be
ignored (validation then reports a perfect score for background alone).

Images whose EXIF asks for a rotation are reported once per dataset: they are read in their
stored pixel grid, as their masks are (see `LoadImageFromFile(apply_exif_orientation=...)`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import os.path as osp
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar

import numpy as np
from mmengine.logging import print_log
from PIL import Image

VALUE_SAMPLE = 16
EXIF_ORIENTATION = 0x0112
_COLOR_MODES = {'RGB', 'RGBA', 'CMYK', 'YCbCr', 'LAB', 'HSV'}
_CACHE_VERSION = 1
_disabled: ContextVar[bool] = ContextVar('upertool_sample_checks_disabled', default=False)


@contextlib.contextmanager
def sample_checks_disabled() -> Iterator[None]:
    """Build datasets without these checks (tools/analysis/check_dataset.py decodes every
    file instead and reports everything it finds)."""
    token = _disabled.set(True)
    try:
        yield
    finally:
        _disabled.reset(token)


def cache_root() -> str:
    base = os.environ.get('XDG_CACHE_HOME') or osp.join(osp.expanduser('~'), '.cache')
    return osp.join(base, 'upertool', 'sample_checks')


def read_header(path: str) -> list:
    """`[width, height, mode, exif_orientation]` of an image file, or `[error message]`."""
    try:
        if osp.getsize(path) == 0:
            return ['empty file (0 bytes)']
        with Image.open(path) as img:
            orientation = 1
            if img.format in ('JPEG', 'TIFF', 'WEBP', 'MPO'):
                orientation = int(img.getexif().get(EXIF_ORIENTATION, 1) or 1)
            return [img.width, img.height, img.mode, orientation]
    except FileNotFoundError:
        return ['file does not exist']
    except Exception as err:  # PIL raises many types for bad headers
        return [f'unreadable header ({type(err).__name__}: {err})']


class HeaderCache:
    """Header results per file, valid while the file's size and mtime are unchanged."""

    def __init__(self, key: str) -> None:
        self.path = osp.join(cache_root(), f'{key}.json')
        self.entries: dict[str, list] = {}
        self.dirty = False
        try:
            with open(self.path, encoding='utf-8') as f:
                data = json.load(f)
            if data.get('version') == _CACHE_VERSION:
                self.entries = data['entries']
        except (OSError, ValueError, KeyError, AttributeError):
            pass

    def lookup(self, path: str) -> tuple[list | None, list]:
        """(cached header or None, the file's current stamp)."""
        try:
            st = os.stat(path)
            stamp = [st.st_size, st.st_mtime_ns]
        except OSError:
            stamp = [-1, -1]
        entry = self.entries.get(path)
        if entry is not None and entry[:2] == stamp:
            return entry[2:], stamp
        return None, stamp

    def store(self, path: str, stamp: list, header: list) -> None:
        self.entries[path] = stamp + header
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        from upertool.checkpoint.atomic_io import atomic_open

        try:
            with atomic_open(self.path, 'w') as f:
                json.dump(dict(version=_CACHE_VERSION, entries=self.entries), f)
        except OSError as err:  # a read-only home: checks still ran, just not cached
            print_log(
                f'sample checks: cannot write the cache {self.path}: {err}',
                logger='current',
                level=30,
            )


def _headers(paths: list[str], cache: HeaderCache, what: str) -> dict[str, list]:
    found: dict[str, list] = {}
    todo: list[tuple[str, list]] = []
    for path in paths:
        header, stamp = cache.lookup(path)
        if header is None:
            todo.append((path, stamp))
        else:
            found[path] = header
    if todo:
        bar = None
        if len(todo) >= 2000:
            from mmengine.utils import ProgressBar

            print_log(
                f'checking the headers of {len(todo)} {what} (cached for later builds)',
                logger='current',
            )
            bar = ProgressBar(len(todo), file=sys.stderr)
        with ThreadPoolExecutor(max_workers=min(8, 2 * (os.cpu_count() or 1))) as pool:
            for (path, stamp), header in zip(
                todo, pool.map(read_header, [p for p, _ in todo]), strict=True
            ):
                found[path] = header
                if len(header) > 1:  # errors are not cached: a fixed file is re-read
                    cache.store(path, stamp, header)
                if bar is not None:
                    bar.update()
        if bar is not None:
            sys.stderr.write('\n')
    return found


def _mapped_values(path: str, label_map: dict | None, reduce_zero_label: bool) -> np.ndarray:
    with Image.open(path) as img:
        values = np.unique(np.asarray(img))
    if label_map:
        lut = np.arange(256, dtype=np.int64)
        for old, new in label_map.items():
            lut[old] = new
        values = np.unique(lut[values.clip(0, 255)])
    if reduce_zero_label:
        values = np.unique(np.where(values == 0, 255, np.where(values == 255, 255, values - 1)))
    return values


def check_label_values(
    name: str,
    masks: Sequence[str],
    num_classes: int | None,
    ignore_index: int,
    label_map: dict | None,
    reduce_zero_label: bool,
) -> list[str]:
    """Problems in up to VALUE_SAMPLE evenly spaced masks, decoded in full."""
    if num_classes is None or not masks:
        return []
    step = max(1, len(masks) // VALUE_SAMPLE)
    sample = list(masks[::step])[:VALUE_SAMPLE]
    seen: set[int] = set()
    problems = []
    for path in sample:
        try:
            values = _mapped_values(path, label_map, reduce_zero_label)
        except Exception:  # header problems are reported by the header check
            continue
        seen.update(int(v) for v in values)
        bad = [int(v) for v in values if v >= num_classes and v != ignore_index and v != 255]
        if bad:
            problems.append(
                f'{path}: label values {bad[:10]} outside [0, {num_classes}) that '
                f'are not ignore_index={ignore_index}'
            )
    if num_classes == 2 and ignore_index in seen and 1 not in seen and len(sample) > 0:
        problems.append(
            f'{name}: the masks hold only 0 and {ignore_index} (checked {len(sample)} of '
            f'{len(masks)}) with num_classes=2 and ignore_index={ignore_index}: a foreground '
            f'stored as {ignore_index} (binary 0/255 masks) would be ignored and the metric '
            'would score the background alone. If so, set binary=True on the dataset (maps '
            f'255 to class 1), or store the foreground as 1; if {ignore_index} really marks '
            'ignored pixels, class 1 never occurs in these masks'
        )
    return problems


def check_samples(
    name: str,
    data_list: Sequence[dict],
    num_classes: int | None = None,
    ignore_index: int = 255,
    label_map: dict | None = None,
    reduce_zero_label: bool = False,
) -> None:
    """Check every sample's files (see the module docstring); raise one error listing all.

    Raises:
        ValueError: naming each bad file (the first 20) and the number of problems.
    """
    images = [info['img_path'] for info in data_list if info.get('img_path')]
    masks = [info['seg_map_path'] for info in data_list if info.get('seg_map_path')]
    if not images or _disabled.get():
        return
    key = hashlib.sha1(
        '\0'.join(
            [
                osp.abspath(osp.dirname(images[0])),
                osp.abspath(osp.dirname(masks[0])) if masks else '',
            ]
        ).encode()
    ).hexdigest()[:16]
    cache = HeaderCache(key)
    headers = _headers(images, cache, 'images')
    headers.update(_headers(masks, cache, 'masks'))
    cache.save()
    problems, rotated = [], []
    for info in data_list:
        img, mask = info.get('img_path'), info.get('seg_map_path')
        img_h = headers.get(img, ['no image path'])
        if len(img_h) == 1:
            problems.append(f'image {img}: {img_h[0]}')
        elif img_h[3] not in (0, 1):
            rotated.append(img)
        if mask is None:
            continue
        mask_h = headers[mask]
        if len(mask_h) == 1:
            problems.append(f'mask {mask}: {mask_h[0]}')
        elif mask_h[2] in _COLOR_MODES:
            problems.append(
                f'mask {mask}: a {mask_h[2]} colour image; expected a '
                'single-channel class-index image (palette or grey PNG)'
            )
        elif len(img_h) > 1 and img_h[:2] != mask_h[:2]:
            problems.append(
                f'mask {mask} is {mask_h[0]}x{mask_h[1]} (WxH) but image {img} is '
                f'{img_h[0]}x{img_h[1]}'
            )
    problems += check_label_values(
        name, masks, num_classes, ignore_index, label_map, reduce_zero_label
    )
    if problems:
        shown = '\n  '.join(problems[:20])
        more = f'\n  ... and {len(problems) - 20} more' if len(problems) > 20 else ''
        raise ValueError(
            f'{name}: {len(problems)} problem(s) with the files of '
            f'{len(data_list)} samples:\n  {shown}{more}\n'
            'tools/analysis/check_dataset.py CONFIG decodes every file and lists '
            'all problems.'
        )
    if rotated:
        print_log(
            f'{name}: {len(rotated)} of {len(images)} images carry an EXIF orientation '
            f'that asks for a rotation (e.g. {rotated[0]}); they are read in their stored '
            'pixel grid, as their masks are, and the EXIF tag is ignored',
            logger='current',
            level=30,
        )
