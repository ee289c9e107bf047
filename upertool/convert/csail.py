"""The UPerNet authors' checkpoints (CSAILVision) -> upertool checkpoints.

Two code bases, one file layout (`encoder_epoch_N.pth` + `decoder_epoch_N.pth`, plain state
dicts):

- semantic-segmentation-pytorch (`mit-semseg` on PyPI): encoder `resnet50` / `resnet101`
  (deep 3x3 stem of 64, 64, 128 channels: upertool's `ResNetV1c(stem_channels=128)`),
  decoder `upernet` (fpn_dim 512), `upernet_lite` (fpn_dim 256) -> UPerHead with
  `ppm_channels=512, ppm_order='upsample_first'`; `ppm_deepsup` -> PSPHead + an FCNHead
  auxiliary head on stage 3;
- unifiedparsing (the paper's multi-task model): the same encoders, decoder `upernet` with
  scene/object/part/material heads -> UPPHead with `ppm_pooling='integral'` (its Precise RoI
  Pooling) and `ppm_order='upsample_first'`.

Both save three extra buffers per BatchNorm from their synchronized BatchNorm
(`_tmp_running_mean`, `_tmp_running_var`, `_running_iter`); they are dropped.
"""
from __future__ import annotations

import os
from typing import Any

import torch

from .key_rules import (
    ConversionError,
    ConversionReport,
    KeyMapper,
    build_target,
    compare_with_model,
    drop_keys,
)
from .weights_io import read_weights

SYNC_BN_EXTRAS = (r'\._tmp_running_mean$', r'\._tmp_running_var$', r'\._running_iter$')

ENCODER_RULES = [
    ('conv1.', 'backbone.stem.0.'), ('bn1.', 'backbone.stem.1.'),
    ('conv2.', 'backbone.stem.3.'), ('bn2.', 'backbone.stem.4.'),
    ('conv3.', 'backbone.stem.6.'), ('bn3.', 'backbone.stem.7.'),
    ('layer{i}.', 'backbone.layer{i}.'),
]
_FPN_RULES = [
    ('ppm_conv.{i}.0.', 'decode_head.psp_modules.{i}.1.conv.'),
    ('ppm_conv.{i}.1.', 'decode_head.psp_modules.{i}.1.bn.'),
    ('ppm_last_conv.0.', 'decode_head.bottleneck.conv.'),
    ('ppm_last_conv.1.', 'decode_head.bottleneck.bn.'),
    ('fpn_in.{i}.0.', 'decode_head.lateral_convs.{i}.conv.'),
    ('fpn_in.{i}.1.', 'decode_head.lateral_convs.{i}.bn.'),
    ('fpn_out.{i}.0.0.', 'decode_head.fpn_convs.{i}.conv.'),
    ('fpn_out.{i}.0.1.', 'decode_head.fpn_convs.{i}.bn.'),
]
DECODER_RULES = {
    'upernet': _FPN_RULES + [
        ('conv_last.0.0.', 'decode_head.fpn_bottleneck.conv.'),
        ('conv_last.0.1.', 'decode_head.fpn_bottleneck.bn.'),
        ('conv_last.1.', 'decode_head.conv_seg.'),
    ],
    'upp': _FPN_RULES + [
        ('conv_fusion.0.', 'decode_head.fpn_bottleneck.conv.'),
        ('conv_fusion.1.', 'decode_head.fpn_bottleneck.bn.'),
        ('scene_head.0.0.', 'decode_head.scene_conv.conv.'),
        ('scene_head.0.1.', 'decode_head.scene_conv.bn.'),
        ('scene_head.2.', 'decode_head.scene_cls.'),
        ('object_head.0.0.', 'decode_head.object_conv.conv.'),
        ('object_head.0.1.', 'decode_head.object_conv.bn.'),
        ('object_head.1.', 'decode_head.conv_seg.'),
        ('part_head.0.0.', 'decode_head.part_conv.conv.'),
        ('part_head.0.1.', 'decode_head.part_conv.bn.'),
        ('part_head.1.', 'decode_head.part_cls.'),
        ('material_head.0.0.', 'decode_head.material_conv.conv.'),
        ('material_head.0.1.', 'decode_head.material_conv.bn.'),
        ('material_head.1.', 'decode_head.material_cls.'),
    ],
    'ppm_deepsup': [
        ('ppm.{i}.1.', 'decode_head.psp_modules.{i}.1.conv.'),
        ('ppm.{i}.2.', 'decode_head.psp_modules.{i}.1.bn.'),
        ('conv_last.0.', 'decode_head.bottleneck.conv.'),
        ('conv_last.1.', 'decode_head.bottleneck.bn.'),
        ('conv_last.4.', 'decode_head.conv_seg.'),
        ('cbr_deepsup.0.', 'auxiliary_head.convs.0.conv.'),
        ('cbr_deepsup.1.', 'auxiliary_head.convs.0.bn.'),
        ('conv_last_deepsup.', 'auxiliary_head.conv_seg.'),
    ],
}


def decoder_kind(state: dict[str, torch.Tensor]) -> str:
    """'upernet' / 'upernet_lite' (mit-semseg), 'upp' (unifiedparsing) or 'ppm_deepsup'."""
    if any(k.startswith(('object_head.', 'conv_fusion.')) for k in state):
        return 'upp'
    if any(k.startswith('ppm_conv.') for k in state):
        return 'upernet'
    if any(k.startswith('cbr_deepsup.') for k in state):
        return 'ppm_deepsup'
    raise ConversionError('the decoder file holds none of the CSAIL decoders\' keys '
                          "(ppm_conv.* for upernet, object_head.* for unifiedparsing, "
                          f'cbr_deepsup.* for ppm_deepsup); first keys: {list(state)[:5]}')


def csail_to_upertool(encoder: str | os.PathLike, decoder: str | os.PathLike,
                      model_cfg: dict | None = None, allow_partial: bool = False
                      ) -> tuple[dict[str, torch.Tensor], dict[str, Any], ConversionReport]:
    """Read an encoder and a decoder file (safely) and return upertool weights, meta, report.

    Raises:
        ConversionError: for keys no rule maps, or (with `model_cfg`) weights that do not
            fit the model, unless `allow_partial`.
    """
    report = ConversionReport()
    state: dict[str, torch.Tensor] = {}
    dec_weights = read_weights(decoder)[0]
    kind = decoder_kind(dec_weights)
    for path, weights, rules in ((encoder, read_weights(encoder)[0], ENCODER_RULES),
                                 (decoder, dec_weights, DECODER_RULES[kind])):
        weights = dict(weights)
        drop_keys(weights, SYNC_BN_EXTRAS, report)
        mapped, unmapped = KeyMapper(rules).apply(weights)
        report.unmapped += [f'{os.fspath(path)}: {k}' for k in unmapped]
        state.update(mapped)
    meta = dict(converted_from=f'csail:{os.fspath(encoder)}+{os.fspath(decoder)}',
                csail_decoder=kind)
    if model_cfg is not None:
        compare_with_model(state, build_target(model_cfg).state_dict(), report)
    if not report.complete and not allow_partial:
        raise ConversionError(f'{os.fspath(encoder)} + {os.fspath(decoder)} ({kind}) did not '
                              f'convert completely; nothing was written:\n{report.summary()}')
    return state, meta, report
