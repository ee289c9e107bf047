"""Renaming state-dict keys with two-way templates, and the report every converter returns.

A rule pairs two key prefixes written as templates, e.g.
`('encoder.stages.{i}.layers.{j}.dwconv.', 'stages.{i}.{j}.depthwise_conv.')`: `{name}` matches
a number, `{name+1}` / `{name-1}` on one side shifts it (HF's `stage{i+1}` is mmseg's `norm{i}`);
whatever follows the prefix (`weight`, `bias`, ...) is kept. A rule without a trailing dot
matches the whole key; the empty rule `('', '')` passes every key through unchanged. The
same table converts both ways (`reverse=True`).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

_FIELD = re.compile(r'\{(\w+)([+-]\d+)?\}')

Rule = tuple[str, str]


class ConversionError(ValueError):
    """A checkpoint could not be converted completely (see `ConversionReport.summary`)."""


@dataclass
class ConversionReport:
    """What a conversion did not manage; empty lists mean a complete, exact conversion.

    Attributes:
        unmapped: Source keys that no rule converts (not written).
        missing: Keys the target model has that the converted weights lack.
        unexpected: Converted keys the target model does not have.
        mismatched: (key, converted shape, target shape) for keys whose shapes disagree.
        dropped: Source keys left out on purpose (classifier heads, derived buffers), for the log.
    """

    unmapped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not (self.unmapped or self.missing or self.unexpected or self.mismatched)

    def summary(self, limit: int = 10) -> str:
        """One line per kind of problem, each listing up to `limit` keys."""
        lines = []
        for what, keys in (('source keys no rule maps', self.unmapped),
                           ('target keys missing from the converted weights', self.missing),
                           ('converted keys the target model does not have', self.unexpected)):
            if keys:
                shown = ', '.join(keys[:limit]) + (' ...' if len(keys) > limit else '')
                lines.append(f'{len(keys)} {what}: {shown}')
        if self.mismatched:
            shown = ', '.join(f'{k} {tuple(a)} vs {tuple(b)}'
                              for k, a, b in self.mismatched[:limit])
            lines.append(f'{len(self.mismatched)} shapes that disagree (converted vs target): '
                         f'{shown}' + (' ...' if len(self.mismatched) > limit else ''))
        return '\n'.join(lines) if lines else 'complete: every key mapped, shapes agree'


def _compile(template: str) -> tuple[re.Pattern[str], list[tuple[str, int]]]:
    """A template's regex (groups named after its fields) and its (field, offset) list."""
    pattern, fields, pos = '', [], 0
    for m in _FIELD.finditer(template):
        pattern += re.escape(template[pos:m.start()])
        name, offset = m.group(1), int(m.group(2) or 0)
        pattern += f'(?P<{name}>\\d+)' if name not in {f for f, _ in fields} else f'(?P={name})'
        fields.append((name, offset))
        pos = m.end()
    pattern += re.escape(template[pos:])
    tail = '(?P<_tail>.*)' if template == '' or template.endswith('.') else ''
    return re.compile(f'^{pattern}{tail}$'), fields


def _fill(template: str, values: Mapping[str, int], src_offsets: Mapping[str, int]) -> str:
    def sub(m: re.Match[str]) -> str:
        name, offset = m.group(1), int(m.group(2) or 0)
        return str(values[name] - src_offsets.get(name, 0) + offset)
    return _FIELD.sub(sub, template)


class KeyMapper:
    """Applies a table of `(source, target)` prefix templates (first match wins).

    Args:
        rules: The table, written in the direction source -> target.
        reverse: Apply it target -> source.
    """

    def __init__(self, rules: Sequence[Rule], reverse: bool = False) -> None:
        self.rules = []
        for src, dst in rules:
            src, dst = (dst, src) if reverse else (src, dst)
            regex, fields = _compile(src)
            self.rules.append((regex, dict(fields), dst))

    def map_key(self, key: str) -> str | None:
        """The converted key, or None when no rule matches."""
        for regex, offsets, dst in self.rules:
            m = regex.match(key)
            if m:
                values = {k: int(v) for k, v in m.groupdict().items() if k != '_tail'}
                return _fill(dst, values, offsets) + (m.groupdict().get('_tail') or '')
        return None

    def apply(self, state: Mapping[str, torch.Tensor]
              ) -> tuple[dict[str, torch.Tensor], list[str]]:
        """Rename every key; returns (renamed state, keys no rule matched)."""
        out: dict[str, torch.Tensor] = {}
        unmapped = []
        for key, value in state.items():
            new = self.map_key(key)
            if new is None:
                unmapped.append(key)
            elif new in out:
                raise ConversionError(f'two source keys map to {new!r} (second: {key!r})')
            else:
                out[new] = value
        return out, unmapped


def with_prefix(rules: Iterable[Rule], src_prefix: str, dst_prefix: str) -> list[Rule]:
    """The same rules under a module prefix on each side (e.g. 'backbone.')."""
    return [(src_prefix + s, dst_prefix + d) for s, d in rules]


def build_target(cfg: dict) -> torch.nn.Module:
    """Build a upertool model (random weights, no pretrained loading) to check weights against.

    Built under the 'upertool' default scope: a Runner elsewhere in the process may have set
    mmengine's, in which upertool's type names do not resolve.
    """
    import copy
    import warnings

    from mmengine.registry import DefaultScope

    from upertool.registry import MODELS
    cfg = copy.deepcopy(cfg)
    cfg.pop('pretrained', None)
    if isinstance(cfg.get('backbone'), dict):
        cfg['backbone']['init_cfg'] = None
    with DefaultScope.overwrite_default_scope('upertool'), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # e.g. ConvNeXt's classification-layout warning
        return MODELS.build(cfg)


def compare_with_model(state: Mapping[str, torch.Tensor],
                       target: Mapping[str, torch.Tensor], report: ConversionReport,
                       derived: Sequence[str] = ('relative_position_index',)) -> None:
    """Fill `report.missing/unexpected/mismatched` from the target model's own state dict.

    Keys ending with one of `derived` (buffers a model computes from its arguments) are not
    required from the checkpoint.
    """
    for key in target:
        if key not in state and not key.endswith(tuple(derived)):
            report.missing.append(key)
    for key, value in state.items():
        if key not in target:
            report.unexpected.append(key)
        elif tuple(value.shape) != tuple(target[key].shape):
            report.mismatched.append((key, tuple(value.shape), tuple(target[key].shape)))


def drop_keys(state: dict[str, torch.Tensor], patterns: Sequence[str],
              report: ConversionReport) -> None:
    """Remove keys matching any regex in `patterns` (searched), noting them as dropped."""
    if not patterns:
        return
    regex = re.compile('|'.join(f'(?:{p})' for p in patterns))
    for key in [k for k in state if regex.search(k)]:
        del state[key]
        report.dropped.append(key)
