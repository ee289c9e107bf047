"""Write a config as readable Python in mmsegmentation's style (`model = dict(type=..., ...)`).

mmengine's `Config.pretty_text` sorts keys and breaks every list over lines; a converted
model's config is read by people, so keys keep their order and short values stay on one line.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from upertool.checkpoint.atomic_io import atomic_open

_WIDTH = 100


def _literal(value: Any, column: int, level: int = 0) -> str:
    """`value` as Python source starting at `column`, nested `level` deep (keys in order)."""
    flat = _flat(value)
    if column + len(flat) <= _WIDTH or not isinstance(value, (dict, list, tuple)):
        return flat
    pad = '    ' * (level + 1)
    if isinstance(value, dict):
        named = all(isinstance(k, str) and k.isidentifier() for k in value)
        keys = {k: f'{k}=' if named else f'{k!r}: ' for k in value}
        items = [pad + keys[k] + _literal(v, len(pad) + len(keys[k]), level + 1)
                 for k, v in value.items()]
        open_, close = ('dict(', ')') if named else ('{', '}')
    else:
        items = [pad + _literal(v, len(pad), level + 1) for v in value]
        open_, close = ('[', ']') if isinstance(value, list) else ('(', ',)')
    return open_ + '\n' + ',\n'.join(items) + close


def _flat(value: Any) -> str:
    if isinstance(value, dict):
        if all(isinstance(k, str) and k.isidentifier() for k in value):
            return 'dict(' + ', '.join(f'{k}={_flat(v)}' for k, v in value.items()) + ')'
        return '{' + ', '.join(f'{k!r}: {_flat(v)}' for k, v in value.items()) + '}'
    if isinstance(value, list):
        return '[' + ', '.join(_flat(v) for v in value) + ']'
    if isinstance(value, tuple):
        inner = ', '.join(_flat(v) for v in value)
        return f'({inner},)' if len(value) == 1 else f'({inner})'
    return repr(value)


def format_config(variables: Mapping[str, Any], header: str = '') -> str:
    """Python source assigning each variable; `header` lines become comments at the top."""
    lines = [f'# {line}'.rstrip() for line in header.splitlines()]
    for name, value in variables.items():
        if not name.isidentifier():
            raise ValueError(f'config variable names must be identifiers, got {name!r}')
        lines.append(f'{name} = {_literal(value, len(name) + 3)}')
    return '\n'.join(lines) + '\n'


def write_config(path: str | os.PathLike, variables: Mapping[str, Any],
                 header: str = '') -> None:
    """Write `format_config(...)` to `path` atomically."""
    with atomic_open(path, 'w') as f:
        f.write(format_config(variables, header))
