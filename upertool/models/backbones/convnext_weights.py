"""ConvNeXt's weight layouts in other libraries: key tables and what a checkpoint says of its arch.

Read by the converters (`upertool.convert`) through `ConvNeXt.WEIGHT_TABLES`; nothing here runs
when a model trains or predicts. Tables pair `(source prefix, upertool prefix)` templates
(`{i}`, `{j}`: stage and block numbers; `{i+1}` shifts, see `convert/key_rules.py`).

- timm: `stem.{0,1}`, `stages.{i}.downsample.{0,1}`, blocks `conv_dw`/`norm`/`mlp.fc1,fc2`/
  `gamma`, the classifier's norm `head.norm`.
- torchvision: `features` alternates stem/downsample (even) and stages (odd indices); a block
  is `block.{0 dwconv, 2 LayerNorm, 3 Linear, 5 Linear}` + `layer_scale` (C, 1, 1).
- mmpretrain: upertool's keys already (its final norm is `norm.` in old files).
- Hugging Face `ConvNextBackbone`: stem `embeddings.{patch_embeddings, layernorm}`; stage i's
  downsampling inside the stage (`encoder.stages.i.downsampling_layer.{0 norm, 1 conv}`, none
  in stage 0); layer scale `layer_scale_parameter`; output norms
  `hidden_states_norms.stage{i+1}` = `norm{i}`.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from .weight_keys import Rule, count_blocks

_T = 'stages.{i}.blocks.{j}.'
TIMM: list[Rule] = [
    ('stem.0.', 'downsample_layers.0.0.'), ('stem.1.', 'downsample_layers.0.1.'),
    ('stages.{i}.downsample.0.', 'downsample_layers.{i}.0.'),
    ('stages.{i}.downsample.1.', 'downsample_layers.{i}.1.'),
    (_T + 'conv_dw.', 'stages.{i}.{j}.depthwise_conv.'), (_T + 'norm.', 'stages.{i}.{j}.norm.'),
    (_T + 'mlp.fc1.', 'stages.{i}.{j}.pointwise_conv1.'),
    (_T + 'mlp.fc2.', 'stages.{i}.{j}.pointwise_conv2.'),
    (_T + 'gamma', 'stages.{i}.{j}.gamma'),
    ('head.norm.', 'norm3.'),
]
MMPRETRAIN: list[Rule] = [('norm.', 'norm3.'), ('', '')]

_BLOCK = 'encoder.stages.{i}.layers.{j}.'
HF_MODEL_TYPE = 'convnext'
HF_RULES: list[Rule] = [
    ('embeddings.patch_embeddings.', 'downsample_layers.0.0.'),
    ('embeddings.layernorm.', 'downsample_layers.0.1.'),
    ('encoder.stages.{i}.downsampling_layer.0.', 'downsample_layers.{i}.0.'),
    ('encoder.stages.{i}.downsampling_layer.1.', 'downsample_layers.{i}.1.'),
    (_BLOCK + 'dwconv.', 'stages.{i}.{j}.depthwise_conv.'),
    (_BLOCK + 'layernorm.', 'stages.{i}.{j}.norm.'),
    (_BLOCK + 'pwconv1.', 'stages.{i}.{j}.pointwise_conv1.'),
    (_BLOCK + 'pwconv2.', 'stages.{i}.{j}.pointwise_conv2.'),
    (_BLOCK + 'layer_scale_parameter', 'stages.{i}.{j}.gamma'),
    ('hidden_states_norms.stage{i+1}.', 'norm{i}.'),
]


def torchvision_rules(num_stages: int = 4) -> list[Rule]:
    """torchvision's `features.{2k}` (stem/downsample) and `features.{2k+1}` (stage k)."""
    rules: list[Rule] = [('features.0.0.', 'downsample_layers.0.0.'),
                         ('features.0.1.', 'downsample_layers.0.1.'),
                         ('classifier.0.', f'norm{num_stages - 1}.')]
    for k in range(num_stages):
        if k:
            rules += [(f'features.{2 * k}.0.', f'downsample_layers.{k}.0.'),
                      (f'features.{2 * k}.1.', f'downsample_layers.{k}.1.')]
        block = f'features.{2 * k + 1}.{{j}}.'
        rules += [(block + 'block.0.', f'stages.{k}.{{j}}.depthwise_conv.'),
                  (block + 'block.2.', f'stages.{k}.{{j}}.norm.'),
                  (block + 'block.3.', f'stages.{k}.{{j}}.pointwise_conv1.'),
                  (block + 'block.5.', f'stages.{k}.{{j}}.pointwise_conv2.'),
                  (block + 'layer_scale', f'stages.{k}.{{j}}.gamma')]
    return rules


def classification_rules(source: str, kind: str, keys: Collection[str]) -> list[Rule]:
    """The table for a timm/torchvision/mmpretrain checkpoint with `keys`."""
    if source == 'mmpretrain':
        return MMPRETRAIN
    return TIMM if source == 'timm' else torchvision_rules()


def fix_layout(source: str, kind: str, state: dict[str, Any]) -> None:
    """In place: torchvision's layer scale (C, 1, 1) and timm's 1x1-conv MLPs (conv_mlp
    models) become upertool's (C,) and Linear weights."""
    for key in [k for k in state if k.endswith('.gamma') and state[k].dim() == 3]:
        state[key] = state[key].flatten()
    for key in [k for k in state if '.pointwise_conv' in k and k.endswith('.weight')
                and state[k].dim() == 4 and state[k].shape[2:] == (1, 1)]:
        state[key] = state[key].flatten(1)


def config_from_weights(backbone: type, arch: str | None, state: Mapping[str, Any]) -> dict:
    """The ConvNeXt config (classification layout: the last stage's norm only) of the weights.

    Args:
        backbone: the class (ConvNeXt), whose `arch_settings` name the archs.
        arch: a named arch the weights must be, or None.
        state: the renamed weights.

    Raises:
        ValueError: a named `arch` that disagrees with the weights.
        KeyError: the weights lack a ConvNeXt key.
    """
    stages = range(len({k.split('.')[1] for k in state if k.startswith('stages.')}))
    depths = [count_blocks(state, r'^stages\.{i}\.(\d+)\.', i) for i in stages]
    channels = [state[f'stages.{i}.0.depthwise_conv.weight'].shape[0] for i in stages]
    named = backbone.arch_settings.get(arch) if arch else None
    if arch and named != dict(depths=depths, channels=channels):
        raise ValueError(f'the checkpoint is a ConvNeXt with depths {depths} and '
                         f'channels {channels}, not {arch!r} ({named})')
    return dict(type=backbone.__name__, arch=dict(depths=depths, channels=channels),
                out_indices=(len(depths) - 1,), gap_before_final_norm=False,
                layer_scale_init_value=1e-6 if 'stages.0.0.gamma' in state else 0.0,
                init_cfg=None)
