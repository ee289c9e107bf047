"""What every loss module shares, written once: its name, weight and reduction, and the
checks of forward's `reduction_override` and keyword arguments.

A decode head sums the outputs of its losses by `loss_name` (the key in its loss dict, which
must start with 'loss_' for mmengine to back-propagate it). Forward takes `weight` (per
element), `avg_factor` (divisor for 'mean') and `reduction_override` as mmsegmentation's losses
do; a keyword argument a loss does not know is an error naming it, never silently dropped.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from .utils import check_reduction


class BaseLoss(nn.Module):
    """Base of the loss modules: `loss_name`, `loss_weight`, `reduction`.

    Args:
        reduction: 'none', 'mean' or 'sum'.
        loss_weight: multiplier of the loss.
        loss_name: key of the loss in the head's loss dict.

    Raises:
        ValueError: for an unknown reduction.
        TypeError: for a `loss_name` that is not a str.
    """

    def __init__(self, *, reduction: str, loss_weight: float, loss_name: str) -> None:
        super().__init__()
        check_reduction(reduction)
        if not isinstance(loss_name, str):
            raise TypeError(f'loss_name must be a str, got {loss_name!r}')
        self.reduction = reduction
        self.loss_weight = float(loss_weight)
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """Key of this loss in the head's loss dict (losses with one name are summed)."""
        return self._loss_name

    def call_reduction(self, reduction_override: str | None, unknown: dict[str, Any]) -> str:
        """The reduction for one forward call, after refusing keyword arguments it does not take.

        Args:
            reduction_override: 'none', 'mean' or 'sum' to replace `reduction`, or None.
            unknown: the keyword arguments forward collected but does not use.

        Raises:
            TypeError: naming the unknown keyword arguments.
            ValueError: for an unknown reduction.
        """
        if unknown:
            raise TypeError(f'{type(self).__name__} ({self._loss_name}).forward() got unexpected '
                            f'keyword arguments {sorted(unknown)}')
        check_reduction(reduction_override, allow_none=True)
        return reduction_override or self.reduction
