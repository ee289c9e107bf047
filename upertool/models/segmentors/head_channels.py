"""Fill in or check a head config's `in_channels` from the features the backbone (or neck) makes.

Channel counts are then written once, by the backbone, instead of in every config; configs that
do state them (all of mmsegmentation's) are checked, so a wrong count fails at build time with
a message naming both sides instead of as a shape error inside a convolution.

Heads written the mmsegmentation way also build: one whose `__init__` fixes `in_channels` itself
(passing it to `BaseDecodeHead`) or gives it a default is built as it is when the backbone does
not report channels, and checked against them after building when it does. Necks get their
`in_channels` (every backbone level) filled in and checked the same way.
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


def _in_channels_param(head_type: Any) -> inspect.Parameter | None | bool:
    """The head class's own `in_channels` parameter; None if its `__init__` has none (it fixes
    the value itself or passes `**kwargs` on); False if the class cannot be inspected."""
    cls = MODELS.get(head_type) if isinstance(head_type, str) else head_type
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False
    return params.get('in_channels')


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

    A config without `in_channels` is left as it is when the channels are unknown and the head
    class does not require the argument (it fixes or defaults it itself); `build_head` then
    checks what the head chose.

    Args:
        head_cfg: the head's MODELS config (not changed).
        channels: the feature channels from `feature_channels`, or None if unknown.
        source: the type name of the module that makes the features, for messages.
        head_name: 'decode_head', 'auxiliary_head' or 'auxiliary_head[i]', for messages.

    Raises:
        ValueError: the stated `in_channels` disagree with the features, or they are not
            stated, the head requires them and the backbone/neck does not report them.
    """
    cfg = copy.deepcopy(head_cfg)
    head_type = cfg.get('type', '?')
    in_index = cfg['in_index'] if 'in_index' in cfg else default_in_index(head_type)
    stated = cfg.get('in_channels', None)
    param = _in_channels_param(head_type)
    head_type = getattr(head_type, '__name__', head_type)
    if channels is None:
        required = (isinstance(param, inspect.Parameter)
                    and param.default is inspect.Parameter.empty)
        if stated is None and required:
            raise ValueError(f'{head_name} ({head_type}) has no in_channels and {source} does not '
                             'report out_channels to infer them from; state in_channels in the '
                             'head config')
        return cfg
    expected = _select(channels, in_index, f'{head_name} ({head_type})', source)
    if stated is None:
        cfg['in_channels'] = expected
    elif _normalise(stated) != _normalise(expected):
        raise _mismatch(head_name, head_type, stated, in_index, channels, source, expected)
    return cfg


def _mismatch(head_name: str, head_type: str, stated: Any, in_index: Any, channels: Channels,
              source: str, expected: Any) -> ValueError:
    shown = list(channels) if isinstance(channels, tuple) else channels
    return ValueError(f'{head_name} ({head_type}) states in_channels={_normalise(stated)} with '
                      f'in_index={in_index!r}, but {source} gives out_channels={shown}, so '
                      f'those levels have {expected} channels; fix in_channels or in_index '
                      '(or leave in_channels out to infer it)')


def build_head(head_cfg: dict | nn.Module, channels: Channels | None, source: str,
               head_name: str) -> nn.Module:
    """Build a head inside a segmentor with `in_channels` filled in or checked.

    A head whose `__init__` passes a fixed `in_channels` to its base (so it takes no such
    argument, only `**kwargs`) raises a TypeError when given one; it is then built from its
    config as written. A head that chose its own `in_channels` is checked against `channels`
    after building.
    """
    if isinstance(head_cfg, nn.Module):
        return head_cfg
    cfg = resolve_head_in_channels(head_cfg, channels, source, head_name)
    filled = 'in_channels' not in head_cfg and 'in_channels' in cfg
    try:
        head = MODELS.build(cfg)
    except TypeError as err:
        refused = ("multiple values for keyword argument 'in_channels'",
                   "unexpected keyword argument 'in_channels'")
        if not (filled and any(text in str(err) for text in refused)):
            raise
        head = MODELS.build(copy.deepcopy(head_cfg))
        filled = False
    if channels is not None and not filled and 'in_channels' not in head_cfg:
        _check_built(head, channels, source, head_name)
    return head


def _check_built(head: nn.Module, channels: Channels, source: str, head_name: str) -> None:
    """A head that set its own in_channels must agree with the features it will receive."""
    in_index = getattr(head, 'in_index', None)
    own = getattr(head, '_level_channels', getattr(head, 'in_channels', None))
    if own is None or (in_index is None and isinstance(channels, int)):
        return
    expected = _select(channels, in_index, f'{head_name} ({type(head).__name__})', source)
    if isinstance(expected, int) and isinstance(own, list) and len(own) == 1:
        own = own[0]
    if _normalise(own) != _normalise(expected):
        raise _mismatch(head_name, type(head).__name__, own, in_index, channels, source,
                        expected)


def resolve_neck_in_channels(neck_cfg: dict | nn.Module, channels: Channels | None,
                             source: str) -> dict | nn.Module:
    """A copy of a neck config with `in_channels` (one count per backbone level) filled in from
    the backbone when the config leaves it out, or checked when it states one per level.

    A stated list of another length is left alone (the neck may take some levels only).

    Raises:
        ValueError: the stated counts disagree with the backbone's, naming both.
    """
    if isinstance(neck_cfg, nn.Module) or not isinstance(channels, tuple):
        return neck_cfg
    cfg = copy.deepcopy(neck_cfg)
    neck_type = cfg.get('type', '?')
    stated = cfg.get('in_channels', None)
    if stated is None:
        if isinstance(_in_channels_param(neck_type), inspect.Parameter):
            cfg['in_channels'] = list(channels)
        return cfg
    stated_list = _normalise(stated)
    if isinstance(stated_list, list) and len(stated_list) == len(channels) \
            and stated_list != list(channels):
        neck_type = getattr(neck_type, '__name__', neck_type)
        raise ValueError(f'neck ({neck_type}) states in_channels={stated_list}, but {source} '
                         f'gives out_channels={list(channels)}; fix in_channels (or leave it '
                         'out to infer it)')
    return cfg
