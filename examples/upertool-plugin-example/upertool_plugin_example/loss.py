"""SoftIoULoss: 1 - soft Jaccard index of the softmax against the one-hot labels.

A loss for `loss_decode` is an nn.Module called as
`loss(logits (B, C, H, W), labels (B, H, W), weight=None, ignore_index=255)` that returns a
scalar and has a str `loss_name` starting with 'loss_' (the key in the loss dict; mmengine
back-propagates the keys that contain 'loss').
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from upertool.registry import MODELS


@MODELS.register_module()
class SoftIoULoss(nn.Module):
    """Mean over images and classes of 1 - (|p*t| + smooth) / (|p + t - p*t| + smooth).

    Pixels labelled `ignore_index` count neither in the intersection nor in the union.

    Args:
        smooth: added to both sides, so classes absent from an image and not predicted
            score an IoU near 1.
        loss_weight: factor on the loss.
        loss_name: key of the loss in the head's loss dict.
    """

    def __init__(self, smooth: float = 1.0, loss_weight: float = 1.0,
                 loss_name: str = 'loss_softiou') -> None:
        super().__init__()
        if not loss_name.startswith('loss_'):
            raise ValueError(f"SoftIoULoss: loss_name must start with 'loss_', got {loss_name!r}")
        self.smooth = float(smooth)
        self.loss_weight = float(loss_weight)
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        return self._loss_name

    def forward(self, cls_score: Tensor, label: Tensor, weight: Tensor | None = None,
                ignore_index: int | None = 255, **kwargs) -> Tensor:
        """(B, C, H, W) logits and (B, H, W) integer labels -> scalar loss."""
        num_classes = cls_score.shape[1]
        valid = torch.ones_like(label, dtype=torch.bool) if ignore_index is None \
            else label != ignore_index
        target = F.one_hot(torch.where(valid, label, 0).long(), num_classes)
        target = target.permute(0, 3, 1, 2).float() * valid.unsqueeze(1)
        prob = cls_score.float().softmax(dim=1) * valid.unsqueeze(1)
        inter = (prob * target).flatten(2).sum(-1)
        union = (prob + target - prob * target).flatten(2).sum(-1)
        iou = (inter + self.smooth) / (union + self.smooth)
        return self.loss_weight * (1 - iou).mean()
