"""Online hard example mining over pixels, as mmsegmentation's `OHEMPixelSampler`.

The loss is taken over the hard pixels only (weight 1, others 0), so easy pixels, which
are most of a segmentation map, stop diluting the gradient. A head config selects it with
`sampler=dict(type='OHEMPixelSampler', thresh=0.7, min_kept=100000)`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from upertool.registry import TASK_UTILS


@TASK_UTILS.register_module()
class OHEMPixelSampler:
    """Weights 1 for hard labelled pixels, 0 elsewhere.

    Args:
        context: the decode head (its `ignore_index` and `loss_decode` are used).
        thresh: with a value, pixels whose predicted probability of their label is below
            `max(thresh, the min_kept-th smallest probability)` are hard; without, the
            `min_kept` pixels of highest loss per image are.
        min_kept: least number of hard pixels per image in the batch.
    """

    def __init__(self, context: nn.Module, thresh: float | None = None,
                 min_kept: int = 100000) -> None:
        if thresh is not None and not 0 < thresh <= 1:
            raise ValueError(f'OHEMPixelSampler: thresh must be in (0, 1], got {thresh}')
        if not isinstance(min_kept, int) or min_kept < 1:
            raise ValueError(f'OHEMPixelSampler: min_kept must be a positive int, got '
                             f'{min_kept!r}')
        self.context = context
        self.thresh = thresh
        self.min_kept = min_kept

    @torch.no_grad()
    def sample(self, seg_logit: Tensor, seg_label: Tensor) -> Tensor:
        """Per-pixel weights (N, H, W) for logits (N, C, H, W) and labels (N, [1,] H, W)."""
        if seg_label.dim() == 4:
            seg_label = seg_label.squeeze(1)
        if seg_logit.shape[2:] != seg_label.shape[1:]:
            raise ValueError(f'OHEMPixelSampler: logits {tuple(seg_logit.shape)} and labels '
                             f'{tuple(seg_label.shape)} differ in size')
        seg_label = seg_label.long()
        batch_kept = self.min_kept * seg_label.shape[0]
        valid = seg_label != self.context.ignore_index
        weight = seg_logit.new_zeros(seg_label.shape)
        if self.thresh is not None:
            labels = seg_label.masked_fill(~valid, 0).unsqueeze(1)
            prob = F.softmax(seg_logit.float(), dim=1).gather(1, labels).squeeze(1)[valid]
            cut = (prob.kthvalue(min(batch_kept, prob.numel() - 1) + 1).values
                   if prob.numel() else prob.new_tensor(0.))
            threshold = torch.clamp(cut, min=self.thresh)
            weight[valid] = (prob < threshold).to(weight.dtype)
        else:
            losses = self.context.loss_decode
            losses = losses if isinstance(losses, nn.ModuleList) else [losses]
            pixel_loss = sum(loss(seg_logit, seg_label, weight=None, reduction_override='none',
                                  ignore_index=self.context.ignore_index) for loss in losses)
            hardest = pixel_loss[valid].argsort(descending=True)[:batch_kept]
            kept = weight[valid]
            kept[hardest] = 1.
            weight[valid] = kept
        return weight
