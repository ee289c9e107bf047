"""BaseSegDataset: image folders + mask folders (or a split file) -> per-sample data infos."""
import os.path as osp
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Union

import mmengine.fileio as fileio
import numpy as np
from mmengine.dataset import BaseDataset

from upertool.registry import DATASETS, TRANSFORMS

from .file_scan import list_files
from .sample_checks import check_samples


def _build_pipeline(pipeline: Sequence[Union[dict, Callable]]) -> list[Callable]:
    # mmengine's Compose builds dicts from its root registry, which knows nothing of
    # upertool's transforms unless a default scope is set; build from ours instead.
    return [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]


def _strip_suffix(name: str, suffix: str) -> str:
    return name[:-len(suffix)] if suffix else name


def binary_label_map(name: str, label_map: dict | None, classes: Sequence[str] | None) -> dict:
    """`binary=True`: masks store the foreground as 255; map it to class 1."""
    if classes is None or len(classes) != 2:
        raise ValueError(f'{name}: binary=True needs exactly two classes (background, '
                         f'foreground), got {list(classes or [])}')
    return {**(label_map or {}), 255: 1}


@DATASETS.register_module()
class BaseSegDataset(BaseDataset):
    """Semantic segmentation dataset over an image folder and a mask folder.

    Layout (mmsegmentation's)::

        data_root/img_dir/train/xxx{img_suffix}     data_root/ann_dir/train/xxx{seg_map_suffix}

    A mask pairs with the image of the same stem (relative path minus the suffix); folders
    are scanned recursively (Cityscapes keeps one subfolder per city). With ``ann_file``,
    only the stems listed there (one per line, relative to ``img_path``) are used.

    Every problem with the files on disk is reported at construction (or at ``full_init``
    with ``lazy_init=True``), naming the folder or file: missing ``data_root`` or folder,
    no image with the suffix, an image without its mask, a split-file stem without image.

    Args:
        ann_file: split file of stems; '' scans ``img_path``. Relative to ``data_root``.
        img_suffix: image file suffix, extension included.
        seg_map_suffix: mask file suffix, extension included.
        metainfo: overrides ``METAINFO``; a subset of ``METAINFO['classes']`` gives a
            ``label_map`` (old id -> new id, dropped classes -> 255).
        data_root: root joined to ``ann_file`` and relative ``data_prefix`` entries.
        data_prefix: ``dict(img_path=..., seg_map_path=...)``; without ``seg_map_path``
            samples have no mask (inference).
        filter_cfg, indices, serialize_data, max_refetch: as mmengine's BaseDataset.
        pipeline: transforms (dicts are built from upertool's TRANSFORMS).
        test_mode: evaluation mode; requires ``classes``.
        lazy_init: defer scanning the folders to ``full_init``.
        ignore_index: label ignored by losses and metrics.
        reduce_zero_label: label 0 becomes ``ignore_index`` and k becomes k-1 (ADE20K).
        binary: two-class masks store the foreground as 255 (0/255 PNGs): 255 becomes
            class 1. Needs exactly two classes.
        backend_args: mmengine file backend arguments for listing the folders.
    """

    METAINFO: dict = dict()

    def __init__(self,
                 ann_file: str = '',
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 metainfo: dict | None = None,
                 data_root: str | None = None,
                 data_prefix: dict = dict(img_path='', seg_map_path=''),
                 filter_cfg: dict | None = None,
                 indices: Union[int, Sequence[int]] | None = None,
                 serialize_data: bool = True,
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 max_refetch: int = 1000,
                 ignore_index: int = 255,
                 reduce_zero_label: bool = False,
                 binary: bool = False,
                 backend_args: dict | None = None) -> None:
        self.img_suffix = img_suffix
        self.seg_map_suffix = seg_map_suffix
        self.ignore_index = ignore_index
        self.reduce_zero_label = reduce_zero_label
        self.backend_args = backend_args.copy() if backend_args else None
        if data_root is not None and not osp.isdir(data_root):
            raise FileNotFoundError(
                f'{type(self).__name__}: data_root {data_root!r} is not a folder '
                f'(current directory: {osp.abspath(".")})')
        # Scanning waits until label_map and palette are set, hence lazy_init=True here.
        super().__init__(
            ann_file=ann_file, metainfo=metainfo, data_root=data_root,
            data_prefix=data_prefix, filter_cfg=filter_cfg, indices=indices,
            serialize_data=serialize_data, pipeline=_build_pipeline(pipeline),
            test_mode=test_mode, lazy_init=True, max_refetch=max_refetch)

        self.label_map = self.get_label_map(self._metainfo.get('classes', None))
        if binary:
            self.label_map = binary_label_map(type(self).__name__, self.label_map,
                                              self._metainfo.get('classes'))
        self._metainfo.update(
            dict(label_map=self.label_map, reduce_zero_label=self.reduce_zero_label))
        self._metainfo.update(dict(palette=self._update_palette()))
        if test_mode and self._metainfo.get('classes') is None:
            raise ValueError(f'{type(self).__name__}: metainfo `classes` must be given '
                             'when test_mode=True')
        if not lazy_init:
            self.full_init()

    @property
    def num_classes(self) -> int | None:
        """Number of classes after ``label_map`` (None when no classes are known)."""
        classes = self._metainfo.get('classes', None)
        return None if classes is None else len(classes)

    @classmethod
    def get_label_map(cls, new_classes: Sequence[str] | None = None) -> dict | None:
        """Map old class ids of ``METAINFO`` to ids in ``new_classes`` (others -> 255).

        Returns None when ``new_classes`` is None, ``METAINFO`` has no classes, or both
        lists are equal; raises ValueError when ``new_classes`` is not a subset.
        """
        old_classes = cls.METAINFO.get('classes', None)
        if new_classes is None or old_classes is None or list(new_classes) == list(old_classes):
            return None
        unknown = [c for c in new_classes if c not in old_classes]
        if unknown:
            raise ValueError(f'{cls.__name__}: classes {unknown} are not in METAINFO classes '
                             f'{list(old_classes)}; new classes must be a subset')
        new_classes = list(new_classes)
        return {i: (new_classes.index(c) if c in new_classes else 255)
                for i, c in enumerate(old_classes)}

    def _update_palette(self) -> list:
        """Palette matching ``classes``: given, subset by ``label_map``, or random (seed 42)."""
        palette = self._metainfo.get('palette', [])
        classes = self._metainfo.get('classes', []) or []
        if len(palette) == len(classes):
            return palette
        if len(palette) == 0:
            # A private generator: the palette is reproducible and the global RNG untouched.
            rng = np.random.default_rng(42)
            return rng.integers(0, 255, size=(len(classes), 3)).tolist()
        if len(palette) >= len(classes) and self.label_map is not None:
            kept = sorted((new, old) for old, new in self.label_map.items() if new != 255)
            return type(palette)(palette[old] for _, old in kept)
        raise ValueError(f'{type(self).__name__}: palette has {len(palette)} colours for '
                         f'{len(classes)} classes')

    def _list_files(self, folder: str) -> list[str]:
        """All files under ``folder``, recursively, as sorted relative paths."""
        if self.backend_args is None and osp.isdir(folder):
            return list_files(folder)  # a symlink loop is named, not followed forever
        return sorted(fileio.list_dir_or_file(
            folder, list_dir=False, recursive=True, backend_args=self.backend_args))

    def _check_folder(self, key: str, folder: str | None) -> None:
        if not folder or not osp.isdir(folder):
            raise FileNotFoundError(
                f'{type(self).__name__}: data_prefix[{key!r}] folder {folder!r} does not exist '
                f'(data_root={self.data_root!r}, current directory: {osp.abspath(".")})')

    def _no_samples_error(self, img_dir: str, files: list[str]) -> ValueError:
        other = Counter(osp.splitext(f)[1] or '(no extension)' for f in files)
        seen = ', '.join(f'{n} {ext}' for ext, n in other.most_common(5)) or 'none'
        return ValueError(
            f'{type(self).__name__}: no image ending with {self.img_suffix!r} found under '
            f'{img_dir!r} (searched recursively); files with other suffixes seen: {seen}')

    def _stems(self, img_dir: str, img_files: list[str]) -> list[str]:
        """Sample stems from ``ann_file`` (checked against ``img_files``) or from the scan."""
        if self.ann_file:
            if not osp.isfile(self.ann_file):
                raise FileNotFoundError(
                    f'{type(self).__name__}: ann_file {self.ann_file!r} does not exist')
            lines = [ln.strip() for ln in fileio.list_from_file(
                self.ann_file, backend_args=self.backend_args)]
            stems = [ln for ln in lines if ln]
            present = set(img_files)
            missing = [s for s in stems if s + self.img_suffix not in present]
            if missing:
                raise FileNotFoundError(
                    f'{type(self).__name__}: {len(missing)} stem(s) of split file '
                    f'{self.ann_file!r} have no image, e.g. '
                    f'{osp.join(img_dir, missing[0] + self.img_suffix)!r}')
            if not stems:
                raise ValueError(f'{type(self).__name__}: split file {self.ann_file!r} is empty')
            return stems
        stems = [_strip_suffix(f, self.img_suffix) for f in img_files
                 if f.endswith(self.img_suffix)]
        if not stems:
            raise self._no_samples_error(img_dir, img_files)
        return stems

    def load_data_list(self) -> list[dict]:
        """Scan the folders (or read the split file) into data infos, sorted by image path.

        Each info holds ``img_path``, ``seg_map_path`` (when masks are configured),
        ``label_map``, ``reduce_zero_label``, ``seg_fields=[]``, ``num_classes`` and
        ``ignore_index`` (the last two let LoadAnnotations validate label values).
        """
        img_dir = self.data_prefix.get('img_path', None)
        ann_dir = self.data_prefix.get('seg_map_path', None)
        self._check_folder('img_path', img_dir)
        img_files = self._list_files(img_dir)
        stems = self._stems(img_dir, img_files)
        mask_files = None
        if ann_dir is not None:
            self._check_folder('seg_map_path', ann_dir)
            mask_files = set(self._list_files(ann_dir))
        data_list = []
        for stem in stems:
            info = dict(img_path=osp.join(img_dir, stem + self.img_suffix))
            if mask_files is not None:
                mask = stem + self.seg_map_suffix
                info['seg_map_path'] = osp.join(ann_dir, mask)
                if mask not in mask_files:
                    raise FileNotFoundError(
                        f'{type(self).__name__}: image {info["img_path"]!r} has no mask; '
                        f'expected {info["seg_map_path"]!r}')
            info.update(label_map=self.label_map, reduce_zero_label=self.reduce_zero_label,
                        seg_fields=[], num_classes=self.num_classes,
                        ignore_index=self.ignore_index)
            data_list.append(info)
        if not self.ann_file:
            data_list.sort(key=lambda x: x['img_path'])
        return data_list

    def full_init(self) -> None:
        """Scan the folders, filter, take ``indices``, serialize (as mmengine's BaseDataset),
        but treat an empty result as an error rather than a warning."""
        if self._fully_initialized:
            return
        self.data_list = self.load_data_list()
        self.data_list = self.filter_data()
        if self._indices is not None:
            self.data_list = self._get_unserialized_subset(self._indices)
        if not self.data_list:
            raise ValueError(f'{type(self).__name__}: no samples left after filtering and '
                             f'indices={self._indices!r}')
        if self.backend_args is None:  # local files: check every sample's headers now
            check_samples(type(self).__name__, self.data_list, self.num_classes,
                          self.ignore_index, self.label_map, self.reduce_zero_label)
        # predictions written by IoUMetric(output_dir) keep their path below this folder
        self._metainfo['img_dir'] = self.data_prefix.get('img_path')
        if self.serialize_data:
            self.data_bytes, self.data_address = self._serialize_data()
        self._fully_initialized = True
