"""Key tables between Hugging Face `UperNetForSemanticSegmentation` and upertool (= mmseg 1.x).

Each table lists `(Hugging Face prefix, upertool prefix)` templates (see `key_rules`), written
from the two layouts:

- ConvNeXt (HF `ConvNextBackbone` / mmpretrain `ConvNeXt`): HF's stem is `embeddings.
  {patch_embeddings, layernorm}`, mmpretrain's `downsample_layers.0.{0, 1}`; HF keeps stage i's
  downsampling inside the stage (`encoder.stages.i.downsampling_layer.{0 norm, 1 conv}`, none
  in stage 0); block layer scale is `layer_scale_parameter` vs `gamma`; the per-output norms
  are `hidden_states_norms.stage{i+1}` vs `norm{i}`.
- Swin (HF `SwinBackbone` / mmseg `SwinTransformer`): HF splits q/k/v (merged into a pseudo
  `qkv` key before renaming, see `swin_layout`), and its patch merging uses the original
  neighbour order, so `downsample.{norm, reduction}` are permuted, not only renamed.
- ResNet (HF `ResNetBackbone`, v1.5: 7x7 stem, stride on the 3x3 conv = mmseg `ResNet` with
  style='pytorch'): `embedder.embedder.{convolution, normalization}` is `conv1`/`bn1`, block j
  of stage i is `layer{i+1}.j` with `layer.{0,1,2}` = `conv{1,2,3}`/`bn{1,2,3}` and
  `shortcut` = `downsample.{0,1}`.
- Heads: HF's conv modules name their BatchNorm `batch_norm` (mmcv: `bn`) and the classifier
  `classifier` (mmseg: `conv_seg`); everything else matches mmseg's UPerHead / FCNHead.
"""
from __future__ import annotations

from .key_rules import Rule, with_prefix

_BLOCK = 'encoder.stages.{i}.layers.{j}.'
CONVNEXT: list[Rule] = [
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

_SWIN = 'encoder.layers.{i}.blocks.{j}.'
_MSA = 'stages.{i}.blocks.{j}.attn.w_msa.'
SWIN: list[Rule] = [
    ('embeddings.patch_embeddings.projection.', 'patch_embed.projection.'),
    ('embeddings.norm.', 'patch_embed.norm.'),
    (_SWIN + 'layernorm_before.', 'stages.{i}.blocks.{j}.norm1.'),
    (_SWIN + 'attention.self.qkv.', _MSA + 'qkv.'),
    (_SWIN + 'attention.self.relative_position_bias_table', _MSA + 'relative_position_bias_table'),
    (_SWIN + 'attention.self.relative_position_index', _MSA + 'relative_position_index'),
    (_SWIN + 'attention.output.dense.', _MSA + 'proj.'),
    (_SWIN + 'layernorm_after.', 'stages.{i}.blocks.{j}.norm2.'),
    (_SWIN + 'intermediate.dense.', 'stages.{i}.blocks.{j}.ffn.layers.0.0.'),
    (_SWIN + 'output.dense.', 'stages.{i}.blocks.{j}.ffn.layers.1.'),
    ('encoder.layers.{i}.downsample.reduction.', 'stages.{i}.downsample.reduction.'),
    ('encoder.layers.{i}.downsample.norm.', 'stages.{i}.downsample.norm.'),
    ('hidden_states_norms.stage{i+1}.', 'norm{i}.'),
]

_RES = 'encoder.stages.{i}.layers.{j}.'
_MM = 'layer{i+1}.{j}.'
RESNET: list[Rule] = [
    ('embedder.embedder.convolution.', 'conv1.'),
    ('embedder.embedder.normalization.', 'bn1.'),
    (_RES + 'shortcut.convolution.', _MM + 'downsample.0.'),
    (_RES + 'shortcut.normalization.', _MM + 'downsample.1.'),
    *[(_RES + f'layer.{n}.{hf}.', _MM + f'{mm}{n + 1}.')
      for n in range(3) for hf, mm in (('convolution', 'conv'), ('normalization', 'bn'))],
]

# transformers >= 5 names some modules differently in memory (`save_pretrained` still writes the
# names above); state dicts taken from such a model are renamed to the saved names first.
SWIN_V5_TO_SAVED: list[tuple[str, str]] = [
    (r'^backbone\.swin\.(embeddings|encoder)\.', r'backbone.\1.'),
    (r'\.attention\.q_proj\.', '.attention.self.query.'),
    (r'\.attention\.k_proj\.', '.attention.self.key.'),
    (r'\.attention\.v_proj\.', '.attention.self.value.'),
    (r'\.attention\.o_proj\.', '.attention.output.dense.'),
    (r'\.attention\.relative_position_bias\.relative_position_(bias_table|index)$',
     r'.attention.self.relative_position_\1'),
    (r'\.mlp\.fc1\.', '.intermediate.dense.'),
    (r'\.mlp\.fc2\.', '.output.dense.'),
]
# Present in what transformers 5 saves for a Swin backbone, but unused by it (SwinModel's
# final norm; the backbone normalises each stage with `hidden_states_norms`).
HF_UNUSED = (r'^backbone\.swin\.layernorm\.',)

BACKBONES: dict[str, list[Rule]] = {'convnext': CONVNEXT, 'swin': SWIN, 'resnet': RESNET}
"""HF `backbone_config.model_type` -> its table (keys relative to `backbone.`)."""

_CONV_MODULES = ('bottleneck', 'fpn_bottleneck', 'lateral_convs.{i}', 'fpn_convs.{i}',
                 'psp_modules.{i}.1', 'convs.{i}', 'conv_cat')


def head_rules(head: str) -> list[Rule]:
    """Rules for `decode_head` or `auxiliary_head` (HF UperNetHead / UperNetFCNHead)."""
    rules: list[Rule] = [('classifier.', 'conv_seg.')]
    for module in _CONV_MODULES:
        rules += [(f'{module}.conv.', f'{module}.conv.'),
                  (f'{module}.batch_norm.', f'{module}.bn.')]
    return with_prefix(rules, f'{head}.', f'{head}.')


def upernet_rules(backbone_type: str) -> list[Rule]:
    """The whole-model table for an HF UperNet whose backbone is `backbone_type`."""
    if backbone_type not in BACKBONES:
        raise ValueError(f'No key table for a Hugging Face {backbone_type!r} backbone; '
                         f'supported: {sorted(BACKBONES)}')
    return [*with_prefix(BACKBONES[backbone_type], 'backbone.', 'backbone.'),
            *head_rules('decode_head'), *head_rules('auxiliary_head')]
