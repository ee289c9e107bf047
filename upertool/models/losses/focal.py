"""Sigmoid focal loss (Lin et al. 2017), as mmsegmentation 1.x's `FocalLoss`, in PyTorch.

Each of the C channels is a binary problem (pixel of this class or not):
    loss = BCE(x, t) * (alpha*t + (1-alpha)*(1-t)) * (1 - p_t)^gamma,  p = sigmoid(x)
where p_t = p for t=1 and 1-p for t=0. Pixels labelled `ignore_index` get weight 0 in
every channel but still count in the 'mean' denominator (N*H*W*C elements), as mmseg.
mmcv's CUDA kernel computes the same values; this file needs no compiled ops.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from upertool.registry import MODELS

from .base import BaseLoss
from .utils import (
    check_class_weight,
    check_label_range,
    get_class_weight,
    weight_reduce_loss,
)


def sigmoid_focal_loss(pred: torch.Tensor, target: torch.Tensor,
                       weight: torch.Tensor | None = None, gamma: float = 2.0,
                       alpha: float | Sequence[float] = 0.5,
                       class_weight: Sequence[float] | None = None,
                       valid_mask: torch.Tensor | None = None, reduction: str = 'mean',
                       avg_factor: float | None = None) -> torch.Tensor:
    """Sigmoid focal loss on flattened predictions.

    Args:
        pred: logits (N, C), N = pixels.
        target: one-hot or soft targets (N, C).
        weight: per-pixel weight (N,) or (N, 1), or per-element (N, C), or None.
        gamma: focusing exponent.
        alpha: weight of the positive term (a float, or one per class).
        class_weight: one weight per class, or None.
        valid_mask: (N, 1) 1 for labelled pixels, 0 for ignored ones, or None.
        reduction: 'none' (returns (N, C)), 'mean' or 'sum'.
        avg_factor: divisor for 'mean' instead of N*C.

    Returns:
        The loss, reduced as asked.
    """
    alpha_t = pred.new_tensor(alpha) if isinstance(alpha, (list, tuple)) else alpha
    target = target.type_as(pred)
    prob = pred.sigmoid()
    one_minus_pt = (1 - prob) * target + prob * (1 - target)
    focal_weight = (alpha_t * target + (1 - alpha_t) * (1 - target)) * one_minus_pt.pow(gamma)
    loss = F.binary_cross_entropy_with_logits(pred, target, reduction='none') * focal_weight
    final_weight = pred.new_ones(1, pred.size(1))
    if weight is not None:
        if weight.dim() == 1:
            weight = weight.view(-1, 1)
        final_weight = final_weight * weight.type_as(pred)
    if class_weight is not None:
        final_weight = final_weight * pred.new_tensor(class_weight)
    if valid_mask is not None:
        final_weight = final_weight * valid_mask.type_as(pred)
    return weight_reduce_loss(loss, final_weight, reduction, avg_factor)


@MODELS.register_module()
class FocalLoss(BaseLoss):
    """Sigmoid focal loss with mmsegmentation 1.x's arguments and values.

    Args:
        use_sigmoid: must be True (only the sigmoid form exists, as in mmseg).
        gamma: focusing exponent.
        alpha: weight of the positive term in each channel's binary problem, a float in
            [0, 1] or one per class (not a class weight; use `class_weight` for that).
        reduction: 'none', 'mean' or 'sum'.
        class_weight: one weight per class (list of floats or `.npy` path), or None.
        loss_weight: multiplier of the loss.
        loss_name: key of the loss in the head's loss dict.
    """

    def __init__(self, use_sigmoid: bool = True, gamma: float = 2.0,
                 alpha: float | Sequence[float] = 0.5, reduction: str = 'mean',
                 class_weight: Sequence[float] | str | os.PathLike | None = None,
                 loss_weight: float = 1.0, loss_name: str = 'loss_focal') -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight, loss_name=loss_name)
        if use_sigmoid is not True:
            raise NotImplementedError('FocalLoss: only the sigmoid focal loss exists '
                                      '(use_sigmoid=True), as in mmsegmentation')
        alphas = list(alpha) if isinstance(alpha, (list, tuple)) else [alpha]
        if not all(isinstance(a, (int, float)) and 0 <= a <= 1 for a in alphas):
            raise ValueError(f'FocalLoss: alpha must be a float in [0, 1] or a list of them, '
                             f'got {alpha!r}')
        if not isinstance(gamma, (int, float)) or gamma < 0:
            raise ValueError(f'FocalLoss: gamma must be a number >= 0, got {gamma!r}')
        self.use_sigmoid = True
        self.gamma = float(gamma)
        self.alpha = [float(a) for a in alpha] if isinstance(alpha, (list, tuple)) \
            else float(alpha)
        self.class_weight = get_class_weight(class_weight)

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                weight: torch.Tensor | None = None, avg_factor: float | None = None,
                reduction_override: str | None = None, ignore_index: int | None = 255,
                **kwargs) -> torch.Tensor:
        """Compute the loss.

        Args:
            pred: logits (B, C, H, W) (or (B, C)).
            target: (B, H, W) labels in [0, C) or `ignore_index` ({0, 1} for C=1), or
                one-hot / soft targets shaped like `pred`.
            weight: per-pixel weight (B, H, W), or None.
            avg_factor: divisor for 'mean' instead of B*H*W*C.
            reduction_override: 'none', 'mean' or 'sum' to replace `reduction`.
            ignore_index: label value that contributes nothing.

        Returns:
            `loss_weight` times the loss; for 'none' a tensor shaped like `pred`.
        """
        reduction = self.call_reduction(reduction_override, kwargs)
        num_classes = pred.size(1)
        check_class_weight(self.class_weight, num_classes, self._loss_name)
        if isinstance(self.alpha, list):
            check_class_weight(self.alpha, num_classes, f'{self._loss_name} (alpha)')
        if not (pred.shape == target.shape or (pred.size(0) == target.size(0)
                                               and pred.shape[2:] == target.shape[1:])):
            raise ValueError(f'{self._loss_name}: target shape {tuple(target.shape)} does not '
                             f'match prediction shape {tuple(pred.shape)}')
        original_shape = pred.shape
        flat_pred = pred.transpose(0, 1).reshape(num_classes, -1).t()
        if target.shape == original_shape:
            flat_target = target.transpose(0, 1).reshape(num_classes, -1).t()
            valid = flat_target.argmax(dim=1) != ignore_index if ignore_index is not None \
                else torch.ones_like(flat_target[:, 0], dtype=torch.bool)
        else:
            check_label_range(target, 2 if num_classes == 1 else num_classes, ignore_index,
                              self._loss_name)
            labels = target.reshape(-1)
            valid = labels != ignore_index if ignore_index is not None \
                else torch.ones_like(labels, dtype=torch.bool)
            labels = torch.where(valid, labels, torch.zeros_like(labels))
            if num_classes == 1:
                # Binary: the single channel is the foreground (mmseg's one_hot fails here).
                flat_target = labels.view(-1, 1)
            else:
                flat_target = F.one_hot(labels, num_classes=num_classes)
        flat_weight = None
        if weight is not None:
            flat_weight = (weight.transpose(0, 1).reshape(num_classes, -1).t()
                           if weight.shape == original_shape else weight.reshape(-1))
        loss = self.loss_weight * sigmoid_focal_loss(
            flat_pred, flat_target, flat_weight, gamma=self.gamma, alpha=self.alpha,
            class_weight=self.class_weight, valid_mask=valid.view(-1, 1),
            reduction=reduction, avg_factor=avg_factor)
        if reduction == 'none':
            # (N, C) -> (B, C, H, W)
            loss = loss.t().reshape(original_shape[1], original_shape[0],
                                    *original_shape[2:]).transpose(0, 1).contiguous()
        return loss
