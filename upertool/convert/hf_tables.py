"""Key tables between Hugging Face `UperNetForSemanticSegmentation` and upertool (= mmseg 1.x).

Each table lists `(Hugging Face prefix, upertool prefix)` templates (see `key_rules`). The
backbones' tables sit next to each backbone's code (`HF_MODEL_TYPE` / `HF_RULES` in the module
its class names as `WEIGHT_TABLES`: ConvNeXt, Swin, ResNet); Swin's q/k/v split and patch
merging order are handled by `models/backbones/swin_weights.py` as well. The heads' table is
here: HF's conv modules name their BatchNorm `batch_norm` (mmcv: `bn`) and the classifier
`classifier` (mmseg: `conv_seg`); everything else matches mmseg's UPerHead / FCNHead.
"""
from __future__ import annotations

from .backbone_convert import convertible_backbones
from .key_rules import Rule, with_prefix

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


def backbone_tables() -> dict[str, list[Rule]]:
    """HF `backbone_config.model_type` -> its table (keys relative to `backbone.`), as the
    backbones declare them."""
    declared = [cls.WEIGHT_TABLES for cls in convertible_backbones().values()]
    return {t.HF_MODEL_TYPE: t.HF_RULES for t in declared if hasattr(t, 'HF_RULES')}


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
    tables = backbone_tables()
    if backbone_type not in tables:
        raise ValueError(f'No key table for a Hugging Face {backbone_type!r} backbone; '
                         f'supported: {sorted(tables)}')
    return [*with_prefix(tables[backbone_type], 'backbone.', 'backbone.'),
            *head_rules('decode_head'), *head_rules('auxiliary_head')]
