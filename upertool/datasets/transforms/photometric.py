"""Photometric transforms (image only; labels untouched)."""
from collections.abc import Sequence

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform

from upertool.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PhotoMetricDistortion(BaseTransform):
    """mmsegmentation's colour jitter on a BGR uint8 image; each step fires with p=0.5.

    Order: brightness (+U(-delta, delta)); contrast (x U(lo, hi)) here when a coin says
    "first"; saturation (HSV S x U(lo, hi)); hue (H + randint(-delta, delta), mod 180);
    contrast here otherwise. Every step clips to [0, 255] and returns uint8. Draws from
    numpy's global generator, which mmengine seeds per worker.

    Args:
        brightness_delta: largest brightness shift.
        contrast_range: (lo, hi) contrast factor.
        saturation_range: (lo, hi) saturation factor.
        hue_delta: largest hue shift (OpenCV hue units, 0-179).
    """

    def __init__(self,
                 brightness_delta: int = 32,
                 contrast_range: Sequence[float] = (0.5, 1.5),
                 saturation_range: Sequence[float] = (0.5, 1.5),
                 hue_delta: int = 18) -> None:
        self.brightness_delta = brightness_delta
        self.contrast_lower, self.contrast_upper = contrast_range
        self.saturation_lower, self.saturation_upper = saturation_range
        self.hue_delta = hue_delta

    @staticmethod
    def convert(img: np.ndarray, alpha: float = 1, beta: float = 0) -> np.ndarray:
        """``clip(img * alpha + beta, 0, 255)`` as uint8."""
        img = img.astype(np.float32) * alpha + beta
        return np.clip(img, 0, 255).astype(np.uint8)

    def brightness(self, img: np.ndarray) -> np.ndarray:
        if np.random.randint(2):
            return self.convert(
                img, beta=np.random.uniform(-self.brightness_delta, self.brightness_delta))
        return img

    def contrast(self, img: np.ndarray) -> np.ndarray:
        if np.random.randint(2):
            return self.convert(
                img, alpha=np.random.uniform(self.contrast_lower, self.contrast_upper))
        return img

    def saturation(self, img: np.ndarray) -> np.ndarray:
        if np.random.randint(2):
            hsv = mmcv.bgr2hsv(img)
            hsv[:, :, 1] = self.convert(
                hsv[:, :, 1],
                alpha=np.random.uniform(self.saturation_lower, self.saturation_upper))
            img = mmcv.hsv2bgr(hsv)
        return img

    def hue(self, img: np.ndarray) -> np.ndarray:
        if np.random.randint(2):
            hsv = mmcv.bgr2hsv(img)
            shift = np.random.randint(-self.hue_delta, self.hue_delta)
            hsv[:, :, 0] = (hsv[:, :, 0].astype(int) + shift) % 180
            img = mmcv.hsv2bgr(hsv)
        return img

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.dtype != np.uint8:
            # The HSV steps assume OpenCV's uint8 ranges (H in [0, 180)).
            raise TypeError('PhotoMetricDistortion expects a uint8 image, got '
                            f'{img.dtype}; drop to_float32 from LoadImageFromFile')
        img = self.brightness(img)
        contrast_first = np.random.randint(2) == 1
        if contrast_first:
            img = self.contrast(img)
        img = self.saturation(img)
        img = self.hue(img)
        if not contrast_first:
            img = self.contrast(img)
        results['img'] = img
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(brightness_delta={self.brightness_delta}, '
                f'contrast_range=({self.contrast_lower}, {self.contrast_upper}), '
                f'saturation_range=({self.saturation_lower}, {self.saturation_upper}), '
                f'hue_delta={self.hue_delta})')
