"""Geometric transforms: resize, random resize, crop, flip, pad (image and every seg map).

Semantics follow mmcv 2.x / mmsegmentation 1.x: scales are (w, h), crop sizes (h, w);
segmentation maps are resized with nearest-neighbour interpolation and padded with 255.
"""
from collections.abc import Sequence
from numbers import Number
from typing import Union

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from upertool.registry import TRANSFORMS


def _seg_keys(results: dict) -> list:
    """Keys of the label maps to transform with the image ('gt_seg_map' and seg_fields)."""
    keys = list(results.get('seg_fields', []))
    if 'gt_seg_map' in results and 'gt_seg_map' not in keys:
        keys.append('gt_seg_map')
    return [k for k in keys if results.get(k, None) is not None]


def _pair(value: Union[int, Sequence[int]], name: str) -> tuple[int, int]:
    if isinstance(value, Number):
        return int(value), int(value)
    if isinstance(value, Sequence) and len(value) == 2:
        return int(value[0]), int(value[1])
    raise TypeError(f'{name} must be an int or a pair of ints, got {value!r}')


@TRANSFORMS.register_module()
class Resize(BaseTransform):
    """Resize the image to ``scale`` (w, h) or by ``scale_factor``; seg maps follow.

    With ``keep_ratio`` the image is rescaled by the largest factor that keeps its long
    edge <= max(scale) and its short edge <= min(scale). Sets ``img_shape``, ``scale``,
    ``scale_factor`` (w_ratio, h_ratio) and ``keep_ratio``.

    Args:
        scale: target (w, h), or an int for a square. Takes precedence over scale_factor.
        scale_factor: a float, or (w_factor, h_factor).
        keep_ratio: keep the aspect ratio (see above).
        clip_object_border: kept for mmcv config compatibility (no boxes here).
        backend: 'cv2' or 'pillow'.
        interpolation: image interpolation ('nearest', 'bilinear', 'bicubic', 'area',
            'lanczos'); seg maps always use 'nearest'.
    """

    def __init__(self,
                 scale: Union[int, tuple[int, int]] | None = None,
                 scale_factor: Union[float, tuple[float, float]] | None = None,
                 keep_ratio: bool = False,
                 clip_object_border: bool = True,
                 backend: str = 'cv2',
                 interpolation: str = 'bilinear') -> None:
        if scale is None and scale_factor is None:
            raise ValueError('Resize needs `scale` or `scale_factor`')
        self.scale = None if scale is None else _pair(scale, 'scale')
        if scale_factor is None or isinstance(scale_factor, Number):
            self.scale_factor = (None if scale_factor is None
                                 else (float(scale_factor), float(scale_factor)))
        elif isinstance(scale_factor, Sequence) and len(scale_factor) == 2:
            self.scale_factor = (float(scale_factor[0]), float(scale_factor[1]))
        else:
            raise TypeError(f'scale_factor must be a float or a pair, got {scale_factor!r}')
        self.keep_ratio = keep_ratio
        self.clip_object_border = clip_object_border
        self.backend = backend
        self.interpolation = interpolation

    def _resize(self, array: np.ndarray, scale: tuple[int, int], interpolation: str):
        if self.keep_ratio:
            return mmcv.imrescale(array, scale, interpolation=interpolation,
                                  backend=self.backend)
        return mmcv.imresize(array, scale, interpolation=interpolation, backend=self.backend)

    def transform(self, results: dict) -> dict:
        h, w = results['img'].shape[:2]
        if self.scale:
            scale = self.scale
        else:
            # Rounded as mmcv's _scale_size, so keep_ratio and plain resizes agree.
            scale = (int(w * self.scale_factor[0] + 0.5), int(h * self.scale_factor[1] + 0.5))
        results['scale'] = scale
        img = self._resize(results['img'], scale, self.interpolation)
        new_h, new_w = img.shape[:2]
        results['img'] = img
        results['img_shape'] = (new_h, new_w)
        results['scale_factor'] = (new_w / w, new_h / h)
        results['keep_ratio'] = self.keep_ratio
        for key in _seg_keys(results):
            results[key] = self._resize(results[key], scale, 'nearest')
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, scale_factor={self.scale_factor}, '
                f'keep_ratio={self.keep_ratio}, backend={self.backend}, '
                f'interpolation={self.interpolation})')


@TRANSFORMS.register_module()
class RandomResize(BaseTransform):
    """Resize to a random scale, then apply ``resize_type`` (default Resize) with it.

    ``scale`` (w, h) with ``ratio_range`` (lo, hi): both sides times one ratio drawn from
    U(lo, hi). ``scale`` as two tuples ((w0, h0), (w1, h1)): w and h drawn independently,
    as integers, from [min, max] of each.

    Args:
        scale: base scale (w, h) or a pair of bounding scales.
        ratio_range: (min_ratio, max_ratio), with a base scale.
        resize_type: registered name of the resize transform to apply.
        keep_ratio: passed to the resize transform.
        **resize_kwargs: other arguments of the resize transform (e.g. interpolation).
    """

    def __init__(self,
                 scale: Union[tuple[int, int], Sequence[tuple[int, int]]],
                 ratio_range: tuple[float, float] | None = None,
                 resize_type: str = 'Resize',
                 keep_ratio: bool = False,
                 **resize_kwargs) -> None:
        self.scale = scale
        self.ratio_range = ratio_range
        self._two_scales = (isinstance(scale, Sequence) and len(scale) == 2
                            and all(isinstance(s, Sequence) for s in scale))
        if not self._two_scales:
            self.scale = _pair(scale, 'scale')
            if ratio_range is None or len(ratio_range) != 2 or ratio_range[0] > ratio_range[1]:
                raise ValueError('RandomResize with a single scale needs ratio_range=(lo, hi) '
                                 f'with lo <= hi, got {ratio_range!r}')
        self.resize_cfg = dict(type=resize_type, keep_ratio=keep_ratio, **resize_kwargs)
        self.resize = TRANSFORMS.build(dict(scale=0, **self.resize_cfg))

    @cache_randomness
    def _random_scale(self) -> tuple[int, int]:
        if self._two_scales:
            (w0, h0), (w1, h1) = self.scale
            return (np.random.randint(min(w0, w1), max(w0, w1) + 1),
                    np.random.randint(min(h0, h1), max(h0, h1) + 1))
        lo, hi = self.ratio_range
        ratio = np.random.random_sample() * (hi - lo) + lo
        return int(self.scale[0] * ratio), int(self.scale[1] * ratio)

    def transform(self, results: dict) -> dict:
        self.resize.scale = self._random_scale()
        return self.resize(results)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, ratio_range={self.ratio_range}, '
                f'resize_cfg={self.resize_cfg})')


@TRANSFORMS.register_module()
class RandomCrop(BaseTransform):
    """Crop a random ``crop_size`` (h, w) window (smaller where the image is smaller).

    With ``cat_max_ratio < 1`` the window is redrawn up to 10 times until it holds more
    than one class and no class covers ``cat_max_ratio`` or more of its labelled pixels
    (``ignore_index`` pixels do not count), as mmsegmentation.

    Args:
        crop_size: (h, w), or an int for a square.
        cat_max_ratio: largest share one class may take in the crop.
        ignore_index: label not counted for ``cat_max_ratio``.
    """

    def __init__(self,
                 crop_size: Union[int, tuple[int, int]],
                 cat_max_ratio: float = 1.,
                 ignore_index: int = 255) -> None:
        self.crop_size = _pair(crop_size, 'crop_size')
        if self.crop_size[0] <= 0 or self.crop_size[1] <= 0:
            raise ValueError(f'crop_size must be positive, got {crop_size!r}')
        self.cat_max_ratio = cat_max_ratio
        self.ignore_index = ignore_index

    def _random_bbox(self, img: np.ndarray) -> tuple[int, int, int, int]:
        margin_h = max(img.shape[0] - self.crop_size[0], 0)
        margin_w = max(img.shape[1] - self.crop_size[1], 0)
        y1 = np.random.randint(0, margin_h + 1)
        x1 = np.random.randint(0, margin_w + 1)
        return y1, y1 + self.crop_size[0], x1, x1 + self.crop_size[1]

    @cache_randomness
    def crop_bbox(self, results: dict) -> tuple[int, int, int, int]:
        """Draw the window (y1, y2, x1, x2), retrying for ``cat_max_ratio``."""
        bbox = self._random_bbox(results['img'])
        if self.cat_max_ratio < 1. and results.get('gt_seg_map', None) is not None:
            for _ in range(10):
                labels, counts = np.unique(self.crop(results['gt_seg_map'], bbox),
                                           return_counts=True)
                counts = counts[labels != self.ignore_index]
                if len(counts) > 1 and counts.max() / counts.sum() < self.cat_max_ratio:
                    break
                bbox = self._random_bbox(results['img'])
        return bbox

    @staticmethod
    def crop(img: np.ndarray, bbox: tuple[int, int, int, int]) -> np.ndarray:
        """Slice ``img`` (H, W, ...) to ``bbox`` (y1, y2, x1, x2)."""
        y1, y2, x1, x2 = bbox
        return img[y1:y2, x1:x2, ...]

    def transform(self, results: dict) -> dict:
        bbox = self.crop_bbox(results)
        img = self.crop(results['img'], bbox)
        for key in _seg_keys(results):
            results[key] = self.crop(results[key], bbox)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(crop_size={self.crop_size}, '
                f'cat_max_ratio={self.cat_max_ratio}, ignore_index={self.ignore_index})')


@TRANSFORMS.register_module()
class RandomFlip(BaseTransform):
    """Flip image and seg maps with probability ``prob``; records ``flip``, ``flip_direction``.

    Args:
        prob: flip probability, or one probability per direction in a list.
        direction: 'horizontal', 'vertical', 'diagonal', or a list of them (a single
            ``prob`` is then shared equally).
        swap_seg_labels: label pairs to swap after flipping (left/right classes).
    """

    _DIRECTIONS = ('horizontal', 'vertical', 'diagonal')

    def __init__(self,
                 prob: Union[float, Sequence[float]],
                 direction: Union[str, Sequence[str]] = 'horizontal',
                 swap_seg_labels: Sequence[tuple[int, int]] | None = None) -> None:
        directions = [direction] if isinstance(direction, str) else list(direction)
        unknown = [d for d in directions if d not in self._DIRECTIONS]
        if unknown:
            raise ValueError(f'RandomFlip direction {unknown} not in {self._DIRECTIONS}')
        if isinstance(prob, Number):
            if not 0 <= prob <= 1:
                raise ValueError(f'RandomFlip prob must be in [0, 1], got {prob}')
            probs = [prob / len(directions)] * len(directions)
        elif isinstance(prob, Sequence) and len(prob) == len(directions) and sum(prob) <= 1:
            probs = [float(p) for p in prob]
        else:
            raise ValueError(f'RandomFlip prob {prob!r} must be a float or one probability per '
                             f'direction {directions} summing to <= 1')
        self.prob = prob
        self.direction = direction
        self.swap_seg_labels = swap_seg_labels
        self._choices = directions + [None]
        # Clipped and renormalised: float sums like 0.7 + 0.2 + 0.1 may exceed 1 by 1e-16.
        probs = probs + [max(0., 1. - sum(probs))]
        self._probs = [p / sum(probs) for p in probs]

    @cache_randomness
    def _choose_direction(self) -> str | None:
        return self._choices[np.random.choice(len(self._choices), p=self._probs)]

    def _flip_seg(self, seg: np.ndarray, direction: str) -> np.ndarray:
        seg = mmcv.imflip(seg, direction=direction)
        if self.swap_seg_labels:
            orig = seg.copy()
            for a, b in self.swap_seg_labels:
                seg[orig == a] = b
                seg[orig == b] = a
        return seg

    def transform(self, results: dict) -> dict:
        direction = self._choose_direction()
        results['flip'] = direction is not None
        results['flip_direction'] = direction
        if direction is not None:
            results['img'] = mmcv.imflip(results['img'], direction=direction)
            for key in _seg_keys(results):
                results[key] = self._flip_seg(results[key], direction)
            results['swap_seg_labels'] = self.swap_seg_labels
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(prob={self.prob}, direction={self.direction})'


@TRANSFORMS.register_module()
class Pad(BaseTransform):
    """Pad image and seg maps at the bottom/right to ``size`` (w, h) or a multiple.

    Sets ``pad_shape``, ``pad_fixed_size``, ``pad_size_divisor`` and (as mmcv)
    ``img_shape`` to the padded shape.

    Args:
        size: fixed padded size (w, h).
        size_divisor: pad each side up to a multiple of this.
        pad_to_square: pad to a square of the long side first.
        pad_val: image fill, a number or mmcv's ``dict(img=..., seg=...)``.
        seg_pad_val: seg map fill (ignored index), unless ``pad_val`` is a dict with 'seg'.
        padding_mode: 'constant', 'edge', 'reflect' or 'symmetric'.
    """

    def __init__(self,
                 size: tuple[int, int] | None = None,
                 size_divisor: int | None = None,
                 pad_to_square: bool = False,
                 pad_val: Union[Number, dict] = 0,
                 seg_pad_val: int = 255,
                 padding_mode: str = 'constant') -> None:
        if pad_to_square and size is not None:
            raise ValueError('Pad: give either size or pad_to_square, not both')
        if not pad_to_square and (size is None) == (size_divisor is None):
            raise ValueError('Pad needs exactly one of `size` and `size_divisor`, got '
                             f'size={size!r}, size_divisor={size_divisor!r}')
        if padding_mode not in ('constant', 'edge', 'reflect', 'symmetric'):
            raise ValueError(f'Pad padding_mode {padding_mode!r} is not supported')
        self.size = None if size is None else _pair(size, 'size')
        self.size_divisor = size_divisor
        self.pad_to_square = pad_to_square
        if isinstance(pad_val, dict):
            self.pad_val, self.seg_pad_val = pad_val.get('img', 0), pad_val.get('seg', 255)
        else:
            self.pad_val, self.seg_pad_val = pad_val, seg_pad_val
        self.padding_mode = padding_mode

    def _target_hw(self, h: int, w: int) -> tuple[int, int]:
        if self.pad_to_square:
            h = w = max(h, w)
        if self.size_divisor is not None:
            d = self.size_divisor
            return -(-h // d) * d, -(-w // d) * d
        if self.size is not None:
            return self.size[1], self.size[0]
        return h, w

    def _pad(self, array: np.ndarray, hw: tuple[int, int], value: Number) -> np.ndarray:
        if array.shape[0] > hw[0] or array.shape[1] > hw[1]:
            raise ValueError(f'Pad: array of shape {array.shape[:2]} is larger than the '
                             f'padded size {hw} (h, w)')
        fill = tuple([value] * array.shape[2]) if array.ndim == 3 else value
        return mmcv.impad(array, shape=hw, pad_val=fill, padding_mode=self.padding_mode)

    def transform(self, results: dict) -> dict:
        hw = self._target_hw(*results['img'].shape[:2])
        img = self._pad(results['img'], hw, self.pad_val)
        results['img'] = img
        results['pad_shape'] = img.shape
        results['pad_fixed_size'] = self.size
        results['pad_size_divisor'] = self.size_divisor
        results['img_shape'] = img.shape[:2]
        for key in _seg_keys(results):
            results[key] = self._pad(results[key], hw, self.seg_pad_val)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, size_divisor={self.size_divisor}, '
                f'pad_to_square={self.pad_to_square}, pad_val={self.pad_val}, '
                f'seg_pad_val={self.seg_pad_val}, padding_mode={self.padding_mode})')


@TRANSFORMS.register_module()
class ResizeToMultiple(BaseTransform):
    """Resize image and seg maps so both sides are multiples of ``size_divisor``.

    Args:
        size_divisor: the divisor.
        interpolation: image interpolation (None means 'bilinear'); seg maps use nearest.
    """

    def __init__(self, size_divisor: int = 32, interpolation: str | None = None) -> None:
        self.size_divisor = size_divisor
        self.interpolation = interpolation

    def transform(self, results: dict) -> dict:
        img = mmcv.imresize_to_multiple(results['img'], self.size_divisor, scale_factor=1,
                                        interpolation=self.interpolation or 'bilinear')
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['pad_shape'] = img.shape[:2]
        for key in _seg_keys(results):
            results[key] = mmcv.imresize_to_multiple(
                results[key], self.size_divisor, scale_factor=1, interpolation='nearest')
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size_divisor={self.size_divisor}, '
                f'interpolation={self.interpolation})')
