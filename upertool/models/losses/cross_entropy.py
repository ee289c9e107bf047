"""Cross-entropy losses with mmsegmentation 1.x's arguments and averaging.

Averaging, as mmsegmentation 1.2.2 (so logged values match its logs):
  * softmax, `avg_non_ignore=False`: the sum of per-pixel losses (class-weighted,
    ignored pixels contributing 0) divided by the number of ALL pixels, ignored ones
    included. This is mmseg's default and is usually not what one wants; a warning is
    raised the first time a batch really contains ignored pixels.
  * softmax, `avg_non_ignore=True`: the same sum divided by the number of non-ignored
    pixels (+ float32 eps). With class weights this differs from torch's weighted
    mean, which divides by the sum of the weights of the non-ignored pixels.
  * sigmoid (binary): per-element BCE with ignored pixels weighted 0, averaged over all
    elements, or over the non-ignored ones with `avg_non_ignore=True`.
"""
from __future__ import annotations

import os
import warnings
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


def cross_entropy(pred: torch.Tensor, label: torch.Tensor, weight: torch.Tensor | None = None,
                  class_weight: torch.Tensor | None = None, reduction: str = 'mean',
                  avg_factor: float | None = None, ignore_index: int | None = -100,
                  avg_non_ignore: bool = False) -> torch.Tensor:
    """Softmax cross-entropy with mmsegmentation's reduction.

    Args:
        pred: logits (N, C, H, W) or (N, C).
        label: class indices (N, H, W) or (N,).
        weight: per-element weight, same shape as `label`, or None.
        class_weight: (C,) rescaling of each class's loss, or None.
        reduction: 'none' (returns (N, H, W)), 'mean' or 'sum'.
        avg_factor: divisor for 'mean' instead of the element count.
        ignore_index: label value that contributes nothing; None for no ignored value.
        avg_non_ignore: with 'mean' and no `avg_factor`, divide by the non-ignored count.

    Returns:
        The loss, reduced as asked.
    """
    torch_ignore = -100 if ignore_index is None else ignore_index
    if pred.dim() == 4 and pred.stride(1) == 1 and pred.shape[1] > 1:
        # channels-last logits: the softmax runs along contiguous classes, on (pixels, C);
        # F.cross_entropy on the 4-d tensor would first copy it to NCHW (R-50 UPerNet at
        # 512 px: 2 x 315 MB per training step)
        batch, classes, height, width = pred.shape
        pixels = pred.permute(0, 2, 3, 1).reshape(-1, classes)
        loss = F.cross_entropy(pixels, label.reshape(-1), weight=class_weight,
                               reduction='none', ignore_index=torch_ignore)
        loss = loss.view(batch, height, width)
    else:
        loss = F.cross_entropy(pred, label, weight=class_weight, reduction='none',
                               ignore_index=torch_ignore)
    if avg_factor is None and avg_non_ignore and reduction == 'mean':
        avg_factor = label.numel() - (label == torch_ignore).sum().item()
    if weight is not None:
        weight = weight.float()
    return weight_reduce_loss(loss, weight=weight, reduction=reduction, avg_factor=avg_factor)


def _expand_onehot_labels(labels: torch.Tensor, label_weights: torch.Tensor | None,
                          target_shape: torch.Size, ignore_index: int | None
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One-hot (N, C, ...) targets, their weights and the valid mask from (N, ...) labels."""
    valid = labels >= 0
    if ignore_index is not None:
        valid &= labels != ignore_index
    bin_labels = labels.new_zeros(target_shape)
    safe = torch.where(valid, labels, torch.zeros_like(labels))
    bin_labels.scatter_(1, safe.unsqueeze(1), 1)
    valid_mask = valid.unsqueeze(1).expand(target_shape).float()
    bin_labels = bin_labels * valid_mask.long()
    if label_weights is None:
        bin_weights = valid_mask
    else:
        bin_weights = label_weights.unsqueeze(1).expand(target_shape).float() * valid_mask
    return bin_labels, bin_weights, valid_mask


def binary_cross_entropy(pred: torch.Tensor, label: torch.Tensor,
                         weight: torch.Tensor | None = None, reduction: str = 'mean',
                         avg_factor: float | None = None,
                         class_weight: torch.Tensor | None = None,
                         ignore_index: int | None = -100, avg_non_ignore: bool = False,
                         **kwargs) -> torch.Tensor:
    """Sigmoid BCE with ignored pixels masked, as mmsegmentation's `binary_cross_entropy`.

    Args:
        pred: logits (N, 1, H, W) for binary segmentation (labels 0/1), or (N, C, H, W)
            for C independent sigmoids (labels expanded to one-hot), or the same shape
            as a float `label` (soft targets).
        label: (N, H, W) integer labels, or a float tensor shaped like `pred`.
        weight: per-pixel weight shaped like `label`, or None.
        reduction: 'none', 'mean' or 'sum'.
        avg_factor: divisor for 'mean' instead of the element count.
        class_weight: positive-class weight per channel, (C,), or None.
        ignore_index: label value that contributes nothing.
        avg_non_ignore: with 'mean' and no `avg_factor`, divide by the valid count.
        **kwargs: accepted and unused, as mmsegmentation.

    Returns:
        The loss, reduced as asked ('none' keeps the shape of `pred`, squeezed for C=1).
    """
    if pred.dim() == label.dim() + 1 and pred.size(1) == 1:
        pred = pred.squeeze(1)
    if pred.dim() != label.dim():
        label, weight, valid_mask = _expand_onehot_labels(label, weight, pred.shape,
                                                          ignore_index)
    else:
        valid_mask = (label >= 0).float()
        if ignore_index is not None:
            valid_mask = valid_mask * (label != ignore_index).float()
        weight = valid_mask if weight is None else weight.float() * valid_mask
    if reduction == 'mean' and avg_factor is None and avg_non_ignore:
        avg_factor = valid_mask.sum().item()
    if class_weight is not None and pred.dim() > 2 and class_weight.numel() > 1:
        # torch broadcasts pos_weight against the LAST dim; put it on the channel dim
        # (mmseg passes it unshaped, which only works by accident when W == C).
        class_weight = class_weight.view(-1, *([1] * (pred.dim() - 2)))
    loss = F.binary_cross_entropy_with_logits(pred, label.float(), pos_weight=class_weight,
                                              reduction='none')
    return weight_reduce_loss(loss, weight, reduction=reduction, avg_factor=avg_factor)


@MODELS.register_module()
class CrossEntropyLoss(BaseLoss):
    """Cross-entropy loss (softmax, or sigmoid for binary / multi-label), as mmseg 1.x.

    Args:
        use_sigmoid: sigmoid BCE instead of softmax CE; needed for `out_channels=1`.
        use_mask: mmdetection's instance-mask BCE; not supported (raises).
        reduction: 'none', 'mean' or 'sum'.
        class_weight: one weight per class, as a list of floats or the path of a `.npy`
            file (pickles are refused).
        loss_weight: multiplier of the loss.
        loss_name: key of the loss in the head's loss dict; it must start with 'loss_'
            for mmengine to back-propagate it.
        avg_non_ignore: average over non-ignored pixels only (see the module docstring).
    """

    def __init__(self, use_sigmoid: bool = False, use_mask: bool = False,
                 reduction: str = 'mean',
                 class_weight: Sequence[float] | str | os.PathLike | None = None,
                 loss_weight: float = 1.0, loss_name: str = 'loss_ce',
                 avg_non_ignore: bool = False) -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight, loss_name=loss_name)
        if use_mask:
            raise NotImplementedError(
                'CrossEntropyLoss(use_mask=True) is mmdetection\'s per-instance mask loss; '
                'it does not apply to semantic segmentation heads and is not supported')
        self.use_sigmoid = bool(use_sigmoid)
        self.use_mask = False
        self.class_weight = get_class_weight(class_weight)
        self.avg_non_ignore = bool(avg_non_ignore)
        self._warned_avg = False

    def extra_repr(self) -> str:
        return (f'use_sigmoid={self.use_sigmoid}, avg_non_ignore={self.avg_non_ignore}, '
                f'loss_weight={self.loss_weight}')

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor,
                weight: torch.Tensor | None = None, avg_factor: float | None = None,
                reduction_override: str | None = None, ignore_index: int | None = 255,
                **kwargs) -> torch.Tensor:
        """Compute the loss.

        Args:
            cls_score: logits (N, C, H, W) (C=1 with `use_sigmoid` for binary).
            label: (N, H, W) int64 labels in [0, C) or `ignore_index` ({0, 1} for C=1).
            weight: per-pixel weight (N, H, W), or None.
            avg_factor: divisor for 'mean' instead of the pixel count.
            reduction_override: 'none', 'mean' or 'sum' to replace `reduction`.
            ignore_index: label value that contributes nothing.
            **kwargs: refused with their names (see `BaseLoss`).

        Returns:
            `loss_weight` times the loss; a 0-d tensor unless the reduction is 'none'.

        Raises:
            ValueError: for labels outside the valid range that are not `ignore_index`,
                or class weights whose length is not C.
        """
        reduction = self.call_reduction(reduction_override, kwargs)
        num_channels = cls_score.size(1)
        check_class_weight(self.class_weight, num_channels, self._loss_name)
        has_ignored = False
        if label.dim() + 1 == cls_score.dim():
            num_valid = 2 if (self.use_sigmoid and num_channels == 1) else num_channels
            has_ignored = check_label_range(label, num_valid, ignore_index, self._loss_name)
        self._warn_mean_over_ignored(has_ignored, reduction, avg_factor)
        class_weight = (cls_score.new_tensor(self.class_weight)
                        if self.class_weight is not None else None)
        criterion = binary_cross_entropy if self.use_sigmoid else cross_entropy
        loss = criterion(cls_score, label, weight, class_weight=class_weight,
                         reduction=reduction, avg_factor=avg_factor,
                         avg_non_ignore=self.avg_non_ignore, ignore_index=ignore_index)
        return self.loss_weight * loss

    def _warn_mean_over_ignored(self, has_ignored: bool, reduction: str,
                                avg_factor: float | None) -> None:
        if (has_ignored and not self.avg_non_ignore and reduction == 'mean'
                and avg_factor is None and not self._warned_avg):
            self._warned_avg = True
            warnings.warn(
                f'{self._loss_name}: avg_non_ignore=False (mmsegmentation\'s default) averages '
                'over ALL pixels, ignored ones included, so the loss shrinks with the share of '
                'ignored pixels; set avg_non_ignore=True to average over labelled pixels only '
                '(as torch\'s cross_entropy does).', UserWarning, stacklevel=2)
