"""Lovasz-Softmax loss (Berman et al., CVPR 2018), mmsegmentation's `LovaszLoss` names.

A convex surrogate of 1 - IoU per class: the per-pixel errors |[label == c] - p_c| are
sorted in decreasing order and weighted by the discrete gradient of the Jaccard loss
along that order. Cross-entropy scores every pixel alike; this loss is driven by the
errors that cost IoU, boundary pixels of small objects included.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from upertool.registry import MODELS

from .base import BaseLoss
from .utils import check_label_range, get_class_weight


def lovasz_softmax(probs: torch.Tensor, labels: torch.Tensor,
                   classes: str | Sequence[int] = 'present',
                   class_weight: Sequence[float] | None = None) -> torch.Tensor:
    """Lovasz-Softmax over a set of pixels.

    Args:
        probs: (P, C) class probabilities of the P labelled pixels.
        labels: (P,) int64 labels in [0, C).
        classes: 'present' (classes in `labels` only), 'all', or a list of class indices.
        class_weight: (C,) weights of the per-class losses, or None.

    Returns:
        0-d tensor: the (weighted) mean over the selected classes; 0 when none is selected.
    """
    num_classes = probs.shape[1]
    foreground = F.one_hot(labels, num_classes).to(probs.dtype)  # (P, C)
    errors = (foreground - probs).abs()
    errors, order = errors.sort(dim=0, descending=True)
    fg_sorted = foreground.gather(0, order)
    # Jaccard loss after each prefix of the sorted pixels, then its increments
    total = fg_sorted.sum(0)
    intersection = total - fg_sorted.cumsum(0)
    union = total + (1 - fg_sorted).cumsum(0)
    jaccard = 1 - intersection / union
    grad = torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])
    per_class = (errors * grad).sum(0)  # (C,)
    if classes == 'present':
        selected = total > 0
    elif classes == 'all':
        selected = torch.ones_like(total, dtype=torch.bool)
    else:
        selected = torch.zeros_like(total, dtype=torch.bool)
        selected[list(classes)] = True
    weights = selected.to(probs.dtype)
    if class_weight is not None:
        weights = weights * probs.new_tensor(class_weight)
    if weights.sum() == 0:
        return probs.sum() * 0  # keeps the graph: no class to score in this batch
    return (per_class * weights).sum() / weights.sum()


@MODELS.register_module()
class LovaszLoss(BaseLoss):
    """Multi-class Lovasz-Softmax loss on logits.

    Args:
        loss_type: 'multi_class' (softmax over C channels); 'binary' is not supported.
        classes: 'present', 'all' or a list of class indices to average over.
        per_image: average the loss of each image instead of one loss over the batch.
        reduction: 'mean' or 'none' (mmsegmentation requires 'none' with
            per_image=False; both give the batch loss here).
        class_weight: per-class weights, a list or a .npy/.pkl path, or None.
        loss_weight: multiplier of the loss.
        loss_name: key of this loss in the head's loss dict.
    """

    def __init__(self, loss_type: str = 'multi_class', classes: str | Sequence[int] = 'present',
                 per_image: bool = False, reduction: str = 'mean',
                 class_weight: Sequence[float] | str | None = None, loss_weight: float = 1.0,
                 loss_name: str = 'loss_lovasz') -> None:
        if reduction not in ('mean', 'none'):
            raise ValueError(f"LovaszLoss: reduction must be 'mean' or 'none', got {reduction!r}")
        super().__init__(reduction=reduction, loss_weight=loss_weight, loss_name=loss_name)
        if loss_type != 'multi_class':
            raise NotImplementedError(f"LovaszLoss: loss_type {loss_type!r} is not supported; "
                                      "use 'multi_class' (softmax over the classes)")
        if not (classes in ('present', 'all') or isinstance(classes, (list, tuple))):
            raise ValueError(f"LovaszLoss: classes must be 'present', 'all' or a list of "
                             f'class indices, got {classes!r}')
        self.classes = classes
        self.per_image = per_image
        self.class_weight = get_class_weight(class_weight)

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor,
                weight: torch.Tensor | None = None, avg_factor: float | None = None,
                reduction_override: str | None = None, ignore_index: int | None = 255,
                **kwargs) -> torch.Tensor:
        """Loss of logits (N, C, H, W) against labels (N, H, W), `ignore_index` left out.

        `weight` (a pixel sampler's) is not used, as in mmsegmentation: IoU is a property
        of the whole map, so every labelled pixel takes part. Either reduction gives the
        batch's loss; unknown keyword arguments are refused (`BaseLoss`).
        """
        self.call_reduction(reduction_override, kwargs)
        check_label_range(label, cls_score.shape[1], ignore_index, self._loss_name)
        probs = cls_score.float().softmax(dim=1)
        keep = label != ignore_index if ignore_index is not None else torch.ones_like(
            label, dtype=torch.bool)
        num_classes = probs.shape[1]
        images = range(len(label)) if self.per_image else [slice(None)]
        losses = []
        for i in images:
            mask = keep[i]
            pixels = probs[i].movedim(-3, -1)[mask].reshape(-1, num_classes)
            losses.append(lovasz_softmax(pixels, label[i][mask].reshape(-1), self.classes,
                                         self.class_weight))
        return self.loss_weight * torch.stack(losses).mean()
