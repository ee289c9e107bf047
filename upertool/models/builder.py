"""mmsegmentation 1.x's `mmseg.models.builder`: deprecated aliases of MODELS and build functions.

Kept because third-party code still calls them; each build function warns as mmsegmentation's
does and builds with `upertool.registry.MODELS`.
"""
from __future__ import annotations

import warnings

from torch import nn

from upertool.registry import MODELS

BACKBONES = MODELS
NECKS = MODELS
HEADS = MODELS
LOSSES = MODELS
SEGMENTORS = MODELS

__all__ = ['BACKBONES', 'HEADS', 'LOSSES', 'NECKS', 'SEGMENTORS', 'build_backbone', 'build_head',
           'build_loss', 'build_neck', 'build_segmentor']


def _deprecated_build(name: str, cfg: dict) -> nn.Module:
    warnings.warn(f'``{name}`` would be deprecated soon, please use '
                  '``upertool.registry.MODELS.build()``', stacklevel=3)
    return MODELS.build(cfg)


def build_backbone(cfg: dict) -> nn.Module:
    """Build a backbone (deprecated: use MODELS.build)."""
    return _deprecated_build('build_backbone', cfg)


def build_neck(cfg: dict) -> nn.Module:
    """Build a neck (deprecated: use MODELS.build)."""
    return _deprecated_build('build_neck', cfg)


def build_head(cfg: dict) -> nn.Module:
    """Build a head (deprecated: use MODELS.build)."""
    return _deprecated_build('build_head', cfg)


def build_loss(cfg: dict) -> nn.Module:
    """Build a loss (deprecated: use MODELS.build)."""
    return _deprecated_build('build_loss', cfg)


def build_segmentor(cfg: dict, train_cfg: dict | None = None,
                    test_cfg: dict | None = None) -> nn.Module:
    """Build a segmentor (deprecated: use MODELS.build); outer train/test cfgs warn and are
    refused when the model config also has them."""
    if train_cfg is not None or test_cfg is not None:
        warnings.warn('train_cfg and test_cfg is deprecated, please specify them in model',
                      UserWarning, stacklevel=2)
    for key, value in (('train_cfg', train_cfg), ('test_cfg', test_cfg)):
        if value is not None and cfg.get(key) is not None:
            raise ValueError(f'build_segmentor: {key} is given both as an argument and in the '
                             'model config; keep one')
    return MODELS.build(cfg, default_args=dict(train_cfg=train_cfg, test_cfg=test_cfg))
