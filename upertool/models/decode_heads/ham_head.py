"""LightHamHead (SegNeXt's decoder, Guo et al. 2022; Hamburger, Geng et al. 2021) with
mmsegmentation 1.x's arguments and keys (`squeeze`, `hamburger.ham_in/ham_out`, `align`)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from upertool.models.utils import ConvModule, resize
from upertool.registry import MODELS

from .base import BaseDecodeHead


class Matrix_Decomposition_2D_Base(nn.Module):  # noqa: N801  (mmsegmentation's name)
    """Low-rank reconstruction of a (B, C, H, W) map: C // S features x R bases per group.

    Args:
        MD_S: number of channel groups; MD_R: number of bases.
        train_steps / eval_steps: multiplicative-update iterations in train / eval mode.
        inv_t: softmax temperature of the initial coefficients.
        rand_init: draw new random bases every call (as mmseg); else one set, drawn on the
            first call and kept as the buffer `bases`.
    """

    def __init__(self, MD_S: int = 1, MD_R: int = 64, train_steps: int = 6,  # noqa: N803
                 eval_steps: int = 7, inv_t: float = 100, rand_init: bool = True) -> None:
        super().__init__()
        self.S, self.R = MD_S, MD_R
        self.train_steps, self.eval_steps = train_steps, eval_steps
        self.inv_t = inv_t
        self.rand_init = rand_init

    def _build_bases(self, batch: int, groups: int, dims: int, rank: int,
                     device: torch.device) -> Tensor:
        raise NotImplementedError

    def local_step(self, x: Tensor, bases: Tensor, coef: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def compute_coef(self, x: Tensor, bases: Tensor, coef: Tensor) -> Tensor:
        raise NotImplementedError

    def local_inference(self, x: Tensor, bases: Tensor) -> tuple[Tensor, Tensor]:
        coef = F.softmax(self.inv_t * torch.bmm(x.transpose(1, 2), bases), dim=-1)
        for _ in range(self.train_steps if self.training else self.eval_steps):
            bases, coef = self.local_step(x, bases, coef)
        return bases, coef

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        dims = c // self.S
        x = x.view(b * self.S, dims, h * w)
        if self.rand_init:
            bases = self._build_bases(b, self.S, dims, self.R, x.device)
        else:
            if not hasattr(self, 'bases'):
                self.register_buffer('bases', self._build_bases(1, self.S, dims, self.R,
                                                                x.device))
            bases = self.bases.repeat(b, 1, 1)
        bases, coef = self.local_inference(x, bases)
        coef = self.compute_coef(x, bases, coef)
        return torch.bmm(bases, coef.transpose(1, 2)).view(b, c, h, w)


class NMF2D(Matrix_Decomposition_2D_Base):
    """Non-negative matrix factorisation by multiplicative updates (inv_t fixed to 1, as mmseg)."""

    def __init__(self, args: dict | None = None) -> None:
        super().__init__(**(args or {}))
        self.inv_t = 1

    def _build_bases(self, batch: int, groups: int, dims: int, rank: int,
                     device: torch.device) -> Tensor:
        return F.normalize(torch.rand((batch * groups, dims, rank)).to(device), dim=1)

    def _update_coef(self, x: Tensor, bases: Tensor, coef: Tensor) -> Tensor:
        numerator = torch.bmm(x.transpose(1, 2), bases)
        denominator = coef.bmm(bases.transpose(1, 2).bmm(bases))
        return coef * numerator / (denominator + 1e-6)

    def local_step(self, x: Tensor, bases: Tensor, coef: Tensor) -> tuple[Tensor, Tensor]:
        coef = self._update_coef(x, bases, coef)
        numerator = torch.bmm(x, coef)
        denominator = bases.bmm(coef.transpose(1, 2).bmm(coef))
        return bases * numerator / (denominator + 1e-6), coef

    def compute_coef(self, x: Tensor, bases: Tensor, coef: Tensor) -> Tensor:
        return self._update_coef(x, bases, coef)


class Hamburger(nn.Module):
    """1x1 conv + ReLU, NMF reconstruction, 1x1 conv + norm, residual, ReLU."""

    def __init__(self, ham_channels: int = 512, ham_kwargs: dict | None = None,
                 norm_cfg: dict | None = None) -> None:
        super().__init__()
        self.ham_in = ConvModule(ham_channels, ham_channels, 1, norm_cfg=None, act_cfg=None)
        self.ham = NMF2D(ham_kwargs)
        self.ham_out = ConvModule(ham_channels, ham_channels, 1, norm_cfg=norm_cfg,
                                  act_cfg=None)

    def forward(self, x: Tensor) -> Tensor:
        enjoy = self.ham_out(self.ham(F.relu(self.ham_in(x))))
        return F.relu(x + enjoy)


@MODELS.register_module()
class LightHamHead(BaseDecodeHead):
    """Selected levels resized to the first and concatenated, `squeeze`d to ham_channels, a
    Hamburger, then `align`ed to `channels`.

    Args:
        ham_channels: channels of the Hamburger.
        ham_kwargs: NMF2D arguments (MD_S, MD_R, train_steps, eval_steps, inv_t, rand_init).
        **head_args: the other BaseDecodeHead arguments (in_index as a list, norm_cfg, ...).

    Shapes: levels (B, C_i, H_i, W_i) -> logits (B, out_channels, H_0, W_0). With
    rand_init=True (mmseg's configs) the output depends on torch's random state.
    """

    def __init__(self, *, in_channels: Sequence[int], channels: int, num_classes: int,
                 ham_channels: int = 512, ham_kwargs: dict | None = None,
                 **head_args: Any) -> None:
        super().__init__(in_channels, channels, num_classes=num_classes,
                         input_transform='multiple_select', **head_args)
        self.ham_channels = ham_channels
        convs = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.squeeze = ConvModule(sum(self.in_channels), ham_channels, 1, **convs)
        self.hamburger = Hamburger(ham_channels, ham_kwargs, norm_cfg=self.norm_cfg)
        self.align = ConvModule(ham_channels, channels, 1, **convs)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        levels = self._transform_inputs(inputs)
        size = levels[0].shape[2:]
        x = torch.cat([resize(x, size=size, mode='bilinear', align_corners=self.align_corners)
                       for x in levels], dim=1)
        return self.cls_seg(self.align(self.hamburger(self.squeeze(x))))
