"""Eval-time folding of BatchNorm into the convolution before it.

In eval mode a BatchNorm is a per-channel affine map with fixed statistics, so
`bn(conv(x))` equals one convolution with rescaled weights and a bias: the same logits
(up to fp32 rounding) with one pass over the activations fewer per layer.

Only pairs whose order is certain are folded: a Conv2d directly followed by a BatchNorm2d
inside an `nn.Sequential` (ResNet deep stem, downsample), a ConvModule's `conv` + norm,
and a block's `convN` + the norm named by its `normN_name` (the mmcv convention of the
ResNet blocks and 7x7 stem). The folded norms
become `nn.Identity`, so the state dict changes: fold after loading weights, for inference.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

from .conv_module import ConvModule


@torch.no_grad()
def fold_batch_norm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Rewrite `conv` in place so that conv(x) == bn(conv(x)) with bn's running statistics."""
    conv.weight, conv.bias = fuse_conv_bn_weights(
        conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)


def _foldable(conv: nn.Module, norm: nn.Module | None) -> bool:
    return (isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d)
            and norm.track_running_stats and norm.running_mean is not None
            and norm.num_features == conv.out_channels)


def _conv_norm_pairs(parent: nn.Module) -> Iterator[tuple[nn.Conv2d, str]]:
    """(conv, name of the norm attribute in `parent`) for the known conv -> norm orders."""
    if isinstance(parent, nn.Sequential):
        names = list(parent._modules)
        for conv_name, norm_name in zip(names, names[1:], strict=False):
            yield parent._modules[conv_name], norm_name
    elif isinstance(parent, ConvModule):
        if parent.norm_name is not None:
            yield parent.conv, parent.norm_name
    else:
        for i in range(1, 4):
            conv = getattr(parent, f'conv{i}', None)
            norm_name = getattr(parent, f'norm{i}_name', None)
            if conv is not None and isinstance(norm_name, str):
                yield conv, norm_name


def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm that directly follows a convolution; returns `model`.

    Raises:
        RuntimeError: if `model` is in training mode (the batch statistics used there
            cannot be folded).
    """
    if model.training:
        raise RuntimeError('fuse_conv_bn folds running statistics: call model.eval() first '
                           '(the folded model is for inference only)')
    for parent in list(model.modules()):
        for conv, norm_name in list(_conv_norm_pairs(parent)):
            norm = getattr(parent, norm_name, None)
            if _foldable(conv, norm):
                fold_batch_norm(conv, norm)
                setattr(parent, norm_name, nn.Identity())
    return model
