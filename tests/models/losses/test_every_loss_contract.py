"""Every loss registered in MODELS keeps the loss contract (DESIGN.md, `BaseLoss`).

The losses are found in the registry (every class defined under upertool.models.losses), so a
new loss without a case here fails `test_every_loss_has_cases`. For each case:
- `loss_name` is a str starting with 'loss_' (mmengine back-propagates only those) and is what
  the constructor's `loss_name=` says;
- the loss of tiny inputs is a finite scalar with finite gradients on the logits;
- `loss_weight` scales it linearly;
- an unknown keyword argument of forward raises a TypeError naming it;
- where the case says so, logits at ignored pixels (label 255) do not change the loss.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
import torch

from upertool.models.losses.base import BaseLoss
from upertool.registry import MODELS

IGNORE = 255
# CrossEntropyLoss warns once about mmsegmentation's avg_non_ignore=False default.
pytestmark = pytest.mark.filterwarnings('ignore:loss_ce. avg_non_ignore=False')


class Call(NamedTuple):
    args: list[Any]          # args[0] is the logits tensor
    kwargs: dict[str, Any]
    ignored: torch.Tensor | None  # (B, H, W) pixels whose logits must not matter


def seg_inputs(channels: int, labels: int | None = None) -> Callable[[], Call]:
    """Logits (2, C, 5, 6) and labels in [0, labels) with a block of ignored pixels."""
    def make() -> Call:
        gen = torch.Generator().manual_seed(0)
        logits = torch.randn(2, channels, 5, 6, generator=gen)
        label = torch.randint(0, labels or channels, (2, 5, 6), generator=gen)
        label[:, :2, :2] = IGNORE
        return Call([logits, label], dict(ignore_index=IGNORE), label == IGNORE)
    return make


def part_inputs() -> Call:
    """Two part groups (objects 1 and 2, with 2 and 3 parts) on 2 images."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 4, 4, generator=gen)
    objects = torch.randint(0, 3, (2, 4, 4), generator=gen)
    parts = torch.randint(0, 2, (2, 4, 4), generator=gen)
    parts[:, 0] = IGNORE
    valid = torch.tensor([[1, 1], [1, 0]])
    return Call([logits, parts, objects, valid, [1, 2], [2, 3]], dict(ignore_index=IGNORE),
                parts == IGNORE)


class Case(NamedTuple):
    kwargs: dict[str, Any]
    inputs: Callable[[], Call]
    ignore_invariant: bool = True


# name -> {case id: Case}
CASES: dict[str, dict[str, Case]] = {
    'CrossEntropyLoss': {
        'softmax': Case(dict(), seg_inputs(3)),
        'softmax-avg_non_ignore': Case(dict(avg_non_ignore=True), seg_inputs(3)),
        'sigmoid-binary': Case(dict(use_sigmoid=True), seg_inputs(1, labels=2)),
    },
    # Dice counts predictions at ignored pixels in its denominator (as mmsegmentation's).
    'DiceLoss': {
        'softmax': Case(dict(use_sigmoid=False), seg_inputs(3), ignore_invariant=False),
        'sigmoid': Case(dict(), seg_inputs(3), ignore_invariant=False),
    },
    'FocalLoss': {'sigmoid': Case(dict(), seg_inputs(3))},
    'LovaszLoss': {'present': Case(dict(), seg_inputs(3)),
                   'all-per_image': Case(dict(classes='all', per_image=True), seg_inputs(3))},
    'PartLoss': {'two-groups': Case(dict(), part_inputs)},
}
# Losses with mmsegmentation's signature (logits, label, weight, avg_factor, reduction_override,
# ignore_index) derive from BaseLoss; these take other inputs.
OTHER_SIGNATURES = {'PartLoss'}


def registered_losses() -> list[str]:
    MODELS.import_from_location()
    return sorted(name for name, cls in MODELS.module_dict.items()
                  if cls.__module__.startswith('upertool.models.losses.'))


def _cases():
    for name in registered_losses():
        for case_id, case in CASES.get(name, {}).items():
            yield pytest.param(name, case, id=f'{name}-{case_id}')


def _loss(name: str, case: Case, call: Call, **extra: Any) -> torch.Tensor:
    loss = MODELS.build(dict(type=name, **case.kwargs, **extra))
    return loss(*call.args, **call.kwargs)


def test_every_loss_has_cases():
    names = registered_losses()
    assert {'CrossEntropyLoss', 'DiceLoss', 'FocalLoss', 'LovaszLoss'} <= set(names)
    assert [n for n in names if not CASES.get(n)] == []


def test_losses_with_the_common_signature_derive_from_base_loss():
    for name in registered_losses():
        if name not in OTHER_SIGNATURES:
            assert issubclass(MODELS.get(name), BaseLoss), name


@pytest.mark.parametrize('name,case', list(_cases()))
def test_loss_name(name, case):
    default = MODELS.build(dict(type=name, **case.kwargs)).loss_name
    assert isinstance(default, str) and default.startswith('loss_')
    assert MODELS.build(dict(type=name, **case.kwargs, loss_name='loss_x')).loss_name == 'loss_x'


@pytest.mark.parametrize('name,case', list(_cases()))
def test_finite_scalar_with_finite_gradients(name, case):
    call = case.inputs()
    call.args[0].requires_grad_(True)
    value = _loss(name, case, call)
    assert value.dim() == 0 and torch.isfinite(value) and value > 0
    value.backward()
    grad = call.args[0].grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize('name,case', list(_cases()))
def test_loss_weight_scales_linearly(name, case):
    call = case.inputs()
    one = _loss(name, case, call, loss_weight=1.0)
    assert torch.allclose(_loss(name, case, call, loss_weight=2.5), 2.5 * one)


@pytest.mark.parametrize('name,case', list(_cases()))
def test_unknown_keyword_argument_is_refused_by_name(name, case):
    call = case.inputs()
    loss = MODELS.build(dict(type=name, **case.kwargs))
    with pytest.raises(TypeError, match='bogus_option'):
        loss(*call.args, **call.kwargs, bogus_option=1)


@pytest.mark.parametrize('name,case', list(_cases()))
def test_logits_at_ignored_pixels_do_not_matter(name, case):
    if not case.ignore_invariant:
        pytest.skip('this loss counts predictions at ignored pixels (as mmsegmentation)')
    call = case.inputs()
    before = _loss(name, case, call)
    logits = call.args[0].clone()
    channels_last = logits.permute(0, 2, 3, 1)  # a view: (B, H, W, C)[mask] -> (P, C)
    gen = torch.Generator().manual_seed(1)
    noise = torch.randn(channels_last[call.ignored].shape, generator=gen)
    channels_last[call.ignored] += 5 * noise  # per channel: a constant shift would not show
    after = _loss(name, case, call._replace(args=[logits, *call.args[1:]]))
    assert torch.allclose(before, after, atol=1e-6)
