"""Argument checks that several components share, written once so that they agree.

- `to_2tuple`: an int or an (h, w) pair (kernel sizes, strides, crop sizes, image sizes).
- `check_out_indices`: which stages/layers a backbone returns (negative ones count from the
  end, as Python's indices and mmsegmentation's transformer backbones do).
- `resolve_pretrained`: mmsegmentation's deprecated `pretrained=path` turned into `init_cfg`.
- `resolve_stage_strides`: a backbone's `strides` attribute is its output strides; the
  per-stage stride argument is `stage_strides`, and mmsegmentation's name for it, `strides=`,
  is accepted.
- `BINARY_THRESHOLD`: the sigmoid threshold of a binary head (`out_channels=1`) that sets none.

Each error names the argument and says what was expected.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from numbers import Integral

# mmsegmentation's default threshold for `out_channels=1` heads (decode_heads/decode_head.py).
BINARY_THRESHOLD = 0.3


def _is_int(value: object) -> bool:
    """An int (numpy's too), not a bool."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def to_2tuple(value: int | Sequence[int], name: str, minimum: int = 1) -> tuple[int, int]:
    """An int or a 1-/2-sequence of ints >= `minimum` as (h, w).

    Args:
        value: the argument as given.
        name: its name, for the error message.
        minimum: smallest allowed value (0 for paddings).

    Raises:
        ValueError: anything else, naming `name`.
    """
    pair = value
    if _is_int(value):
        pair = (value, value)
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 1:
        pair = (value[0], value[0])
    if (isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2
            or not all(_is_int(v) and v >= minimum for v in pair)):
        single = 'a positive int' if minimum == 1 else f'an int >= {minimum}'
        raise ValueError(f'{name} must be {single} or a pair of ints (h, w), each >= '
                         f'{minimum}, got {value!r}')
    return int(pair[0]), int(pair[1])


def check_out_indices(out_indices: int | Sequence[int], num: int, what: str) -> tuple[int, ...]:
    """An index or indices of `num` stages/layers (negative ones count from the end), as a
    sorted tuple: features come out in network order whatever order is given, as in mmseg.

    Raises:
        ValueError: empty, out of range, not ints, or naming one stage twice.
    """
    if _is_int(out_indices):
        out_indices = [out_indices]
    if isinstance(out_indices, str) or not isinstance(out_indices, Sequence) or not out_indices:
        raise ValueError(f'out_indices must be an int or a non-empty sequence of {what} '
                         f'indices, got {out_indices!r}')
    if any(not _is_int(i) or not -num <= i < num for i in out_indices):
        raise ValueError(f'out_indices must hold {what} indices in 0..{num - 1} (or '
                         f'{-num}..{num - 1} counting from the end; {num} {what}s), got '
                         f'{list(out_indices)}')
    resolved = [int(i) % num for i in out_indices]
    if len(set(resolved)) != len(resolved):
        raise ValueError(f'out_indices has duplicates: out_indices name a {what} twice, got '
                         f'{list(out_indices)}')
    return tuple(sorted(resolved))


def resolve_pretrained(cls_name: str, pretrained: str | None,
                       init_cfg: dict | list | None) -> dict | list | None:
    """mmseg's deprecated `pretrained=path`, turned into `init_cfg`; both at once is an error.

    Raises:
        TypeError: `pretrained` is not a str.
        ValueError: both `pretrained` and `init_cfg` are given.
    """
    if pretrained is None:
        return init_cfg
    if not isinstance(pretrained, str):
        raise TypeError(f'{cls_name}: pretrained must be a str path or None, got {pretrained!r}')
    if init_cfg:
        raise ValueError(f'{cls_name}: give either pretrained or init_cfg, not both '
                         f'(pretrained={pretrained!r}, init_cfg={init_cfg!r})')
    warnings.warn(f"{cls_name}: `pretrained` is deprecated, use init_cfg=dict(type='Pretrained', "
                  'checkpoint=...)', DeprecationWarning, stacklevel=3)
    return dict(type='Pretrained', checkpoint=pretrained)


def resolve_stage_strides(cls_name: str, stage_strides: Sequence[int],
                          strides: Sequence[int] | None,
                          default: Sequence[int]) -> Sequence[int]:
    """The per-stage strides, given as `stage_strides` (whose signature default is `default`)
    or as mmsegmentation's `strides`.

    Raises:
        ValueError: both are given (`stage_strides` other than its default, and `strides`).
    """
    if strides is None:
        return stage_strides
    if tuple(stage_strides) != tuple(default):
        raise ValueError(f'{cls_name}: give the per-stage strides once, as stage_strides '
                         f'(or mmsegmentation\'s name strides), not both (stage_strides='
                         f'{stage_strides!r}, strides={strides!r})')
    return strides
