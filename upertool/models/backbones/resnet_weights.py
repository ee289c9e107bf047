"""ResNet's weight layouts in other libraries: key tables and what a checkpoint says of its arch.

Read by the converters (`upertool.convert`) through `ResNet.WEIGHT_TABLES`; nothing here runs
when a model trains or predicts. Tables pair `(source prefix, upertool prefix)` templates
(`{n}`, `{i}`, `{j}`: stage and block numbers; `{i+1}` shifts, see `convert/key_rules.py`).

- timm and torchvision name the 7x7 stem and the stages as mmseg does (`conv1`, `bn1`,
  `layer{n}.{j}.conv1..3/bn1..3/downsample.*`); timm's deep stem ('c'/'d' variants) is
  `conv1.{0,1,3,4,6}` + `bn1`, mmseg's `stem.{0,1,3,4,6,7}`; mmpretrain's deep stem is three
  ConvModules `stem.{0,1,2}.{conv,bn}`.
- Hugging Face `ResNetBackbone` (v1.5: 7x7 stem, stride on the 3x3 conv = `ResNet` with
  style='pytorch'): `embedder.embedder.{convolution, normalization}` is `conv1`/`bn1`, block j
  of stage i is `layer{i+1}.j` with `layer.{0,1,2}` = `conv{1,2,3}`/`bn{1,2,3}` and
  `shortcut` = `downsample.{0,1}`.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from .weight_keys import Rule, count_blocks

SHARED: list[Rule] = [('layer{n}.', 'layer{n}.')]
STEM_7X7: list[Rule] = [('conv1.', 'conv1.'), ('bn1.', 'bn1.'), *SHARED]
TIMM_DEEP: list[Rule] = [
    *[(f'conv1.{k}.', f'stem.{k}.') for k in (0, 1, 3, 4, 6)], ('bn1.', 'stem.7.'), *SHARED]
MMPRETRAIN_DEEP: list[Rule] = [
    *[(f'stem.{k}.{part}.', f'stem.{3 * k + off}.')
      for k in range(3) for part, off in (('conv', 0), ('bn', 1))], *SHARED]

_RES = 'encoder.stages.{i}.layers.{j}.'
_MM = 'layer{i+1}.{j}.'
HF_MODEL_TYPE = 'resnet'
HF_RULES: list[Rule] = [
    ('embedder.embedder.convolution.', 'conv1.'),
    ('embedder.embedder.normalization.', 'bn1.'),
    (_RES + 'shortcut.convolution.', _MM + 'downsample.0.'),
    (_RES + 'shortcut.normalization.', _MM + 'downsample.1.'),
    *[(_RES + f'layer.{n}.{hf}.', _MM + f'{mm}{n + 1}.')
      for n in range(3) for hf, mm in (('convolution', 'conv'), ('normalization', 'bn'))],
]
DEPTHS = {(2, 2, 2, 2): 18, (3, 4, 6, 3): 34, (3, 4, 23, 3): 101, (3, 8, 36, 3): 152}


def classification_rules(source: str, kind: str, keys: Collection[str]) -> list[Rule]:
    """The table for a timm/torchvision/mmpretrain checkpoint with `keys`, into `kind`.

    Raises:
        ValueError: the checkpoint's stem does not fit `kind`.
    """
    deep = any(k.startswith(('conv1.0.', 'stem.')) for k in keys)
    if deep != (kind != 'ResNet'):
        stem = 'a deep 3x3 stem' if deep else 'a single 7x7 stem conv'
        fit = 'ResNetV1c or ResNetV1d' if deep else 'ResNet (v1.5, as torchvision/HF)'
        raise ValueError(f'the checkpoint has {stem}, so it fits {fit}, not {kind}')
    if not deep:
        return STEM_7X7
    return MMPRETRAIN_DEEP if source == 'mmpretrain' else TIMM_DEEP


def fix_layout(source: str, kind: str, state: dict[str, Any]) -> None:
    """In place: mmpretrain's ResNetV1d omits the (identity) pool where the stride is 1, so
    that projection sits at downsample.0/1; mmseg always has it: downsample.1 (conv), .2."""
    if kind != 'ResNetV1d' or source != 'mmpretrain':
        return
    for key in [k for k in state if re.match(r'^layer\d+\.0\.downsample\.0\.weight$', k)]:
        prefix = key[:-len('0.weight')]
        moved = {k: v for k, v in state.items() if k.startswith(prefix)}
        for k in moved:
            del state[k]
        for k, v in moved.items():
            index, rest = k[len(prefix):].split('.', 1)
            state[f'{prefix}{int(index) + 1}.{rest}'] = v


def config_from_weights(backbone: type, arch: str | None, state: Mapping[str, Any]) -> dict:
    """The backbone config (classification layout) that converted weights describe.

    Raises:
        ValueError: `arch` is not a depth, or the block counts are not ResNet-18..152's.
    """
    blocks = tuple(count_blocks(state, r'^layer{i}\.(\d+)\.', i) for i in range(1, 5))
    bottleneck = any(k.endswith('conv3.weight') for k in state)
    depth = arch or DEPTHS.get(blocks)
    if depth == 34 and bottleneck:
        depth = 50
    if depth is None:
        raise ValueError(f'ResNet with {blocks} blocks per stage is not ResNet-18..152')
    if not str(depth).isdigit():
        raise ValueError(f'{backbone.__name__} arch must be a depth (18, 34, 50, 101, 152), '
                         f'got {arch!r}')
    return dict(type=backbone.__name__, depth=int(depth), init_cfg=None)
