"""Convert Hugging Face `UperNetForSemanticSegmentation` weights to upertool and back.

    hf_to_upertool(config, weights, processor) -> HFConversion(model_cfg, state_dict, ...)
    upertool_to_hf(model_cfg, state_dict, class_names) -> HFConversion(hf_config, hf_weights,
                                                                       processor, ...)

Both directions check the result against the model the config builds (upertool side) or the
complete key table (HF side) and raise `ConversionError` with the report unless
`allow_partial=True`. Known differences (see docs/migration.md):
- HF Swin before transformers 5 (and HF `SwinModel` in any version) shrinks the window and
  drops the shift when a stage is no larger than the window; mmsegmentation pads to whole
  windows instead. Outputs agree where every stage is larger than the window (e.g. Swin-T,
  window 7: inputs of at least 256 px) and, with transformers >= 5's SwinBackbone (which always
  partitions), at every size.
- HF ResNet is v1.5 (7x7 stem) = mmseg `ResNet`; `ResNetV1c`/`ResNetV1d` are refused.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from upertool.models.backbones import swin_weights

from . import hf_config, hf_tables
from .key_rules import (
    ConversionError,
    ConversionReport,
    KeyMapper,
    build_target,
    compare_with_model,
    drop_keys,
)

_MERGING = re.compile(
    r'^backbone\.stages\.\d+\.downsample\.(reduction\.weight|norm\.(weight|bias))$')


@dataclass
class HFConversion:
    """A conversion's result: config, weights, extras and the report."""

    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    report: ConversionReport
    class_names: tuple[str, ...] = ()
    processor: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _finish(state: dict[str, torch.Tensor], report: ConversionReport,
            target: Mapping[str, torch.Tensor], allow_partial: bool, what: str) -> None:
    """Fill derived buffers from `target`, compare, refuse a partial result unless allowed."""
    for key, value in target.items():
        if key.endswith('relative_position_index') and key not in state:
            state[key] = value.clone()
    compare_with_model(state, target, report)
    if not report.complete and not allow_partial:
        raise ConversionError(f'{what} is incomplete; nothing was written '
                              f'(pass allow_partial=True / --allow-partial to write it anyway):\n'
                              f'{report.summary()}')


def _to_saved_names(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        for pattern, repl in hf_tables.SWIN_V5_TO_SAVED:
            key = re.sub(pattern, repl, key)
        out[key] = value
    return out


def hf_to_upertool(config: dict[str, Any], weights: Mapping[str, torch.Tensor],
                   processor: dict[str, Any] | None = None,
                   allow_partial: bool = False) -> HFConversion:
    """HF UperNet (config.json dict, weights) -> upertool model config and state dict.

    Raises:
        ConversionError: unsupported config, or (unless allow_partial) keys left unmapped,
            missing, unexpected or of the wrong shape.
    """
    hf_config.check_hf_meta(config)
    model_cfg = hf_config.model_from_hf(config, processor)
    kind = hf_config.hf_kind(config)
    report = ConversionReport()
    state = _to_saved_names(weights) if kind == 'swin' else dict(weights)
    drop_keys(state, hf_tables.HF_UNUSED, report)
    if kind == 'swin':
        swin_weights.merge_qkv(state)
    state, report.unmapped = KeyMapper(hf_tables.upernet_rules(kind)).apply(state)
    if kind == 'swin':
        for key in [k for k in state if _MERGING.match(k)]:
            state[key] = swin_weights.merging_to_unfold(state[key])
    target = build_target(model_cfg).state_dict()
    _finish(state, report, target, allow_partial, 'Hugging Face -> upertool conversion')
    return HFConversion(model_cfg, state, report, hf_config.class_names_from_hf(config))


def upertool_to_hf(model_cfg: dict[str, Any], weights: Mapping[str, torch.Tensor],
                   class_names: tuple[str, ...] | None = None,
                   allow_partial: bool = False) -> HFConversion:
    """upertool EncoderDecoder (config `model` dict, state dict) -> HF config.json + weights.

    The weights are first checked against the model `model_cfg` builds, so a checkpoint of
    another model is refused before anything is renamed.

    Raises:
        ConversionError: a model HF UperNet cannot express (e.g. ResNetV1c, a neck, GroupNorm
            heads), or (unless allow_partial) weights that do not fit the config.
    """
    hf_cfg = hf_config.hf_config_from_model(model_cfg, class_names)
    processor = hf_config.hf_processor_from_model(model_cfg)
    kind = hf_config.hf_kind(hf_cfg)
    report = ConversionReport()
    state = {k: v for k, v in weights.items()}
    target = build_target(model_cfg).state_dict()
    _finish(state, report, target, allow_partial, 'upertool -> Hugging Face conversion')
    # Derived buffers: HF builds its own (and transformers >= 5 does not save them).
    drop_keys(state, [r'relative_position_index$'], report)
    if not hf_cfg.get('use_auxiliary_head'):
        drop_keys(state, [r'^auxiliary_head\.'], report)
    if kind == 'swin':
        for key in [k for k in state if _MERGING.match(k)]:
            state[key] = swin_weights.merging_to_official(state[key])
    hf_state, unmapped = KeyMapper(hf_tables.upernet_rules(kind), reverse=True).apply(state)
    report.unmapped += unmapped
    if unmapped and not allow_partial:
        raise ConversionError('upertool -> Hugging Face conversion is incomplete; nothing was '
                              f'written:\n{report.summary()}')
    if kind == 'swin':
        swin_weights.split_qkv(hf_state)
    return HFConversion(hf_cfg, hf_state, report, tuple(
        hf_cfg['id2label'][str(i)] for i in range(len(hf_cfg['id2label']))), processor)
