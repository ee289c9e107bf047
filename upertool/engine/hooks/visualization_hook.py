"""SegVisualizationHook: draws validation/test predictions through the runner's visualizer."""
from __future__ import annotations

import os.path as osp
import warnings
from collections.abc import Sequence
from typing import Any

import mmcv
import mmengine.fileio as fileio
from mmengine.hooks import Hook
from mmengine.visualization import Visualizer

from upertool.registry import HOOKS
from upertool.structures import MultiTaskSegDataSample


@HOOKS.register_module()
class SegVisualizationHook(Hook):
    """Draw predictions during validation and testing, as mmsegmentation 1.x's hook.

    Images go through the runner's visualizer (`SegLocalVisualizer`) to its backends:
    with the default `LocalVisBackend` they land in
    `<work_dir>/<timestamp>/vis_data/vis_image/`; `tools/test.py --show-dir DIR` sets
    the visualizer's `save_dir` to DIR, giving `DIR/vis_data/vis_image/` (mmsegmentation's
    behaviour). Files are named `<prefix>_<image file name>_<step>.png`. A
    MultiTaskEncoderDecoder's samples (MultiTaskSegDataSample) are drawn with
    `draw_multi_task` (objects, parts and materials side by side under the scene label;
    images under 256 px upscaled).

    Args:
        draw: draw anything at all; False (the default) makes the hook a no-op.
        interval: during validation, draw the first sample of every `interval`-th batch.
            Testing draws every sample.
        show: display each drawing in a window instead of saving it (the visualizer's
            backends are dropped, as mmsegmentation does).
        wait_time: seconds each shown drawing stays up.
        backend_args: mmengine file backend arguments for reading the images.
    """

    def __init__(self, draw: bool = False, interval: int = 50, show: bool = False,
                 wait_time: float = 0.0, backend_args: dict | None = None) -> None:
        if interval < 1:
            raise ValueError(f'SegVisualizationHook: interval must be >= 1, got {interval}')
        self.draw = draw
        self.interval = interval
        self.show = show
        self.wait_time = wait_time
        self.backend_args = dict(backend_args) if backend_args else None
        self._test_index = 0
        self._prepared = False

    def _visualizer(self, runner: Any) -> Any:
        visualizer = runner.visualizer
        # mmengine's base Visualizer has an add_datasample that silently does nothing.
        if getattr(type(visualizer), 'add_datasample', None) in (None,
                                                                 Visualizer.add_datasample):
            raise TypeError('SegVisualizationHook needs a visualizer that draws segmentation '
                            "samples; set visualizer=dict(type='SegLocalVisualizer', ...) in the "
                            f'config (got {type(visualizer).__name__})')
        if self.show and not self._prepared:
            # Shown, not stored: mmsegmentation drops the backends in this mode.
            visualizer._vis_backends = {}
            warnings.warn('SegVisualizationHook: show=True, drawings are displayed and not '
                          'saved to the visualizer backends', stacklevel=2)
        self._prepared = True
        return visualizer

    def _read_rgb(self, img_path: str) -> Any:
        try:
            img_bytes = fileio.get(img_path, backend_args=self.backend_args)
        except FileNotFoundError as err:
            raise FileNotFoundError(f'SegVisualizationHook: cannot read image {img_path}') \
                from err
        return mmcv.imfrombytes(img_bytes, channel_order='rgb')

    def _draw(self, runner: Any, name: str, data_sample: Any, step: int) -> None:
        img_path = data_sample.img_path
        name = f'{name}_{osp.basename(img_path)}'
        visualizer, image = self._visualizer(runner), self._read_rgb(img_path)
        if isinstance(data_sample, MultiTaskSegDataSample):
            self._draw_multi_task(visualizer, name, image, data_sample, step)
            return
        visualizer.add_datasample(name, image, data_sample=data_sample, show=self.show,
                                  wait_time=self.wait_time, step=step)

    def _draw_multi_task(self, visualizer: Any, name: str, image: Any, data_sample: Any,
                         step: int) -> None:
        """Objects, parts and materials side by side with the scene label (draw_multi_task)."""
        from upertool.visualization import random_palette
        from upertool.visualization.multi_task_overlay import draw_multi_task

        meta = dict(visualizer.dataset_meta or {})
        if 'classes' not in meta:
            raise ValueError('SegVisualizationHook: the visualizer has no dataset_meta '
                             '(classes) to name the multi-task maps')
        if not meta.get('palette'):
            meta['palette'] = random_palette(len(meta['classes']))
        scale = max(1, 256 // max(image.shape[:2]))  # small images upscaled to ~256 px
        drawn = draw_multi_task(image[..., ::-1].copy(), data_sample, meta, scale=scale)
        rgb = drawn[..., ::-1].copy()
        if self.show:
            visualizer.show(rgb, win_name=name, wait_time=self.wait_time)
        else:
            visualizer.add_image(name, rgb, step)

    def after_val_iter(self, runner: Any, batch_idx: int, data_batch: Any = None,
                       outputs: Sequence[Any] | None = None) -> None:
        """Draw the first sample of every `interval`-th validation batch."""
        if not self.draw or not outputs:
            return
        # The step mixes the training iteration in, so successive validations of the
        # same images do not overwrite each other's files.
        step = runner.iter + batch_idx
        if step % self.interval == 0:
            self._draw(runner, 'val', outputs[0], step)

    def after_test_iter(self, runner: Any, batch_idx: int, data_batch: Any = None,
                        outputs: Sequence[Any] | None = None) -> None:
        """Draw every test sample."""
        if not self.draw or not outputs:
            return
        for data_sample in outputs:
            self._test_index += 1
            self._draw(runner, 'test', data_sample, self._test_index)
