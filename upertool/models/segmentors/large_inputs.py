"""Whole-image inference on an input far larger than the training crop switches to slide windows.

Whole-image inference holds every feature map and the logits at the input's full size, so
memory grows with the pixel count: the quickstart model took 7.1 GB on a 6000x6000 photo, with
no warning. When `test_cfg.mode='whole'` and an input has more than `AUTO_SLIDE_FACTOR` times
the pixels of the training crop (the data preprocessor's `size`), inference runs over
overlapping crop-sized windows (stride 2/3 of the crop, labels only where the caller allows it),
which bounds memory by the crop, and says so once. `test_cfg.auto_slide=False` keeps whole-image
inference; `test_cfg=dict(mode='slide', crop_size=..., stride=...)` chooses the windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

AUTO_SLIDE_FACTOR = 16


def training_crop(model: Any) -> tuple[int, int] | None:
    """The (h, w) the model was trained on: its data preprocessor's fixed `size`, if any."""
    size = getattr(getattr(model, 'data_preprocessor', None), 'size', None)
    if (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(isinstance(v, int) and v > 0 for v in size)
    ):
        return int(size[0]), int(size[1])
    return None


def auto_slide_settings(
    model: Any, test_cfg: dict | None, shape: Sequence[int]
) -> tuple[tuple[int, int], tuple[int, int], int] | None:
    """(crop, stride, batch_size) for an input of `shape` (H, W) too large for whole mode."""
    cfg = test_cfg or {}
    if cfg.get('mode', 'whole') != 'whole' or not cfg.get('auto_slide', True):
        return None
    crop = training_crop(model)
    if crop is None or shape[0] * shape[1] <= AUTO_SLIDE_FACTOR * crop[0] * crop[1]:
        return None
    stride = (max(1, crop[0] * 2 // 3), max(1, crop[1] * 2 // 3))
    if not getattr(model, '_upertool_auto_slide_said', False):
        from mmengine.logging import print_log

        print_log(
            f'{type(model).__name__}: a {shape[0]}x{shape[1]} input has '
            f'{shape[0] * shape[1] / (crop[0] * crop[1]):.0f}x the pixels of the training '
            f'crop {crop[0]}x{crop[1]}; whole-image inference would hold full-size '
            f'feature maps, so it runs over {crop[0]}x{crop[1]} windows (stride '
            f'{stride[0]}x{stride[1]}) instead. test_cfg.auto_slide=False keeps '
            'whole-image inference.',
            logger='current',
            level=30,
        )
        model._upertool_auto_slide_said = True
    return crop, stride, 1
