"""mmsegmentation 0.x / 1.x checkpoints -> upertool checkpoints.

UPerNet and FCN weights of mmsegmentation 1.x have upertool's keys already, and 0.x's differ
only in wrapping, so both load directly with `load_from=` / `init_model(...)` (the safe loader
reads their meta). This converter writes a clean file: only `state_dict` and a `meta` with
`dataset_meta` (from 1.x's `dataset_meta` or 0.x's `CLASSES`/`PALETTE`); optimizer, message
hub, scheduler states and the embedded config are dropped. Old key variants mapped:

- `module.` (saved from a DDP-wrapped model) is stripped;
- `ema_*` buffers of mmcv's EMA hook (flattened copies of every weight) are dropped;
- transformer patch embeddings named `patch_embed.proj` (mmseg 0.x before the mmcv
  `PatchEmbed` refactor, and the official Swin/ViT names) become `patch_embed.projection`.

With a `model_cfg` the weights are checked against the model it builds (missing, unexpected,
shape mismatches), and an incomplete result is refused unless `allow_partial`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch

from ..checkpoint.strict_load import TRAINING_ONLY_KEYS
from .key_rules import (
    ConversionError,
    ConversionReport,
    KeyMapper,
    build_target,
    compare_with_model,
    drop_keys,
)
from .weights_io import read_weights

LEGACY_RULES = [
    ('backbone.patch_embed.proj.', 'backbone.patch_embed.projection.'),
    ('', ''),
]
DROPPED = (TRAINING_ONLY_KEYS.pattern,)


@dataclass
class MMSegConversion:
    state_dict: dict[str, torch.Tensor]
    meta: dict[str, Any]
    report: ConversionReport = field(default_factory=ConversionReport)


def dataset_meta_of(meta: dict[str, Any]) -> dict[str, Any] | None:
    """classes/palette from a 1.x (`dataset_meta`) or 0.x (`CLASSES`, `PALETTE`) meta."""
    if isinstance(meta.get('dataset_meta'), dict):
        found = {k: meta['dataset_meta'][k] for k in ('classes', 'palette')
                 if meta['dataset_meta'].get(k) is not None}
    else:
        found = {new: meta[old] for old, new in (('CLASSES', 'classes'), ('PALETTE', 'palette'))
                 if meta.get(old) is not None}
    found = {k: [list(v) if isinstance(v, (list, tuple)) else v for v in vals]
             for k, vals in found.items()}
    return found or None


def mmseg_to_upertool(checkpoint: str | os.PathLike, model_cfg: dict | None = None,
                      allow_partial: bool = False) -> MMSegConversion:
    """Read an mmsegmentation checkpoint (safely) and return upertool weights + meta.

    Raises:
        ConversionError: with `model_cfg`, weights that do not fit it (unless allow_partial).
    """
    weights, meta = read_weights(checkpoint)
    report = ConversionReport()
    state = dict(weights)
    drop_keys(state, DROPPED, report)
    state, report.unmapped = KeyMapper(LEGACY_RULES).apply(state)
    out_meta: dict[str, Any] = dict(converted_from=f'mmsegmentation:{os.fspath(checkpoint)}')
    dataset_meta = dataset_meta_of(meta)
    if dataset_meta:
        out_meta['dataset_meta'] = dataset_meta
    if model_cfg is not None:
        target = build_target(model_cfg).state_dict()
        compare_with_model(state, target, report)
        if not report.complete and not allow_partial:
            raise ConversionError(f'{os.fspath(checkpoint)} does not fit the config\'s model; '
                                  f'nothing was written:\n{report.summary()}')
    return MMSegConversion(state, out_meta, report)
