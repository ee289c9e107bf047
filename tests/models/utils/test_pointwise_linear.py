"""PointwiseLinear: an nn.Linear (same keys) that runs as a 1x1 convolution on CPU."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from upertool.models.utils.pointwise_linear import PointwiseLinear, _grid


@pytest.mark.parametrize('shape', [(2, 7, 7, 12), (3, 49, 12), (30, 12), (2, 5, 12), (1, 12)])
def test_matches_linear_for_every_token_count(shape: tuple[int, ...]) -> None:
    # 98, 147 and 30 tokens (and 10 = 2 x 5) take the convolution; 1 token the gemm
    torch.manual_seed(0)
    layer = PointwiseLinear(12, 20)
    reference = nn.Linear(12, 20)
    reference.load_state_dict(layer.state_dict())
    x = torch.randn(shape, requires_grad=True)
    out = layer(x)
    expected = reference(x)
    assert out.shape == (*shape[:-1], 20) and out.is_contiguous()
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    grads = torch.autograd.grad(out.square().sum(), [x, layer.weight, layer.bias])
    ref_grads = torch.autograd.grad(expected.square().sum(), [x, reference.weight,
                                                               reference.bias])
    for got, want in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_non_contiguous_input_and_no_bias() -> None:
    layer = PointwiseLinear(8, 4, bias=False)
    x = torch.randn(6, 10, 8).transpose(0, 1)  # (10, 6, 8), not contiguous
    torch.testing.assert_close(layer(x), x @ layer.weight.t(), rtol=1e-5, atol=1e-5)


def test_is_a_linear_with_its_keys() -> None:
    layer = PointwiseLinear(3, 5)
    assert isinstance(layer, nn.Linear)
    assert set(layer.state_dict()) == {'weight', 'bias'}


@pytest.mark.parametrize('tokens, grid', [(49, (7, 7)), (30, (5, 6)), (6, (2, 3)),
                                          (7, None), (2, None), (1, None)])
def test_grid_is_the_squarest_factorisation(tokens: int, grid) -> None:
    assert _grid(tokens) == grid
