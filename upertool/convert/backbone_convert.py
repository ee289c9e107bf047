"""Classification checkpoints (timm, torchvision, mmpretrain) -> upertool backbone weights.

    convert_backbone_weights(weights, 'timm', 'ResNetV1c/50') -> (state_dict, report)

The result has no `backbone.` prefix, for `init_cfg=dict(type='Pretrained', checkpoint=...)`.
It is checked against the backbone built in its classification layout (ConvNeXt and Swin
with only the last stage's norm, which the classifier's final norm becomes); a segmentation
config's extra output norms (`norm0`..`norm2`) are then initialised by the model.
Architecture hyper-parameters (depths, widths, heads, window) are read from the weights; a
named arch (`ConvNeXt/tiny`) must agree with them.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping

import torch

from . import backbone_tables as tables
from . import swin_layout
from .key_rules import (
    ConversionError,
    ConversionReport,
    KeyMapper,
    build_target,
    compare_with_model,
    drop_keys,
)

SOURCES = ('timm', 'torchvision', 'mmpretrain')
FAMILIES = {'ResNet': 'resnet', 'ResNetV1c': 'resnet', 'ResNetV1d': 'resnet',
            'ConvNeXt': 'convnext', 'SwinTransformer': 'swin'}
SWIN_ARCHS = {'tiny': (96, (2, 2, 6, 2), (3, 6, 12, 24)),
              'small': (96, (2, 2, 18, 2), (3, 6, 12, 24)),
              'base': (128, (2, 2, 18, 2), (4, 8, 16, 32)),
              'large': (192, (2, 2, 18, 2), (6, 12, 24, 48))}
_MERGING = re.compile(r'^stages\.\d+\.downsample\.(reduction\.weight|norm\.(weight|bias))$')


def parse_target(target: str) -> tuple[str, str | None]:
    """'ResNetV1c/50' -> ('ResNetV1c', '50'); 'SwinTransformer' -> ('SwinTransformer', None)."""
    kind, _, arch = target.partition('/')
    if kind not in FAMILIES:
        raise ConversionError(f'--to must name one of {sorted(FAMILIES)} (optionally /arch, e.g. '
                              f'ResNetV1c/50, ConvNeXt/tiny), got {target!r}')
    return kind, arch or None


def _rules(source: str, kind: str, state: Mapping[str, torch.Tensor]) -> list:
    family = FAMILIES[kind]
    if family == 'resnet':
        deep = any(k.startswith(('conv1.0.', 'stem.')) for k in state)
        if deep != (kind != 'ResNet'):
            stem = 'a deep 3x3 stem' if deep else 'a single 7x7 stem conv'
            fit = 'ResNetV1c or ResNetV1d' if deep else 'ResNet (v1.5, as torchvision/HF)'
            raise ConversionError(f'the checkpoint has {stem}, so it fits {fit}, not {kind}')
        if not deep:
            return tables.RESNET_7X7
        return tables.MMPRETRAIN_RESNET_DEEP if source == 'mmpretrain' else \
            tables.TIMM_RESNET_DEEP
    if source == 'mmpretrain':
        return tables.MMPRETRAIN_SAME
    if family == 'convnext':
        return tables.TIMM_CONVNEXT if source == 'timm' else tables.torchvision_convnext()
    if source == 'timm':
        return tables.timm_swin(merge_at_stage_start='layers.0.downsample.reduction.weight'
                                not in state)
    return tables.torchvision_swin()


def _count(state: Mapping[str, torch.Tensor], pattern: str, stage: int) -> int:
    regex = re.compile(pattern.format(i=stage))
    return len({m.group(1) for k in state if (m := regex.match(k))})


def _target_config(kind: str, arch: str | None, state: Mapping[str, torch.Tensor]) -> dict:
    """The backbone config (classification layout) the converted weights describe."""
    family = FAMILIES[kind]
    if family == 'resnet':
        depth = arch or _resnet_depth(state)
        if not str(depth).isdigit():
            raise ConversionError(f'{kind} arch must be a depth (18, 34, 50, 101, 152), got '
                                  f'{arch!r}')
        return dict(type=kind, depth=int(depth), init_cfg=None)
    if family == 'convnext':
        stages = range(len({k.split('.')[1] for k in state if k.startswith('stages.')}))
        depths = [_count(state, r'^stages\.{i}\.(\d+)\.', i) for i in stages]
        channels = [state[f'stages.{i}.0.depthwise_conv.weight'].shape[0] for i in stages]
        from upertool.models.backbones.convnext import ConvNeXt
        named = ConvNeXt.arch_settings.get(arch) if arch else None
        if arch and named != dict(depths=depths, channels=channels):
            raise ConversionError(f'the checkpoint is a ConvNeXt with depths {depths} and '
                                  f'channels {channels}, not {arch!r} ({named})')
        return dict(type='ConvNeXt', arch=dict(depths=depths, channels=channels),
                    out_indices=(len(depths) - 1,), gap_before_final_norm=False,
                    layer_scale_init_value=1e-6 if 'stages.0.0.gamma' in state else 0.0,
                    init_cfg=None)
    embed = state['patch_embed.projection.weight'].shape[0]
    stages = range(len({k.split('.')[1] for k in state if k.startswith('stages.')}))
    depths = tuple(_count(state, r'^stages\.{i}\.blocks\.(\d+)\.', i) for i in stages)
    tables_ = [state[f'stages.{i}.blocks.0.attn.w_msa.relative_position_bias_table']
               for i in stages]
    heads = tuple(t.shape[1] for t in tables_)
    window = (math.isqrt(tables_[0].shape[0]) + 1) // 2
    if arch and SWIN_ARCHS.get(arch) != (embed, depths, heads):
        raise ConversionError(f'the checkpoint is a Swin with embed_dims={embed}, depths='
                              f'{depths}, num_heads={heads}, not {arch!r}')
    return dict(type='SwinTransformer', embed_dims=embed, depths=depths, num_heads=heads,
                window_size=window, out_indices=(len(depths) - 1,), init_cfg=None)


def _resnet_depth(state: Mapping[str, torch.Tensor]) -> int:
    blocks = tuple(_count(state, r'^layer{i}\.(\d+)\.', i) for i in range(1, 5))
    bottleneck = any(k.endswith('conv3.weight') for k in state)
    depths = {(2, 2, 2, 2): 18, (3, 4, 6, 3): 50 if bottleneck else 34, (3, 4, 23, 3): 101,
              (3, 8, 36, 3): 152}
    if blocks not in depths:
        raise ConversionError(f'ResNet with {blocks} blocks per stage is not ResNet-18..152')
    return depths[blocks]


def _fix_layouts(source: str, kind: str, state: dict[str, torch.Tensor]) -> None:
    """Tensor changes beyond renaming (in place)."""
    if kind == 'SwinTransformer' and source != 'mmpretrain':
        for key in [k for k in state if _MERGING.match(k)]:
            state[key] = swin_layout.merging_to_unfold(state[key])
    if kind == 'ConvNeXt':
        for key in [k for k in state if k.endswith('.gamma') and state[k].dim() == 3]:
            state[key] = state[key].flatten()  # torchvision's layer_scale is (C, 1, 1)
        for key in [k for k in state if '.pointwise_conv' in k and k.endswith('.weight')
                    and state[k].dim() == 4 and state[k].shape[2:] == (1, 1)]:
            state[key] = state[key].flatten(1)  # timm's conv_mlp models: 1x1 conv = Linear
    if kind == 'ResNetV1d' and source == 'mmpretrain':
        # mmpretrain omits the (identity) pool where the stride is 1, so that projection sits
        # at downsample.0/1; mmseg always has the pool: downsample.1 (conv), .2 (norm).
        for key in [k for k in state if re.match(r'^layer\d+\.0\.downsample\.0\.weight$', k)]:
            prefix = key[:-len('0.weight')]
            moved = {k: v for k, v in state.items() if k.startswith(prefix)}
            for k in moved:
                del state[k]
            for k, v in moved.items():
                index, rest = k[len(prefix):].split('.', 1)
                state[f'{prefix}{int(index) + 1}.{rest}'] = v


def convert_backbone_weights(weights: Mapping[str, torch.Tensor], source: str, target: str,
                             allow_partial: bool = False
                             ) -> tuple[dict[str, torch.Tensor], ConversionReport]:
    """Rename a classification checkpoint's weights for a upertool backbone.

    Args:
        weights: The checkpoint's tensors (a `backbone.` prefix, as mmpretrain writes, is
            removed).
        source: 'timm', 'torchvision' or 'mmpretrain'.
        target: 'TYPE[/arch]': ResNet/50, ResNetV1c/50, ResNetV1d/101, ConvNeXt/tiny,
            SwinTransformer/tiny (arch optional; read from the weights when left out).
        allow_partial: Return what converted even if keys are unmapped, missing or
            mismatched (the report lists them).

    Raises:
        ConversionError: unknown source/target, a checkpoint of another architecture, or an
            incomplete conversion without allow_partial.
    """
    if source not in SOURCES:
        raise ConversionError(f'--from must be one of {SOURCES}, got {source!r}')
    kind, arch = parse_target(target)
    report = ConversionReport()
    state = dict(weights)
    drop_keys(state, tables.DROP[source], report)
    if all(k.startswith('backbone.') for k in state):
        state = {k[len('backbone.'):]: v for k, v in state.items()}
    state, report.unmapped = KeyMapper(_rules(source, kind, state)).apply(state)
    _fix_layouts(source, kind, state)
    try:
        cfg = _target_config(kind, arch, state)
    except KeyError as err:
        raise ConversionError(f'not a {kind} checkpoint from {source}: no {err} after '
                              f'renaming; unmapped keys: {report.unmapped[:8]}') from err
    model = build_target(cfg)
    target_state = model.state_dict()
    for key, value in target_state.items():  # derived buffers: the model's own values
        if key.endswith('relative_position_index') and key not in state:
            state[key] = value.clone()
    compare_with_model(state, target_state, report)
    if not report.complete and not allow_partial:
        raise ConversionError(f'{source} -> {target} conversion is incomplete; nothing was '
                              f'written (--allow-partial writes it anyway):\n{report.summary()}')
    return state, report
