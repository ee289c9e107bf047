"""The part loss of Unified Perceptual Parsing (Xiao et al. 2018).

Part channels come in groups, one per object class that has parts; each group is its
own softmax over that object's parts. For group g (object o), as the reference's
`part_loss` (CSAILVision/unifiedparsing, models/models.py):

    mask_b   = pixels of image b whose ground-truth object is o (and whose part is
               annotated, i.e. not `ignore_index`)
    loss_g   = sum_b valid[b, g] * sum_{p in mask_b} -log softmax_g(x)[part(p)]
               / max(1, sum_b valid[b, g] * |mask_b|)

and the loss is `loss_weight * sum_g loss_g` (a sum over groups, not a mean).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from upertool.registry import MODELS

from .base import BaseLoss


def part_groups_slices(num_parts: Sequence[int]) -> list[slice]:
    """Channel slices of the groups: (2, 3) -> [slice(0, 2), slice(2, 5)]."""
    slices, start = [], 0
    for n in num_parts:
        slices.append(slice(start, start + n))
        start += n
    return slices


def part_loss(part_logits: Tensor, part_label: Tensor, object_label: Tensor, valid: Tensor,
              group_objects: Sequence[int], group_sizes: Sequence[int],
              ignore_index: int = 255) -> Tensor:
    """Sum over part groups of the masked, valid-weighted part NLL (see module doc).

    Args:
        part_logits: (B, sum(group_sizes), H, W).
        part_label: (B, H, W) part index within the pixel's object group.
        object_label: (B, H, W) ground-truth object classes.
        valid: (B, G) bool or 0/1: are image b's parts of group g annotated.
        group_objects: the object class of each group.
        group_sizes: the number of parts (channels) of each group.
        ignore_index: part label of object pixels without a part annotation.

    Returns:
        A scalar.
    """
    total = part_logits.new_zeros(())
    valid = valid.to(part_logits.dtype)
    annotated = part_label != ignore_index
    for g, (obj, sl) in enumerate(zip(group_objects, part_groups_slices(group_sizes),
                                      strict=True)):
        mask = (object_label == obj) & annotated
        log_prob = F.log_softmax(part_logits[:, sl], dim=1)
        target = torch.where(mask, part_label, torch.zeros_like(part_label))
        nll = F.nll_loss(log_prob, target, reduction='none') * mask
        per_image = nll.flatten(1).sum(1)
        pixels = mask.flatten(1).sum(1).to(valid.dtype)
        total = total + (per_image * valid[:, g]).sum() / (pixels * valid[:, g]).sum().clamp(
            min=1)
    return total


@MODELS.register_module()
class PartLoss(BaseLoss):
    """`part_loss` with a weight, for UPPHead's part branch.

    Its reduction is fixed by the reference (a sum over groups of per-group means), so
    `reduction_override` accepts only 'mean'.

    Args:
        loss_weight: multiplier (the paper's 0.5).
        loss_name: key of the loss in the loss dict.
    """

    def __init__(self, loss_weight: float = 0.5, loss_name: str = 'loss_part') -> None:
        super().__init__(reduction='mean', loss_weight=loss_weight, loss_name=loss_name)

    def forward(self, part_logits: Tensor, part_label: Tensor, object_label: Tensor,
                valid: Tensor, group_objects: Sequence[int], group_sizes: Sequence[int],
                ignore_index: int = 255, reduction_override: str | None = None,
                **unknown: Any) -> Tensor:
        if self.call_reduction(reduction_override, unknown) != 'mean':
            raise ValueError(f'PartLoss: the part loss has one reduction (the reference\'s '
                             f'per-group means, summed), got {reduction_override!r}')
        return self.loss_weight * part_loss(part_logits, part_label, object_label, valid,
                                            group_objects, group_sizes, ignore_index)
