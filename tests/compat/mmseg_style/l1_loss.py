import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.losses import weight_reduce_loss
from mmseg.registry import MODELS


@MODELS.register_module()
class PixelL1Loss(nn.Module):
    """L1 between softmax scores and one-hot labels, reduced by weight_reduce_loss."""

    def __init__(self, loss_weight=1.0, loss_name='loss_l1'):
        super().__init__()
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, pred, target, weight=None, ignore_index=255, **kwargs):
        valid = (target != ignore_index).unsqueeze(1).float()
        one_hot = F.one_hot(target.clamp(0, pred.shape[1] - 1), pred.shape[1])
        loss = (pred.softmax(1) - one_hot.permute(0, 3, 1, 2).float()).abs() * valid
        return self.loss_weight * weight_reduce_loss(
            loss, weight=None, reduction='mean', avg_factor=valid.sum() * pred.shape[1])

    @property
    def loss_name(self):
        return self._loss_name
