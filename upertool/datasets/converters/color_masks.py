"""RGB colour masks -> class-index masks through a palette, with unknown colours reported.

Used by ``FolderSegDataset`` for users whose masks are colour renderings of the labels
(one RGB colour per class): each such mask is decoded once into an index PNG in a cache
folder, which the normal loading path (``LoadAnnotations`` and its label checks) reads.
"""
from __future__ import annotations

import json
import os
import os.path as osp
from collections.abc import Sequence

import numpy as np
from PIL import Image

from .common import Log, Palette, check_output_folder, encode_png, write_if_changed

MANIFEST = 'index_masks.json'
_MAX_REPORTED = 8


class UnknownColorError(ValueError):
    """A colour mask holds colours that are neither in the palette nor ignored."""


def _check_palette(palette: Palette, ignore_colors: Sequence[Sequence[int]]) -> dict[int, int]:
    """{packed RGB: index}; ignore colours map to -1. Duplicates are ambiguous: an error."""
    if len(palette) > 255:
        raise ValueError(f'{len(palette)} palette colours: index masks are uint8, so at most '
                         '255 classes (255 itself means ignore)')
    table: dict[int, int] = {}
    entries = [(tuple(c), i) for i, c in enumerate(palette)]
    entries += [(tuple(c), -1) for c in ignore_colors]
    for colour, index in entries:
        if len(colour) != 3 or not all(isinstance(v, (int, np.integer)) and 0 <= v <= 255
                                       for v in colour):
            raise ValueError(f'palette colour {list(colour)} is not three integers in 0-255')
        code = (int(colour[0]) << 16) | (int(colour[1]) << 8) | int(colour[2])
        if code in table:
            raise ValueError(f'colour {list(colour)} appears twice in the palette / '
                             'ignore_colors, so a mask pixel of that colour is ambiguous')
        table[code] = index
    return table


def colors_to_index(rgb: np.ndarray, palette: Palette,
                    ignore_colors: Sequence[Sequence[int]] = (), ignore_index: int = 255,
                    path: str = '<array>') -> np.ndarray:
    """Map an (H, W, 3) RGB colour mask to (H, W) uint8 class indices.

    Args:
        rgb: (H, W, 3) uint8, RGB order (as PIL reads PNGs).
        palette: RGB colour of class i at position i.
        ignore_colors: colours meaning "ignore" (written as ``ignore_index``).
        ignore_index: value for ignored pixels.
        path: file named in errors.

    Raises:
        UnknownColorError: listing each unknown colour with the (x, y) of its first pixel
            (row-major order) and its pixel count, and the file.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'{path!r}: expected an (H, W, 3) RGB mask, got shape {rgb.shape}')
    table = _check_palette(palette, ignore_colors)
    height, width = rgb.shape[:2]
    rgb = rgb.astype(np.int32)
    codes = ((rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]).ravel()
    uniq, first, inverse, counts = np.unique(codes, return_index=True, return_inverse=True,
                                             return_counts=True)
    values = np.empty(len(uniq), np.uint8)
    unknown = []
    for k, code in enumerate(uniq.tolist()):
        index = table.get(code)
        if index is None:
            y, x = divmod(int(first[k]), width)
            colour = [(code >> 16) & 255, (code >> 8) & 255, code & 255]
            unknown.append(f'{colour} at (x={x}, y={y}), {int(counts[k])} px')
            values[k] = ignore_index
        else:
            values[k] = ignore_index if index < 0 else index
    if unknown:
        more = f' and {len(unknown) - _MAX_REPORTED} more' if len(unknown) > _MAX_REPORTED else ''
        raise UnknownColorError(
            f'colour mask {path!r} has {len(unknown)} colour(s) that are not in the palette '
            f'({len(palette)} colours) nor in ignore_colors: '
            f'{"; ".join(unknown[:_MAX_REPORTED])}{more}')
    return values[inverse.reshape(-1)].reshape(height, width)


def read_color_mask(path: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a colour mask file (alpha dropped, palettes expanded)."""
    with Image.open(path) as img:
        return np.asarray(img.convert('RGB'))


def _stat(path: str) -> list[int]:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


def convert_color_masks(src_dir: str, rel_paths: Sequence[str], out_dir: str,
                        palette: Palette, ignore_colors: Sequence[Sequence[int]] = (),
                        ignore_index: int = 255, log: Log | None = None,
                        log_every: int = 500) -> list[str]:
    """Decode colour masks ``src_dir/<rel>`` into index PNGs ``out_dir/<rel>``.

    A manifest in ``out_dir`` remembers the palette and each source's size and mtime, so
    a mask is decoded again only when it or the palette changed; an index PNG already
    holding the right bytes is not rewritten. ``out_dir`` may hold only these PNGs and
    the manifest. Every mask is checked before the first error is raised, so the
    message covers all files with unknown colours (up to eight are named).

    Returns:
        The output paths, in the order of ``rel_paths``.
    """
    ours = set(rel_paths) | {MANIFEST}
    check_output_folder(out_dir, lambda rel: rel in ours, 'colour-mask conversion')
    manifest_path = osp.join(out_dir, MANIFEST)
    key = dict(palette=[[int(v) for v in c] for c in palette],
               ignore_colors=[[int(v) for v in c] for c in ignore_colors],
               ignore_index=int(ignore_index))
    old: dict = {}
    if osp.isfile(manifest_path):
        try:
            with open(manifest_path, encoding='utf-8') as f:
                old = json.load(f)
        except (OSError, json.JSONDecodeError):
            old = {}  # a damaged manifest only costs a full decode
    old_files = old.get('files', {}) if old.get('key') == key else {}
    files, outputs, errors = {}, [], []
    for i, rel in enumerate(rel_paths, 1):
        src, dst = osp.join(src_dir, rel), osp.join(out_dir, rel)
        outputs.append(dst)
        files[rel] = _stat(src)
        if old_files.get(rel) == files[rel] and osp.isfile(dst):
            continue
        try:
            index = colors_to_index(read_color_mask(src), palette, ignore_colors,
                                    ignore_index, src)
        except UnknownColorError as err:
            errors.append(str(err))
            files.pop(rel)
            continue
        write_if_changed(dst, encode_png(index, palette))
        if log is not None and i % log_every == 0:
            log(f'colour masks -> index masks: {i}/{len(rel_paths)}')
    data = json.dumps(dict(key=key, files=files), indent=1, sort_keys=True).encode()
    write_if_changed(manifest_path, data)
    if errors:
        shown = '\n'.join(errors[:_MAX_REPORTED])
        raise UnknownColorError(f'{len(errors)} colour mask(s) hold unknown colours:\n{shown}')
    return outputs
