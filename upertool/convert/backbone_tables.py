"""Key tables from classification checkpoints (timm, torchvision, mmpretrain) to upertool
backbones (mmsegmentation / mmpretrain layouts), written from each library's module names.

Templates as in `key_rules`; `{i}`/`{j}` are stage and block numbers. Keys a table leaves out
on purpose (classifier heads, derived buffers) are listed in `DROP`.
"""
from __future__ import annotations

from .key_rules import Rule

# --- ResNet -----------------------------------------------------------------------------------
# timm and torchvision name the 7x7 stem and the stages as mmseg does (`conv1`, `bn1`,
# `layer{n}.{j}.conv1..3/bn1..3/downsample.*`); timm's deep stem ('c'/'d' variants) is
# `conv1.{0,1,3,4,6}` + `bn1`, mmseg's `stem.{0,1,3,4,6,7}`.
RESNET_SHARED: list[Rule] = [('layer{n}.', 'layer{n}.')]
RESNET_7X7: list[Rule] = [('conv1.', 'conv1.'), ('bn1.', 'bn1.'), *RESNET_SHARED]
TIMM_RESNET_DEEP: list[Rule] = [
    *[(f'conv1.{k}.', f'stem.{k}.') for k in (0, 1, 3, 4, 6)],
    ('bn1.', 'stem.7.'), *RESNET_SHARED]
# mmpretrain's deep stem is three ConvModules: `stem.{0,1,2}.{conv,bn}`.
MMPRETRAIN_RESNET_DEEP: list[Rule] = [
    *[(f'stem.{k}.{part}.', f'stem.{3 * k + off}.')
      for k in range(3) for part, off in (('conv', 0), ('bn', 1))], *RESNET_SHARED]

# --- ConvNeXt ---------------------------------------------------------------------------------
_T = 'stages.{i}.blocks.{j}.'
TIMM_CONVNEXT: list[Rule] = [
    ('stem.0.', 'downsample_layers.0.0.'), ('stem.1.', 'downsample_layers.0.1.'),
    ('stages.{i}.downsample.0.', 'downsample_layers.{i}.0.'),
    ('stages.{i}.downsample.1.', 'downsample_layers.{i}.1.'),
    (_T + 'conv_dw.', 'stages.{i}.{j}.depthwise_conv.'), (_T + 'norm.', 'stages.{i}.{j}.norm.'),
    (_T + 'mlp.fc1.', 'stages.{i}.{j}.pointwise_conv1.'),
    (_T + 'mlp.fc2.', 'stages.{i}.{j}.pointwise_conv2.'),
    (_T + 'gamma', 'stages.{i}.{j}.gamma'),
    ('head.norm.', 'norm3.'),
]


def torchvision_convnext(num_stages: int = 4) -> list[Rule]:
    """torchvision `features` alternates stem/downsample (even) and stages (odd indices);
    a block is `block.{0 dwconv, 2 LayerNorm, 3 Linear, 5 Linear}` + `layer_scale`."""
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


# --- Swin ----------------------------------------------------------------------------------------
def _swin_block(src: str, dst: str, mlp: tuple[str, str]) -> list[Rule]:
    return [(src + 'norm1.', dst + 'norm1.'), (src + 'attn.qkv.', dst + 'attn.w_msa.qkv.'),
            (src + 'attn.proj.', dst + 'attn.w_msa.proj.'),
            (src + 'attn.relative_position_bias_table',
             dst + 'attn.w_msa.relative_position_bias_table'),
            (src + 'norm2.', dst + 'norm2.'), (src + mlp[0], dst + 'ffn.layers.0.0.'),
            (src + mlp[1], dst + 'ffn.layers.1.')]


def timm_swin(merge_at_stage_start: bool, num_stages: int = 4) -> list[Rule]:
    """timm >= 0.9 puts patch merging at the start of the next stage (`layers.{i+1}.
    downsample`); older timm at the end of the stage (`layers.{i}.downsample`), as mmseg."""
    src = 'layers.{i+1}.downsample.' if merge_at_stage_start else 'layers.{i}.downsample.'
    return [('patch_embed.proj.', 'patch_embed.projection.'),
            ('patch_embed.norm.', 'patch_embed.norm.'),
            *_swin_block('layers.{i}.blocks.{j}.', 'stages.{i}.blocks.{j}.',
                         ('mlp.fc1.', 'mlp.fc2.')),
            (src + 'reduction.', 'stages.{i}.downsample.reduction.'),
            (src + 'norm.', 'stages.{i}.downsample.norm.'),
            ('norm.', f'norm{num_stages - 1}.')]


def torchvision_swin(num_stages: int = 4) -> list[Rule]:
    """torchvision: `features.0` = (conv, permute, LayerNorm), stages at odd indices, patch
    merging (`reduction`, `norm`) at even ones, final `norm`; MLP is `mlp.{0, 3}`."""
    rules: list[Rule] = [('features.0.0.', 'patch_embed.projection.'),
                         ('features.0.2.', 'patch_embed.norm.'),
                         ('norm.', f'norm{num_stages - 1}.')]
    for k in range(num_stages):
        rules += _swin_block(f'features.{2 * k + 1}.{{j}}.', f'stages.{k}.blocks.{{j}}.',
                             ('mlp.0.', 'mlp.3.'))
        if k < num_stages - 1:
            rules += [(f'features.{2 * k + 2}.reduction.', f'stages.{k}.downsample.reduction.'),
                      (f'features.{2 * k + 2}.norm.', f'stages.{k}.downsample.norm.')]
    return rules


# mmpretrain's ConvNeXt and Swin backbones already use the target keys; Swin files older than
# its `_version` 2 name the final norm `norm.` (mmpretrain maps it to the last stage's norm).
MMPRETRAIN_SAME: list[Rule] = [('norm.', 'norm3.'), ('', '')]

DROP: dict[str, tuple[str, ...]] = {
    'timm': (r'^fc\.', r'^head\.fc\.', r'^head\.(weight|bias)$', r'relative_position_index$',
             r'attn_mask$'),
    'torchvision': (r'^fc\.', r'^classifier\.2\.', r'^head\.', r'relative_position_index$'),
    'mmpretrain': (r'^head\.', r'^neck\.', r'^data_preprocessor\.', r'relative_position_index$',
                   r'attn_mask$'),
}
