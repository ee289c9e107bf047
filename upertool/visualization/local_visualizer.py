"""SegLocalVisualizer: image | ground truth | prediction panels, saved through vis backends."""
from __future__ import annotations

import os
import os.path as osp
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch
from mmengine.dist import master_only
from mmengine.visualization import Visualizer

from upertool.registry import DATASETS, VISUALIZERS

from .overlay import draw_class_names, draw_legend, overlay_mask, random_palette


def _label_map(pixel_data: Any) -> np.ndarray:
    """(H, W) int64 numpy label map from a PixelData (or dict) with (1, H, W) `data`."""
    data = pixel_data['data'] if isinstance(pixel_data, dict) else pixel_data.data
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu().numpy()
    data = np.asarray(data)
    if data.ndim == 3:
        data = data[0]
    return data.astype(np.int64)


def dataset_metainfo(dataset_name: str) -> dict:
    """`METAINFO` of a registered dataset class, by its type name ('ADE20KDataset') or
    a case-insensitive short name ('ade20k'); reads no files."""
    cls = DATASETS.get(dataset_name)
    if cls is None:
        wanted = {dataset_name.lower(), dataset_name.lower() + 'dataset'}
        matches = [c for key, c in DATASETS.module_dict.items() if key.lower() in wanted]
        cls = matches[0] if matches else None
    if cls is None or not hasattr(cls, 'METAINFO'):
        raise KeyError(f'No registered dataset named {dataset_name!r} with a METAINFO; '
                       f'known: {sorted(DATASETS.module_dict)}')
    return dict(cls.METAINFO)


@VISUALIZERS.register_module()
class SegLocalVisualizer(Visualizer):
    """Draws segmentation samples, as mmsegmentation 1.x's `SegLocalVisualizer`.

    Unlike mmsegmentation, the input image is kept as the first panel, so a drawing
    is `image | ground-truth overlay | prediction overlay` (whichever are drawn).

    Args:
        name: instance name (mmengine keeps one global instance per name).
        image: optional RGB image to start with.
        vis_backends: backend configs, e.g. `[dict(type='LocalVisBackend')]`.
        save_dir: root for the backends' files (mmengine adds `vis_data/`).
        classes: class names; else from `dataset_name`, else label numbers.
        palette: RGB colour per class; else from `dataset_name`, else a fixed random one.
        dataset_name: a registered dataset ('ADE20KDataset' or 'ade20k') to take classes
            and palette from; `classes` / `palette` take precedence.
        alpha: colour weight of the overlay.
        legend: add a strip with a swatch and name per class present.
        **kwargs: mmengine `Visualizer` figure settings (`fig_save_cfg`, `fig_show_cfg`).
    """

    def __init__(self, name: str = 'visualizer', image: np.ndarray | None = None,
                 vis_backends: list | dict | None = None, save_dir: str | None = None,
                 classes: Sequence[str] | None = None, palette: Sequence | None = None,
                 dataset_name: str | None = None, alpha: float = 0.8, legend: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(name=name, image=image, vis_backends=vis_backends, save_dir=save_dir,
                         **kwargs)
        self.alpha = alpha
        self.legend = legend
        self.set_dataset_meta(classes, palette, dataset_name)

    def set_dataset_meta(self, classes: Sequence[str] | None = None,
                         palette: Sequence | None = None,
                         dataset_name: str | None = None) -> None:
        """Set classes and palette (mmengine's loops also assign `dataset_meta` directly)."""
        if dataset_name is not None:
            meta = dataset_metainfo(dataset_name)
            classes = classes or meta.get('classes')
            palette = palette or meta.get('palette')
        if classes is not None and palette is not None and len(palette) < len(classes):
            raise ValueError(f'SegLocalVisualizer: palette has {len(palette)} colours for '
                             f'{len(classes)} classes')
        self.dataset_meta = dict(classes=classes, palette=palette)

    def _meta(self, max_label: int) -> tuple[list[str], list]:
        """Classes and palette to draw with, completed where the dataset gives none."""
        meta = self.dataset_meta or {}
        classes = meta.get('classes')
        palette = meta.get('palette')
        num = max(len(classes) if classes else 0, max_label + 1)
        if not classes:
            classes = [str(i) for i in range(num)]
        if not palette:
            palette = random_palette(num)
        return list(classes), list(palette)

    def draw_sem_seg(self, image: np.ndarray, label_map: np.ndarray,
                     with_labels: bool = True) -> np.ndarray:
        """One overlay panel.

        Args:
            image: (H, W, 3) uint8 RGB.
            label_map: (H, W) integer labels; labels without a palette entry stay bare.
            with_labels: write class names inside their regions.

        Returns:
            (H, W, 3) uint8 RGB.
        """
        if label_map.shape != image.shape[:2]:
            raise ValueError(f'SegLocalVisualizer: label map {label_map.shape} does not '
                             f'match image {image.shape[:2]}')
        classes, palette = self._meta(int(label_map.max(initial=0)))
        bgr = overlay_mask(image[..., ::-1], label_map, palette, self.alpha)
        if with_labels:
            bgr = draw_class_names(bgr, label_map, classes, palette)
        return np.ascontiguousarray(bgr[..., ::-1])

    def _legend(self, width: int, maps: list[np.ndarray]) -> np.ndarray:
        labels = np.unique(np.concatenate([m.ravel() for m in maps]))
        classes, palette = self._meta(int(labels.max(initial=0)))
        labels = [int(lb) for lb in labels if 0 <= lb < len(palette)]
        return draw_legend(width, labels, classes, palette)[..., ::-1]

    @master_only
    def add_datasample(self, name: str, image: np.ndarray, data_sample: Any = None,
                       draw_gt: bool = True, draw_pred: bool = True, show: bool = False,
                       wait_time: float = 0, out_file: str | None = None, step: int = 0,
                       with_labels: bool = True) -> np.ndarray:
        """Draw `image | gt | prediction` and send it to the backends (or `out_file`).

        Args:
            name: image identifier (LocalVisBackend writes `<name>_<step>.png`).
            image: (H, W, 3) uint8 RGB.
            data_sample: SegDataSample with `gt_sem_seg` and/or `pred_sem_seg`, (1, H, W).
            draw_gt / draw_pred: draw the ground truth / prediction panel if present.
            show: display in a window (matplotlib) instead of only saving.
            wait_time: seconds to show; 0 waits for a key.
            out_file: write the drawing there (BGR file) instead of to the backends.
            step: step recorded by the backends.
            with_labels: write class names inside the regions.

        Returns:
            The drawing, (H, W * panels [+ legend rows], 3) uint8 RGB.
        """
        image = np.ascontiguousarray(image, dtype=np.uint8)
        panels, maps = [image], []
        for wanted, key in ((draw_gt, 'gt_sem_seg'), (draw_pred, 'pred_sem_seg')):
            if wanted and data_sample is not None and key in data_sample:
                label_map = _label_map(data_sample[key] if isinstance(data_sample, dict)
                                       else getattr(data_sample, key))
                maps.append(label_map)
                panels.append(self.draw_sem_seg(image, label_map, with_labels))
        drawn = np.concatenate(panels, axis=1)
        if self.legend and maps:
            drawn = np.concatenate([drawn, self._legend(drawn.shape[1], maps)], axis=0)
        drawn = np.ascontiguousarray(drawn)
        self.set_image(drawn)

        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            out_dir = osp.dirname(osp.abspath(out_file))
            os.makedirs(out_dir, exist_ok=True)
            if not cv2.imwrite(out_file, drawn[..., ::-1]):
                raise OSError(f'SegLocalVisualizer: could not write {out_file}')
        else:
            self.add_image(name, drawn, step)
        return drawn
