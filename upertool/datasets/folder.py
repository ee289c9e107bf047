"""FolderSegDataset: users' own images and masks, paired by file stem."""
from __future__ import annotations

import json
import os
import os.path as osp
from collections.abc import Sequence
from typing import Any

import mmengine.fileio as fileio
from mmengine.logging import print_log
from PIL import Image

from upertool.registry import DATASETS

from .base import BaseSegDataset
from .converters.color_masks import convert_color_masks

IMG_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
MASK_MODES = ('auto', 'index', 'color')
# PIL modes whose pixel values are class indices (a 'P' image's palette is ignored).
_INDEX_MODES = {'1', 'L', 'P', 'I', 'I;16', 'I;16L', 'I;16B'}
_COLOR_MODES = {'RGB', 'RGBA'}


def read_meta_file(path: str) -> dict:
    """``classes`` (and optionally ``palette``) from a small JSON or YAML file.

    Raises:
        FileNotFoundError / ValueError: naming the file.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'FolderSegDataset: meta_file {path!r} does not exist')
    with open(path, encoding='utf-8') as f:
        text = f.read()
    try:
        if path.endswith('.json'):
            meta = json.loads(text)
        elif path.endswith(('.yaml', '.yml')):
            import yaml  # installed with mmengine
            meta = yaml.safe_load(text)
        else:
            raise ValueError('the file name must end with .json, .yaml or .yml')
    except Exception as err:
        raise ValueError(f'FolderSegDataset: cannot read meta_file {path!r}: {err}') from err
    if not isinstance(meta, dict) or 'classes' not in meta:
        raise ValueError(f'FolderSegDataset: meta_file {path!r} must hold a mapping with '
                         '"classes" (a list of names) and optionally "palette" (one [R, G, B] '
                         'per class)')
    return meta


def _check_meta(meta: dict, source: str) -> None:
    classes = meta.get('classes')
    if (not isinstance(classes, (list, tuple)) or not classes
            or not all(isinstance(c, str) for c in classes)):
        raise ValueError(f'FolderSegDataset: classes from {source} must be a non-empty list of '
                         f'names, got {classes!r}')
    palette = meta.get('palette')
    if palette is not None and (
            len(palette) != len(classes)
            or not all(len(c) == 3 and all(0 <= int(v) <= 255 for v in c) for c in palette)):
        raise ValueError(f'FolderSegDataset: palette from {source} must give one [R, G, B] '
                         f'(0-255) per class ({len(classes)}), got {palette!r}')


def index_mask_folder(ann_dir: str) -> str:
    """Where decoded colour masks go: `<ann_dir>_index` beside the masks, or a cache folder
    (`~/.cache/upertool/index_masks/<hash>`) when the data folder is read-only."""
    beside = ann_dir.rstrip('/\\') + '_index'
    target = beside if osp.isdir(beside) else osp.dirname(osp.abspath(beside))
    if os.access(target, os.W_OK):
        return beside
    import hashlib

    from .sample_checks import cache_root

    digest = hashlib.sha1(osp.abspath(ann_dir).encode()).hexdigest()[:12]
    return osp.join(osp.dirname(cache_root()), 'index_masks', digest)


@DATASETS.register_module()
class FolderSegDataset(BaseSegDataset):
    """Images and masks in two folders, paired by stem (path relative to the folder, minus
    the suffix; subfolders allowed)::

        data_root/images/<stem>.jpg|.png|...    data_root/masks/<stem>.png
        data_root/meta.json (or .yaml)          {"classes": [...], "palette": [[R, G, B], ...]}
        data_root/splits/train.txt              optional, one stem per line

    Masks are either class-index images (P or L mode PNGs: pixel value = class, 255 =
    ignore) or RGB colour renderings (pixel colour = ``palette[class]``). Colour masks are
    decoded once into index PNGs under ``index_mask_dir`` and read from there, so the
    usual ``LoadAnnotations`` (and its label checks) applies; a colour that is in neither
    the palette nor ``ignore_colors`` stops construction with the file, the colour and
    the (x, y) of its first pixel.

    Checked at construction, each error naming the file: a mask without an image, an
    image without a mask, a split-file stem without an image, two images with one stem,
    a missing or malformed meta file, no classes.

    Args:
        meta_file: JSON/YAML with ``classes`` and optional ``palette``, relative to
            ``data_root``; entries of ``metainfo`` take precedence over it.
        img_suffix: image suffix(es), matched case-insensitively.
        seg_map_suffix: mask suffix.
        mask_mode: 'index', 'color', or 'auto' (by each file's PIL mode: RGB/RGBA are
            colour masks, 1/L/P/I are index masks).
        ignore_colors: colours of colour masks that mean ``ignore_index``.
        index_mask_dir: where decoded colour masks go; default ``<seg_map_path>_index``
            next to the mask folder.
        metainfo, data_root, data_prefix: as BaseSegDataset (``data_prefix`` defaults to
            ``images`` / ``masks``).
        **kwargs: BaseSegDataset's other arguments (``ann_file``, ``pipeline``, ...).
    """

    METAINFO: dict = dict()

    def __init__(self,
                 meta_file: str | None = None,
                 img_suffix: str | Sequence[str] = IMG_SUFFIXES,
                 seg_map_suffix: str = '.png',
                 mask_mode: str = 'auto',
                 ignore_colors: Sequence[Sequence[int]] = (),
                 index_mask_dir: str | None = None,
                 metainfo: dict | None = None,
                 data_root: str | None = None,
                 data_prefix: dict = dict(img_path='images', seg_map_path='masks'),
                 **kwargs: Any) -> None:
        if mask_mode not in MASK_MODES:
            raise ValueError(f'FolderSegDataset: mask_mode must be one of {MASK_MODES}, got '
                             f'{mask_mode!r}')
        self.mask_mode = mask_mode
        self.ignore_colors = [list(c) for c in ignore_colors]
        self.index_mask_dir = index_mask_dir
        suffixes = (img_suffix,) if isinstance(img_suffix, str) else tuple(img_suffix)
        # A missing data_root is reported by BaseSegDataset, naming it; check nothing here.
        root_ok = data_root is None or osp.isdir(data_root)
        meta, sources = {}, []
        if meta_file is not None and root_ok:
            if data_root is not None and not osp.isabs(meta_file):
                meta_file = osp.join(data_root, meta_file)
            meta = read_meta_file(meta_file)
            sources.append(repr(meta_file))
        if metainfo:
            meta.update(metainfo)
            sources.append('metainfo')
        if root_ok:
            if 'classes' not in meta:
                raise ValueError('FolderSegDataset needs class names: give meta_file (JSON/YAML '
                                 'with "classes") or metainfo=dict(classes=[...])')
            _check_meta(meta, ' and '.join(sources))
        self._given_palette = meta.get('palette')
        super().__init__(img_suffix=suffixes, seg_map_suffix=seg_map_suffix, metainfo=meta,
                         data_root=data_root, data_prefix=data_prefix, **kwargs)

    def _image_stems(self, img_dir: str) -> dict[str, str]:
        files = self._list_files(img_dir)
        images: dict[str, str] = {}
        for rel in files:
            suffix = next((s for s in self.img_suffix if rel.lower().endswith(s.lower())), None)
            if suffix is None:
                continue
            stem = rel[:-len(suffix)]
            if stem in images:
                raise ValueError(f'FolderSegDataset: two images share the stem {stem!r}: '
                                 f'{osp.join(img_dir, images[stem])!r} and '
                                 f'{osp.join(img_dir, rel)!r}')
            images[stem] = rel
        if not images:
            raise self._no_samples_error(img_dir, files)
        return images

    def _split_stems(self, img_dir: str, images: dict[str, str]) -> list[str]:
        if not self.ann_file:
            return sorted(images)
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'FolderSegDataset: split file {self.ann_file!r} does not '
                                    'exist')
        stems = [ln.strip() for ln in fileio.list_from_file(
            self.ann_file, backend_args=self.backend_args) if ln.strip()]
        if not stems:
            raise ValueError(f'FolderSegDataset: split file {self.ann_file!r} is empty')
        missing = [s for s in stems if s not in images]
        if missing:
            raise FileNotFoundError(
                f'FolderSegDataset: {len(missing)} stem(s) of split file {self.ann_file!r} '
                f'have no image in {img_dir!r}, e.g. {missing[0]!r}')
        return stems

    def _mask_paths(self, ann_dir: str, images: dict[str, str], img_dir: str,
                    stems: list[str]) -> dict[str, str]:
        """stem -> mask path to load (decoded colour masks point into the cache)."""
        suffix = self.seg_map_suffix
        masks = {f[:-len(suffix)]: f for f in self._list_files(ann_dir) if f.endswith(suffix)}
        orphans = sorted(set(masks) - set(images))
        if orphans:
            raise FileNotFoundError(
                f'FolderSegDataset: {len(orphans)} mask(s) have no image, e.g. '
                f'{osp.join(ann_dir, masks[orphans[0]])!r} (no {orphans[0]!r} with a suffix '
                f'in {list(self.img_suffix)} under {img_dir!r})')
        for stem in stems:
            if stem not in masks:
                raise FileNotFoundError(
                    f'FolderSegDataset: image {osp.join(img_dir, images[stem])!r} has no mask; '
                    f'expected {osp.join(ann_dir, stem + suffix)!r}')
        color = [masks[s] for s in stems if self._is_color(osp.join(ann_dir, masks[s]))]
        paths = {s: osp.join(ann_dir, masks[s]) for s in stems}
        if color:
            if self._given_palette is None:
                raise ValueError(f'FolderSegDataset: {len(color)} mask(s) are RGB colour images '
                                 f'(e.g. {osp.join(ann_dir, color[0])!r}); decoding them needs '
                                 'the class colours: give "palette" in meta_file or metainfo')
            out_dir = self.index_mask_dir or index_mask_folder(ann_dir)
            print_log(f'FolderSegDataset: decoding {len(color)} colour mask(s) into {out_dir}',
                      logger='current')
            decoded = convert_color_masks(ann_dir, color, out_dir, self._given_palette,
                                          self.ignore_colors, self.ignore_index)
            by_rel = dict(zip(color, decoded, strict=True))
            paths = {s: by_rel.get(masks[s], p) for s, p in paths.items()}
        return paths

    def _is_color(self, path: str) -> bool:
        if self.mask_mode != 'auto':
            return self.mask_mode == 'color'
        with Image.open(path) as img:
            mode = img.mode
        if mode in _COLOR_MODES:
            return True
        if mode not in _INDEX_MODES:
            raise ValueError(f'FolderSegDataset: mask {path!r} has PIL mode {mode!r}; expected '
                             'a class-index image (P, L) or an RGB colour mask')
        return False

    def load_data_list(self) -> list[dict]:
        """Pair images and masks by stem (see the class docstring); sorted by stem unless
        a split file gives the order."""
        img_dir = self.data_prefix.get('img_path', None)
        ann_dir = self.data_prefix.get('seg_map_path', None)
        self._check_folder('img_path', img_dir)
        images = self._image_stems(img_dir)
        stems = self._split_stems(img_dir, images)
        masks = None
        if ann_dir is not None:
            self._check_folder('seg_map_path', ann_dir)
            masks = self._mask_paths(ann_dir, images, img_dir, stems)
        data_list = []
        for stem in stems:
            info = dict(img_path=osp.join(img_dir, images[stem]))
            if masks is not None:
                info['seg_map_path'] = masks[stem]
            info.update(label_map=self.label_map, reduce_zero_label=self.reduce_zero_label,
                        seg_fields=[], num_classes=self.num_classes,
                        ignore_index=self.ignore_index)
            data_list.append(info)
        return data_list
