"""The exact integral-average pooling (unifiedparsing's Precise RoI Pooling over the map)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from upertool.models.decode_heads.integral_pool import IntegralAvgPool2d, integral_avg_pool2d


def _bilinear_value(img: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The map as PrRoIPool sees it: values at integer points, bilinear between, 0 outside."""
    h, w = img.shape
    y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
    out = np.zeros(np.broadcast(y, x).shape)
    for dy in (0, 1):
        for dx in (0, 1):
            yy, xx = y0 + dy, x0 + dx
            weight = (1 - np.abs(y - yy)) * (1 - np.abs(x - xx))
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            out += np.where(inside, img[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)], 0) * weight
    return out


def _numerical_pool(img: np.ndarray, bins: int, samples: int = 400) -> np.ndarray:
    """Midpoint-rule integral of the interpolated map over each bin of [0, W] x [0, H]."""
    h, w = img.shape
    out = np.zeros((bins, bins))
    for p in range(bins):
        for q in range(bins):
            ys = (p + (np.arange(samples) + 0.5) / samples) * h / bins
            xs = (q + (np.arange(samples) + 0.5) / samples) * w / bins
            out[p, q] = _bilinear_value(img, ys[:, None], xs[None, :]).mean()
    return out


@pytest.mark.parametrize('size,bins', [((7, 5), 3), ((6, 6), 2), ((5, 9), 6), ((4, 4), 1)])
def test_equals_numerical_integral_of_the_interpolated_map(size, bins):
    img = np.random.default_rng(0).normal(size=size)
    ours = integral_avg_pool2d(torch.from_numpy(img)[None, None], bins)[0, 0].numpy()
    np.testing.assert_allclose(ours, _numerical_pool(img, bins), atol=2e-4)


def test_differs_from_adaptive_pooling_and_keeps_shapes_and_gradients():
    x = torch.randn(2, 3, 7, 5, dtype=torch.float64, requires_grad=True)
    pooled = IntegralAvgPool2d(3)(x)
    assert pooled.shape == (2, 3, 3, 3)
    assert not torch.allclose(pooled, F.adaptive_avg_pool2d(x, 3), atol=1e-3)
    pooled.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    # a constant map integrates to the constant inside, less along the zero-padded border
    ones = integral_avg_pool2d(torch.ones(1, 1, 8, 8), 1)
    assert ones.item() == pytest.approx((1 - 0.5 / 8) ** 2, abs=1e-6)
