"""RandomInvert: a data transform is an mmcv `BaseTransform` whose `transform(results)`
edits the sample dict (`img` is an (H, W, 3) uint8 BGR array after LoadImageFromFile)."""
from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform

from upertool.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomInvert(BaseTransform):
    """Invert the image's colours (255 - img) with probability `prob`; labels untouched.

    Draws from numpy's global generator, which mmengine seeds per dataloader worker.

    Args:
        prob: probability of inverting, in [0, 1].
    """

    def __init__(self, prob: float = 0.5) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'RandomInvert: prob must be in [0, 1], got {prob!r}')
        self.prob = prob

    def transform(self, results: dict) -> dict:
        if np.random.rand() < self.prob:
            results['img'] = 255 - results['img']
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(prob={self.prob})'
