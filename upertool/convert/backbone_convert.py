"""Classification checkpoints (timm, torchvision, mmpretrain) -> upertool backbone weights.

    convert_backbone_weights(weights, 'timm', 'ResNetV1c/50') -> (state_dict, report)

The result has no `backbone.` prefix, for `init_cfg=dict(type='Pretrained', checkpoint=...)`.
It is checked against the backbone built in its classification layout (ConvNeXt and Swin
with only the last stage's norm, which the classifier's final norm becomes); a segmentation
config's extra output norms (`norm0`..`norm2`) are then initialised by the model.
Architecture hyper-parameters (depths, widths, heads, window) are read from the weights; a
named arch (`ConvNeXt/tiny`) must agree with them.

What each backbone's weights look like elsewhere (key tables, layouts, arch from weights) is
declared next to its code, in the module its class names as `WEIGHT_TABLES`
(`models/backbones/*_weights.py`); any registered backbone that declares one is a target.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch

from .key_rules import (
    ConversionError,
    ConversionReport,
    KeyMapper,
    build_target,
    compare_with_model,
    drop_keys,
)

SOURCES = ('timm', 'torchvision', 'mmpretrain')
# Keys a source's checkpoints hold that no backbone takes (classifiers, derived buffers).
DROP: dict[str, tuple[str, ...]] = {
    'timm': (r'^fc\.', r'^head\.fc\.', r'^head\.(weight|bias)$', r'relative_position_index$',
             r'attn_mask$'),
    'torchvision': (r'^fc\.', r'^classifier\.2\.', r'^head\.', r'relative_position_index$'),
    'mmpretrain': (r'^head\.', r'^neck\.', r'^data_preprocessor\.', r'relative_position_index$',
                   r'attn_mask$'),
}


def convertible_backbones() -> dict[str, type]:
    """Registered backbones that declare weight tables for classification checkpoints."""
    from upertool.registry import MODELS

    MODELS.import_from_location()
    return {name: cls for name, cls in sorted(MODELS.module_dict.items())
            if hasattr(getattr(cls, 'WEIGHT_TABLES', None), 'classification_rules')}


def parse_target(target: str) -> tuple[str, str | None]:
    """'ResNetV1c/50' -> ('ResNetV1c', '50'); 'SwinTransformer' -> ('SwinTransformer', None)."""
    kind, _, arch = target.partition('/')
    known = convertible_backbones()
    if kind not in known:
        raise ConversionError(f'--to must name one of {sorted(known)} (optionally /arch, e.g. '
                              f'ResNetV1c/50, ConvNeXt/tiny), got {target!r}')
    return kind, arch or None


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
    backbone = convertible_backbones()[kind]
    tables = backbone.WEIGHT_TABLES
    drop_keys(state, DROP[source], report)
    if all(k.startswith('backbone.') for k in state):
        state = {k[len('backbone.'):]: v for k, v in state.items()}
    try:
        rules = tables.classification_rules(source, kind, state)
        state, report.unmapped = KeyMapper(rules).apply(state)
        tables.fix_layout(source, kind, state)
        cfg = tables.config_from_weights(backbone, arch, state)
    except KeyError as err:
        raise ConversionError(f'not a {kind} checkpoint from {source}: no {err} after '
                              f'renaming; unmapped keys: {report.unmapped[:8]}') from err
    except ValueError as err:  # what the weights say disagrees with the target
        raise ConversionError(str(err)) from err
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
