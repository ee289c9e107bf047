"""Fill in or check a head config's `in_channels` from the features the backbone (or neck) makes.

Channel counts are then written once, by the backbone, instead of in every config; configs that
do state them (all of mmsegmentation's) are checked, so a wrong count fails at build time with
a message naming both sides instead of as a shape error inside a convolution.
"""
from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from typing import Any

from torch import nn

from upertool.registry import MODELS

# A channel spec: one count per feature level, or one int that holds for every level (the
# convention of FPN-like necks, whose `out_channels` is a single int).
Channels = tuple[int, ...] | int


def feature_channels(backbone: nn.Module, neck: nn.Module | None) -> tuple[Channels | None, str]:
    """What the heads receive: `neck.out_channels` with a neck, else `backbone.out_channels`.

    Returns:
        (channels or None when the module does not report them, 'Type' of that module).
    """
    source = neck if neck is not None else backbone
    channels = getattr(source, 'out_channels', None)
    if isinstance(channels, Sequence) and not isinstance(channels, str):
        channels = tuple(int(c) for c in channels)
    elif channels is not None and not isinstance(channels, int):
        channels = None
    return channels, type(source).__name__


def default_in_index(head_type: Any) -> Any:
    """The `in_index` a head uses when its config omits it: its class's own default.

    BaseDecodeHead's is -1 (the last level); a head may declare another (UPerHead: None,
    meaning every level). Heads that only forward `in_index` to their base get -1.
    """
    cls = MODELS.get(head_type) if isinstance(head_type, str) else head_type
    try:
        param = inspect.signature(cls).parameters.get('in_index')
    except (TypeError, ValueError):  # not a class we can inspect: assume the base default
        param = None
    if param is None or param.default is inspect.Parameter.empty:
        return -1
    return param.default


def _select(channels: Channels, in_index: Any, head_name: str, source: str) -> int | list[int]:
    """The channels a head with `in_index` receives (an int index picks one level, None all)."""
    if in_index is None:
        if isinstance(channels, int):
            raise ValueError(f'{head_name}: in_index selects every level, but {source} gives one '
                             f'channel count ({channels}) without the number of levels; state '
                             'in_index or in_channels in the head config')
        return list(channels)
    indices = [in_index] if isinstance(in_index, int) else list(in_index)
    picked = []
    for idx in indices:
        if not isinstance(idx, int):
            raise ValueError(f'{head_name}: in_index must be an int or a list of ints, '
                             f'got {in_index!r}')
        if isinstance(channels, int):
            picked.append(channels)
            continue
        if not -len(channels) <= idx < len(channels):
            raise ValueError(f'{head_name}: in_index={in_index!r} is out of range for the '
                             f'{len(channels)} feature levels of {source} '
                             f'(out_channels={list(channels)})')
        picked.append(channels[idx])
    return picked[0] if isinstance(in_index, int) else picked


def _normalise(value: Any) -> Any:
    """Lists and tuples compare equal when they hold the same counts."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [int(v) for v in value]
    return value


def resolve_head_in_channels(head_cfg: dict, channels: Channels | None, source: str,
                             head_name: str) -> dict:
    """A copy of `head_cfg` whose `in_channels` is filled in, or checked, from `channels`.

    Args:
        head_cfg: the head's MODELS config (not changed).
        channels: the feature channels from `feature_channels`, or None if unknown.
        source: the type name of the module that makes the features, for messages.
        head_name: 'decode_head', 'auxiliary_head' or 'auxiliary_head[i]', for messages.

    Raises:
        ValueError: the stated `in_channels` disagree with the features, or they are not
            stated and the backbone/neck does not report `out_channels`.
    """
    cfg = copy.deepcopy(head_cfg)
    head_type = cfg.get('type', '?')
    in_index = cfg['in_index'] if 'in_index' in cfg else default_in_index(head_type)
    stated = cfg.get('in_channels', None)
    head_type = getattr(head_type, '__name__', head_type)
    if channels is None:
        if stated is None:
            raise ValueError(f'{head_name} ({head_type}) has no in_channels and {source} does not '
                             'report out_channels to infer them from; state in_channels in the '
                             'head config')
        return cfg
    expected = _select(channels, in_index, f'{head_name} ({head_type})', source)
    if stated is None:
        cfg['in_channels'] = expected
    elif _normalise(stated) != _normalise(expected):
        shown = list(channels) if isinstance(channels, tuple) else channels
        raise ValueError(f'{head_name} ({head_type}) states in_channels={_normalise(stated)} with '
                         f'in_index={in_index!r}, but {source} gives out_channels={shown}, so '
                         f'those levels have {expected} channels; fix in_channels or in_index '
                         '(or leave in_channels out to infer it)')
    return cfg
