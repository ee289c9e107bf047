"""Layer-wise / stage-wise learning-rate decay for ConvNeXt and ViT (mmsegmentation 1.x names).

`LearningRateDecayOptimizerConstructor` gives every backbone parameter the learning rate
`base_lr * decay_rate ** (num_layers + 1 - layer_id)`, where `layer_id` counts from the input
(0: stem / patch embedding) to `num_layers + 1` (everything after the backbone: neck, heads,
the backbone's output norms), so the layers closest to the input, which pre-training shaped
most, move least. Parameters of one dimension, biases and the token/position embeddings get
no weight decay. Config, as mmsegmentation's ConvNeXt configs write it::

    optim_wrapper = dict(
        type='AmpOptimWrapper',
        optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
        paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise', num_layers=6),
        constructor='LearningRateDecayOptimizerConstructor')

Each backbone declares its own layer groups (as timm's `group_matcher` does): the decay types
it supports in `DECAY_TYPES` and `decay_layer_id(name, num_layers, decay_type)` for the
parameters under it; everything after the backbone (neck, heads) is layer num_layers + 1. The
rules are mmsegmentation's `layer_decay_optimizer_constructor.py`, next to each model:
`ConvNeXt.decay_layer_id` ('layer_wise': downsample_layers.0 0, .1 2, .2 3, .3 num_layers;
stages.0 1, stages.1 2, stages.2.<block> 3 + block // 3, stages.3 num_layers; 'stage_wise':
downsample_layers 0, stages.i i + 1) and `VisionTransformer.decay_layer_id` (tokens and
patch_embed 0, layers.i i + 1). A backbone that declares none is refused with its name.

Differences from mmsegmentation, on purpose:
- ViT rules apply to upertool's (mmsegmentation's) `VisionTransformer` (and its subclasses),
  chosen by what the backbone declares, not by a substring of its class name (mmsegmentation
  matches 'BEiT'/'MAE' and raises NotImplementedError for VisionTransformer).
- mmsegmentation means to exempt `pos_embed` and `cls_token` from weight decay but compares
  them with prefixed names (`backbone.pos_embed`), so the exemption never fires; here it does
  (for `cls_token`, `mask_token`, `pos_embed` of the backbone). ConvNeXt has none of them, so
  ConvNeXt groups are exactly mmsegmentation's.
- Keys of `paramwise_cfg` other than decay_rate/decay_type/num_layers (e.g. `custom_keys`),
  which mmsegmentation silently ignores here, raise an error.
"""
from __future__ import annotations

import json
from numbers import Real
from typing import Any

from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn

from upertool.registry import OPTIM_WRAPPER_CONSTRUCTORS

DECAY_TYPES = ('layer_wise', 'layer_wise_vit', 'stage_wise')
PARAMWISE_KEYS = ('decay_rate', 'decay_type', 'num_layers')
# Never weight-decayed where a backbone has them (ViT's); ConvNeXt has none.
TOKEN_NAMES = ('cls_token', 'mask_token', 'pos_embed')


def _is_no_decay(name: str, param: nn.Parameter) -> bool:
    """1-d parameters (norms, biases, layer scales), biases and token/position embeddings."""
    bare = name[len('backbone.'):] if name.startswith('backbone.') else name
    return param.ndim == 1 or name.endswith('.bias') or bare in TOKEN_NAMES


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LearningRateDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """Learning rates decaying from the heads towards the input of a ConvNeXt or ViT backbone.

    Args:
        optim_wrapper_cfg: mmengine's optim wrapper config; its optimizer needs `lr` (without
            `weight_decay`, decayed groups keep the optimizer's default).
        paramwise_cfg: dict(decay_rate: float in (0, 1], decay_type: 'layer_wise' |
            'layer_wise_vit' | 'stage_wise' (default 'layer_wise'), num_layers: int >= 1).
            For ConvNeXt, mmsegmentation uses num_layers 6 (tiny) or 12 (small/base/large)
            with 'stage_wise'; for ViT, the number of encoder layers.

    Each parameter group carries `lr`, `weight_decay`, `lr_scale`, `group_name`
    ('layer_<id>_decay' or 'layer_<id>_no_decay') and `param_names`. Frozen parameters
    (requires_grad=False) are left out, as in mmsegmentation.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        # checked before mmengine's own validation, whose messages assume its option set
        cfg = {} if paramwise_cfg is None else paramwise_cfg
        name = type(self).__name__
        if not isinstance(cfg, dict):
            raise TypeError(f'{name}: paramwise_cfg must be a dict, got {type(cfg).__name__}')
        unknown = sorted(set(cfg) - set(PARAMWISE_KEYS))
        if unknown:
            raise ValueError(f'{name}: paramwise_cfg keys {unknown} are not supported (it takes '
                             f'{list(PARAMWISE_KEYS)}); custom_keys and the *_mult options '
                             "belong to mmengine's DefaultOptimWrapperConstructor")
        num_layers = cfg.get('num_layers')
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f'{name}: paramwise_cfg.num_layers must be a positive int, '
                             f'got {num_layers!r}')
        decay_rate = cfg.get('decay_rate')
        if (isinstance(decay_rate, bool) or not isinstance(decay_rate, Real)
                or not 0 < decay_rate <= 1):
            raise ValueError(f'{name}: paramwise_cfg.decay_rate must be a number in (0, 1], '
                             f'got {decay_rate!r}')
        decay_type = cfg.get('decay_type', 'layer_wise')
        if decay_type not in DECAY_TYPES:
            raise ValueError(f'{name}: paramwise_cfg.decay_type must be one of {DECAY_TYPES}, '
                             f'got {decay_type!r}')
        super().__init__(optim_wrapper_cfg, cfg)
        if self.base_lr is None:
            raise ValueError(f'{name}: the optimizer config needs an lr to scale')
        self.num_layers, self.decay_rate, self.decay_type = num_layers, decay_rate, decay_type

    def _layer_id_fn(self, module: nn.Module) -> Any:
        backbone = getattr(module, 'backbone', None)
        if backbone is None:
            raise ValueError(f'{type(self).__name__} needs a segmentor with a `backbone`, got '
                             f'{type(module).__name__}')
        kind = type(backbone).__name__
        if self.decay_type not in getattr(backbone, 'DECAY_TYPES', ()):
            declared = getattr(backbone, 'DECAY_TYPES', ()) or 'none'
            raise NotImplementedError(
                f'{type(self).__name__}: decay_type={self.decay_type!r} is not defined for a '
                f'{kind} backbone (it declares: {declared}); a backbone declares its layer '
                'groups with DECAY_TYPES and decay_layer_id(name, num_layers, decay_type), as '
                'ConvNeXt (layer_wise, stage_wise) and VisionTransformer (layer_wise) do')
        num_layers, decay_type = self.num_layers, self.decay_type

        def layer_id(name: str) -> int:
            if name.startswith('backbone.'):
                return backbone.decay_layer_id(name[len('backbone.'):], num_layers, decay_type)
            return num_layers + 1
        return layer_id

    def add_params(self, params: list[dict], module: nn.Module, prefix: str = '',
                   is_dcn_module: int | float | None = None) -> None:
        """Append one param group per (layer id, decay / no decay) of `module` to `params`.

        Args:
            params: Param groups, extended in place.
            module: The segmentor (unwrapped from DDP by the caller).
            prefix, is_dcn_module: Unused; part of mmengine's signature.
        """
        layer_id_of = self._layer_id_fn(module)
        top = self.num_layers + 2  # layer ids run 0 .. num_layers + 1
        groups: dict[str, dict] = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            no_decay = _is_no_decay(name, param)
            layer_id = layer_id_of(name)
            group_name = f"layer_{layer_id}_{'no_decay' if no_decay else 'decay'}"
            if group_name not in groups:
                scale = self.decay_rate**(top - layer_id - 1)
                group = dict(params=[], param_names=[], group_name=group_name,
                             lr_scale=scale, lr=scale * self.base_lr)
                # without a base weight_decay, decayed groups keep the optimizer's default
                if no_decay or self.base_wd is not None:
                    group['weight_decay'] = 0.0 if no_decay else self.base_wd
                groups[group_name] = group
            groups[group_name]['params'].append(param)
            groups[group_name]['param_names'].append(name)
        rank, _ = get_dist_info()
        if rank == 0:
            summary = {k: dict(lr_scale=g['lr_scale'], lr=g['lr'],
                               weight_decay=g.get('weight_decay'), params=len(g['params']))
                       for k, g in groups.items()}
            print_log(f'{type(self).__name__} ({self.decay_type}, decay_rate={self.decay_rate}, '
                      f'num_layers={self.num_layers}) param groups: '
                      f'{json.dumps(summary, indent=2)}', logger='current')
        params.extend(groups.values())


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimizerConstructor(LearningRateDecayOptimizerConstructor):
    """mmsegmentation's deprecated BEiT-era name: `paramwise_cfg=dict(num_layers=...,
    layer_decay_rate=...)` means decay_type='layer_wise_vit', decay_rate=layer_decay_rate."""

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        if 'layer_decay_rate' not in paramwise_cfg:
            raise ValueError('LayerDecayOptimizerConstructor needs paramwise_cfg.layer_decay_rate '
                             '(or use LearningRateDecayOptimizerConstructor with decay_rate)')
        paramwise_cfg['decay_rate'] = paramwise_cfg.pop('layer_decay_rate')
        paramwise_cfg['decay_type'] = 'layer_wise_vit'
        print_log('LayerDecayOptimizerConstructor is deprecated (as in mmsegmentation): use '
                  "LearningRateDecayOptimizerConstructor with decay_type='layer_wise_vit'",
                  logger='current')
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
