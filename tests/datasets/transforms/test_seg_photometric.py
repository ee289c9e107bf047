import cv2
import numpy as np
import pytest

from upertool.datasets.transforms import PhotoMetricDistortion


def _img(seed=0):
    return np.random.default_rng(seed).integers(0, 256, (6, 7, 3), dtype=np.uint8)


def _force(monkeypatch, coin):
    """Every coin returns ``coin``; every uniform draw its upper bound; hue shift 5."""
    def randint(low, high=None):
        return coin if high is None else 5

    monkeypatch.setattr(np.random, 'randint', randint)
    monkeypatch.setattr(np.random, 'uniform', lambda low, high: high)


def _clip(x):
    return np.clip(x, 0, 255).astype(np.uint8)


def test_all_steps_in_mmseg_order_against_opencv(monkeypatch):
    _force(monkeypatch, coin=1)  # every step fires; contrast goes first (mode 1)
    img = _img()
    out = PhotoMetricDistortion()(dict(img=img.copy()))['img']
    # brightness +32, contrast x1.5, saturation x1.5, hue +5, computed independently
    x = _clip(img.astype(np.float32) + 32)
    x = _clip(x.astype(np.float32) * 1.5)
    hsv = cv2.cvtColor(x, cv2.COLOR_BGR2HSV)
    hsv[..., 1] = _clip(hsv[..., 1].astype(np.float32) * 1.5)
    x = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    hsv = cv2.cvtColor(x, cv2.COLOR_BGR2HSV)
    hsv[..., 0] = (hsv[..., 0].astype(int) + 5) % 180
    x = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, x)


def test_no_step_fires_leaves_image(monkeypatch):
    _force(monkeypatch, coin=0)
    img = _img()
    np.testing.assert_array_equal(PhotoMetricDistortion()(dict(img=img.copy()))['img'], img)


def test_custom_ranges_and_randomness():
    np.random.seed(0)
    t = PhotoMetricDistortion(brightness_delta=10, contrast_range=(0.9, 1.1),
                              saturation_range=(0.9, 1.1), hue_delta=2)
    img = _img()
    changed = 0
    for _ in range(20):
        out = t(dict(img=img.copy()))['img']
        assert out.shape == img.shape and out.dtype == np.uint8
        changed += not np.array_equal(out, img)
    assert changed >= 15  # all four coins come up tails 1 time in 16


def test_float_image_is_refused():
    with pytest.raises(TypeError, match='uint8'):
        PhotoMetricDistortion()(dict(img=_img().astype(np.float32)))
