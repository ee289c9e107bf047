"""Helpers shared by the losses: reduction, class-weight reading, label checks.

`weight_reduce_loss` reproduces mmsegmentation 1.x's arithmetic exactly (including the
float32 epsilon added to `avg_factor`), so loss values logged here match its logs.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

_REDUCTIONS = ('none', 'mean', 'sum')


def check_reduction(reduction: str | None, *, allow_none: bool = False) -> None:
    """Raise a ValueError for a reduction other than 'none' / 'mean' / 'sum'."""
    if reduction is None and allow_none:
        return
    if reduction not in _REDUCTIONS:
        raise ValueError(f'reduction must be one of {_REDUCTIONS}, got {reduction!r}')


def reduce_loss(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce an element-wise loss with 'none', 'mean' or 'sum'."""
    check_reduction(reduction)
    if reduction == 'mean':
        return loss.mean()
    if reduction == 'sum':
        return loss.sum()
    return loss


def weight_reduce_loss(loss: torch.Tensor, weight: torch.Tensor | None = None,
                       reduction: str = 'mean',
                       avg_factor: float | None = None) -> torch.Tensor:
    """Multiply by an element-wise weight, then reduce.

    Args:
        loss: element-wise loss, any shape.
        weight: broadcastable to `loss` with the same number of dims, or None.
        reduction: 'none', 'mean' or 'sum'.
        avg_factor: when given with 'mean', the sum is divided by
            `avg_factor + eps` (eps = float32 epsilon, so an all-ignored batch gives 0
            instead of NaN) rather than by the element count.

    Returns:
        The reduced loss (a 0-d tensor), or the weighted loss for 'none'.
    """
    check_reduction(reduction)
    if weight is not None:
        if weight.dim() != loss.dim():
            raise ValueError(f'weight has {weight.dim()} dims but the loss has {loss.dim()} '
                             f'(weight {tuple(weight.shape)}, loss {tuple(loss.shape)})')
        loss = loss * weight
    if avg_factor is None:
        return reduce_loss(loss, reduction)
    if reduction == 'mean':
        eps = torch.finfo(torch.float32).eps
        return loss.sum() / (avg_factor + eps)
    if reduction == 'sum':
        raise ValueError('avg_factor can not be used with reduction="sum"')
    return loss


def get_class_weight(class_weight: Sequence[float] | str | os.PathLike | None
                     ) -> list[float] | None:
    """Read a per-class weight list from a sequence or a `.npy` file.

    mmsegmentation also reads pickle/json/yaml files here; a pickle can run code when
    loaded, so only `.npy` files are accepted, and they are read with
    `allow_pickle=False`.

    Args:
        class_weight: None, a sequence of numbers, or the path of a `.npy` file holding
            a 1-d numeric array.

    Returns:
        The weights as a list of floats, or None.

    Raises:
        ValueError: for another file suffix, a pickled or non-1-d array, or values that
            are not finite numbers.
        FileNotFoundError: when the file does not exist.
    """
    if class_weight is None:
        return None
    if isinstance(class_weight, (str, os.PathLike)):
        path = os.fspath(class_weight)
        if not path.endswith('.npy'):
            raise ValueError(
                f'class_weight file {path!r}: only .npy files are read (pickle, json and '
                'yaml are refused: a pickle can execute code when loaded); save the '
                'weights with numpy.save or give them as a list of floats')
        if not os.path.isfile(path):
            raise FileNotFoundError(f'class_weight file {path!r} does not exist')
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as err:
            raise ValueError(f'class_weight file {path!r} could not be read without '
                             f'unpickling (it must hold a plain numeric array): {err}'
                             ) from err
        if array.ndim != 1 or not np.issubdtype(array.dtype, np.number):
            raise ValueError(f'class_weight file {path!r} must hold a 1-d numeric array, '
                             f'got shape {array.shape} dtype {array.dtype}')
        values = [float(v) for v in array.tolist()]
        source = f'class_weight file {path!r}'
    elif isinstance(class_weight, (Sequence, np.ndarray, torch.Tensor)):
        try:
            values = [float(v) for v in class_weight]
        except (TypeError, ValueError) as err:
            raise ValueError(f'class_weight must be numbers, got {class_weight!r}') from err
        source = 'class_weight'
    else:
        raise ValueError('class_weight must be None, a list of floats or a .npy path, '
                         f'got {type(class_weight).__name__}')
    if not values or not all(np.isfinite(values)):
        raise ValueError(f'{source} must be a non-empty list of finite numbers, got {values}')
    return values


def check_class_weight(class_weight: Sequence[float] | None, num_classes: int,
                       loss_name: str) -> None:
    """Raise a ValueError when the class weights do not have one value per channel."""
    if class_weight is not None and len(class_weight) != num_classes:
        raise ValueError(f'{loss_name}: class_weight has {len(class_weight)} values but the '
                         f'prediction has {num_classes} channels')


def check_label_range(label: torch.Tensor, num_valid: int,
                      ignore_index: int | Sequence[int] | None, loss_name: str) -> bool:
    """Raise a ValueError naming label values outside [0, num_valid) and not ignored.

    torch would otherwise fail with a device-side assert (CUDA) or an IndexError that
    does not name the values. Costs one device-to-host sync, which also answers whether
    any pixel is ignored (callers use that to warn about averaging).

    Args:
        label: integer labels, any shape.
        num_valid: valid labels lie in [0, num_valid).
        ignore_index: a value (or values) also allowed, meaning "unlabelled".
        loss_name: names the loss in the message.

    Returns:
        Whether any label equals `ignore_index`.
    """
    if label.is_floating_point():
        raise ValueError(f'{loss_name}: labels must be integers, got dtype {label.dtype}')
    bad = (label < 0) | (label >= num_valid)
    ignored = torch.zeros((), dtype=torch.bool, device=label.device)
    ignore_values = ([] if ignore_index is None else
                     [ignore_index] if isinstance(ignore_index, int) else list(ignore_index))
    if ignore_values:
        is_ignored = torch.zeros_like(bad)
        for value in ignore_values:
            is_ignored |= label == value
        bad &= ~is_ignored
        ignored = is_ignored.any()
    any_bad, any_ignored = torch.stack([bad.any(), ignored]).tolist()
    if any_bad:
        values = sorted(int(v) for v in torch.unique(label[bad]).tolist())
        shown = values[:10] + (['...'] if len(values) > 10 else [])
        raise ValueError(
            f'{loss_name}: label values {shown} are outside [0, {num_valid}) and are not '
            f'ignore_index ({ignore_index}); check num_classes, the dataset\'s '
            'reduce_zero_label / label_map, and the ignore_index of the head')
    return bool(any_ignored)


def weighted_loss(loss_func: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """Decorator of mmsegmentation 1.x: an element-wise `loss_func(pred, target, **kwargs)`
    becomes `loss_func(pred, target, weight=None, reduction='mean', avg_factor=None,
    **kwargs)`, weighted and reduced by `weight_reduce_loss`."""

    @functools.wraps(loss_func)
    def wrapper(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                reduction: str = 'mean', avg_factor: float | None = None,
                **kwargs: Any) -> torch.Tensor:
        return weight_reduce_loss(loss_func(pred, target, **kwargs), weight, reduction,
                                  avg_factor)

    return wrapper
