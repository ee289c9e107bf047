"""What the backbones' weight-table modules (`*_weights.py`) share.

A rule pairs two key-prefix templates, `(source, upertool)`, e.g.
`('stages.{i}.blocks.{j}.conv_dw.', 'stages.{i}.{j}.depthwise_conv.')`; `upertool.convert`
applies them (`convert/key_rules.py`). The tables are plain data so that they can sit next to
each model's code without models/ importing the converters.
"""
from __future__ import annotations

import re
from collections.abc import Collection

Rule = tuple[str, str]


def count_blocks(keys: Collection[str], pattern: str, stage: int) -> int:
    """How many blocks of `stage` the keys hold (`pattern`'s group 1 is the block index)."""
    regex = re.compile(pattern.format(i=stage))
    return len({m.group(1) for k in keys if (m := regex.match(k))})
