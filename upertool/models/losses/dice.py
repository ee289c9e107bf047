"""Dice loss, as mmsegmentation 1.2.2's `DiceLoss` (V-Net form by default).

Per image, over all (non-dropped) channels and pixels flattened together:
    V-Net (naive_dice=False): 1 - 2*sum(p*t) / ((sum(p^2) + eps) + (sum(t^2) + eps))
    naive (naive_dice=True):  1 - (2*sum(p*t) + eps) / (sum(p) + sum(t) + eps)
then reduced over the batch. As in mmseg:
  * pixels labelled `ignore_index` get an all-zero target, but their predictions still
    count in sum(p^2) / sum(p) (mmseg does not mask them);
  * a channel whose index equals `ignore_index` is dropped (only matters when
    ignore_index < C).
One deliberate difference: with a single channel (binary, `out_channels=1`) the target
is `label == 1`. mmseg's one-hot expansion makes it `label == 0` there, training the
sigmoid towards the background while the cross-entropy trains it towards the
foreground.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from upertool.registry import MODELS

from .base import BaseLoss
from .utils import check_label_range, weight_reduce_loss


def dice_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
              eps: float = 1e-3, reduction: str = 'mean', naive_dice: bool = False,
              avg_factor: float | None = None, ignore_index: int | None = 255
              ) -> torch.Tensor:
    """Dice loss of activated predictions against (one-hot) targets.

    Args:
        pred: probabilities (N, C, H, W).
        target: targets of the same shape (one-hot or soft).
        weight: per-image weight (N,), or None.
        eps: smoothing term.
        reduction: 'none' (returns (N,)), 'mean' or 'sum'.
        naive_dice: first powers in the denominator instead of squares.
        avg_factor: divisor for 'mean' instead of N.
        ignore_index: a channel with this index is left out (mmseg's semantics).

    Returns:
        The loss, reduced as asked.
    """
    if ignore_index is not None and 0 <= ignore_index < pred.shape[1]:
        keep = torch.arange(pred.shape[1], device=pred.device) != ignore_index
        if not bool(keep.any()):
            raise ValueError(f'dice_loss: ignore_index {ignore_index} is the only channel')
        pred = pred[:, keep]
        target = target[:, keep]
    flat_pred = pred.flatten(1)
    flat_target = target.flatten(1).float()
    inter = (flat_pred * flat_target).sum(1)
    if naive_dice:
        dice = (2 * inter + eps) / (flat_pred.sum(1) + flat_target.sum(1) + eps)
    else:
        denom = ((flat_pred * flat_pred).sum(1) + eps) + ((flat_target * flat_target).sum(1)
                                                         + eps)
        dice = 2 * inter / denom
    loss = 1 - dice
    if weight is not None and (weight.dim() != 1 or len(weight) != len(loss)):
        raise ValueError(f'dice_loss: weight must have shape ({len(loss)},), got '
                         f'{tuple(weight.shape)}')
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


def _dice_targets(pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """(N, H, W) labels -> (N, C, H, W) targets; other labels give all-zero targets."""
    num_classes = pred.shape[1]
    if num_classes == 1:
        return (label == 1).unsqueeze(1).long()
    # Index C collects every label outside [0, C) (the ignored ones) and is dropped, so
    # those pixels get all-zero targets (mmseg clamps, which sends negative values to 0).
    in_range = (label >= 0) & (label < num_classes)
    index = torch.where(in_range, label, torch.full_like(label, num_classes))
    return F.one_hot(index, num_classes + 1)[..., :num_classes].permute(0, 3, 1, 2)


@MODELS.register_module()
class DiceLoss(BaseLoss):
    """Dice loss (mmsegmentation 1.2.2's arguments and values; see the module docstring).

    Args:
        use_sigmoid: activate with sigmoid (else softmax over channels).
        activate: apply the activation; False when predictions are probabilities.
        reduction: 'none', 'mean' or 'sum' over the batch.
        naive_dice: first powers in the denominator instead of squares.
        loss_weight: multiplier of the loss.
        ignore_index: label value treated as unlabelled; also, as mmseg, a channel with
            this index is dropped. This value is used, not the head's (as mmseg).
        eps: smoothing term.
        loss_name: key of the loss in the head's loss dict.
    """

    def __init__(self, use_sigmoid: bool = True, activate: bool = True,
                 reduction: str = 'mean', naive_dice: bool = False, loss_weight: float = 1.0,
                 ignore_index: int | None = 255, eps: float = 1e-3,
                 loss_name: str = 'loss_dice') -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight, loss_name=loss_name)
        if eps < 0:
            raise ValueError(f'eps must be >= 0, got {eps}')
        self.use_sigmoid = bool(use_sigmoid)
        self.activate = bool(activate)
        self.naive_dice = bool(naive_dice)
        self.ignore_index = ignore_index
        self.eps = float(eps)

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                weight: torch.Tensor | None = None, avg_factor: float | None = None,
                reduction_override: str | None = None, ignore_index: int | None = 255,
                **kwargs) -> torch.Tensor:
        """Compute the loss.

        Args:
            pred: logits (N, C, H, W) (probabilities when `activate=False`).
            target: (N, H, W) labels, or targets shaped like `pred`.
            weight: per-image weight (N,), or None.
            avg_factor: divisor for 'mean' instead of N.
            reduction_override: 'none', 'mean' or 'sum' to replace `reduction`.
            ignore_index: the head's ignore value: such pixels get all-zero targets.
                As in mmseg, the channel dropping uses the loss's own `ignore_index`.

        Returns:
            `loss_weight` times the loss; a 0-d tensor unless the reduction is 'none'.
        """
        reduction = self.call_reduction(reduction_override, kwargs)
        if pred.shape != target.shape:
            num_valid = 2 if pred.shape[1] == 1 else pred.shape[1]
            # Labels equal to the head's ignore_index or the loss's are both unlabelled.
            ignored = [v for v in (self.ignore_index, ignore_index) if v is not None]
            check_label_range(target, num_valid, ignored, self._loss_name)
            target = _dice_targets(pred, target)
        if self.activate:
            if self.use_sigmoid:
                pred = pred.sigmoid()
            elif pred.shape[1] != 1:
                pred = pred.softmax(dim=1)
        loss = dice_loss(pred, target, weight, eps=self.eps, reduction=reduction,
                         naive_dice=self.naive_dice, avg_factor=avg_factor,
                         ignore_index=self.ignore_index)
        return self.loss_weight * loss
