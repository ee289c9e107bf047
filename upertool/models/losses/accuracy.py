"""Pixel accuracy in percent, as mmsegmentation 1.x's `accuracy` (logged as `acc_seg`)."""
from __future__ import annotations

import torch
from torch import nn

from upertool.models.utils.resize import channel_argmax


def accuracy(pred: torch.Tensor, target: torch.Tensor, topk: int | tuple[int, ...] = 1,
             thresh: float | None = None, ignore_index: int | None = None
             ) -> torch.Tensor | list[torch.Tensor]:
    """Share of pixels whose label is among the top-k scores, in percent.

    Args:
        pred: scores (N, C, ...).
        target: labels (N, ...).
        topk: k, or a tuple of k values (then a list is returned).
        thresh: if given, a prediction counts as correct only if its score is > thresh.
        ignore_index: pixels with this label are left out of numerator and denominator.

    Returns:
        A (1,)-shaped tensor per k (float32 eps is added to both counts, as mmseg, so an
        all-ignored batch gives 100 instead of NaN); a list for a tuple `topk`.
    """
    if not isinstance(topk, (int, tuple)):
        raise TypeError(f'topk must be an int or a tuple of ints, got {topk!r}')
    return_single = isinstance(topk, int)
    ks = (topk,) if return_single else topk
    maxk = max(ks)
    if pred.size(0) == 0:
        accs = [pred.new_tensor(0.) for _ in ks]
        return accs[0] if return_single else accs
    if pred.dim() != target.dim() + 1 or pred.size(0) != target.size(0):
        raise ValueError(f'accuracy: pred {tuple(pred.shape)} must be (N, C, ...) for target '
                         f'{tuple(target.shape)} of shape (N, ...)')
    if maxk > pred.size(1):
        raise ValueError(f'accuracy: maxk {maxk} exceeds pred dimension {pred.size(1)}')
    with torch.no_grad():  # a metric: no graph through the full-size logits
        if maxk == 1:  # the top class: a vectorised arg-max (topk walks per pixel)
            pred_label = channel_argmax(pred, 1).unsqueeze(1)
            pred_value = pred.gather(1, pred_label)
        else:
            pred_value, pred_label = pred.topk(maxk, dim=1)
    pred_label = pred_label.transpose(0, 1)  # (maxk, N, ...)
    correct = pred_label.eq(target.unsqueeze(0).expand_as(pred_label))
    if thresh is not None:
        correct = correct & (pred_value > thresh).transpose(0, 1)
    if ignore_index is not None:
        keep = target != ignore_index
        correct = correct[:, keep]
        total = keep.sum()
    else:
        total = target.numel()
    eps = torch.finfo(torch.float32).eps
    accs = []
    for k in ks:
        correct_k = correct[:k].reshape(-1).float().sum(0, keepdim=True) + eps
        accs.append(correct_k * (100.0 / (total + eps)))
    return accs[0] if return_single else accs


class Accuracy(nn.Module):
    """`accuracy` as a module, as mmsegmentation 1.x's `Accuracy(topk, thresh, ignore_index)`."""

    def __init__(self, topk: int | tuple[int, ...] = (1,), thresh: float | None = None,
                 ignore_index: int | None = None) -> None:
        super().__init__()
        self.topk = topk
        self.thresh = thresh
        self.ignore_index = ignore_index

    def forward(self, pred: torch.Tensor, target: torch.Tensor
                ) -> torch.Tensor | list[torch.Tensor]:
        return accuracy(pred, target, self.topk, self.thresh, self.ignore_index)
