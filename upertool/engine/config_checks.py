"""Config mistakes caught at start-up, each with one message, instead of late crashes.

- `--cfg-options` entries: `key` without `=`, a value that does not parse, and keys that do
  not exist in the config (`default_hooks.checkpoint.intervl=2`) stop with the closest existing
  key. A new key is added on purpose with a leading `+`: `+model.backbone.new_arg=1`.
- A config file (or one of its `_base_` files) with a syntax error names the file and line.
- `train_cfg.max_iters` / `max_epochs` <= 0, a dataloader `batch_size` <= 0 and a
  `default_scope` that is no registered scope (`uppertool`) are refused before anything is built.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import inspect
import os.path as osp
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from mmengine.config import Config, DictAction

ADD_PREFIX = '+'
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


class ConfigError(ValueError):
    """A config or a `--cfg-options` entry is wrong; the message says which and how."""


class CheckedDictAction(DictAction):
    """mmengine's DictAction, with errors that name the offending `--cfg-options` entry."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Sequence[str] | str | None,
        option_string: str | None = None,
    ) -> None:
        values = [values] if isinstance(values, str) else list(values or [])
        for item in values:
            key, sep, value = item.partition('=')
            if not sep or not key:
                parser.error(
                    f'{option_string} {item!r}: expected KEY=VALUE (e.g. '
                    f'train_cfg.max_iters=100), got no "=" or an empty key'
                )
            if any(value.count(a) != value.count(b) for a, b in ('[]', '()', '{}')):
                parser.error(
                    f'{option_string} {key}: cannot parse value {value!r}: unbalanced brackets'
                )
            try:
                super().__call__(parser, namespace, [item], option_string)
            except (AssertionError, ValueError) as err:
                parser.error(f'{option_string} {key}: cannot parse value {value!r}: {err}')


def _config_keys(node: Any, prefix: str = '') -> Iterator[str]:
    """Every dotted key of a config (list items by index)."""
    if isinstance(node, Mapping):
        items: Any = node.items()
    elif isinstance(node, (list, tuple)):
        items = enumerate(node)
    else:
        return
    for key, value in items:
        path = f'{prefix}{key}'
        yield path
        yield from _config_keys(value, path + '.')


_MISSING = object()


def _lookup(cfg: Any, key: str) -> Any:
    """The value at a dotted `key` (list items by index), or `_MISSING`."""
    node = cfg
    for part in key.split('.') if key else []:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _exists(cfg: Any, key: str) -> bool:
    return _lookup(cfg, key) is not _MISSING


def _parent_is_open(cfg: Any, key: str) -> bool:
    """Keys inside a dict the config leaves empty (`train_cfg=dict()`) may be added freely."""
    parent, _, _ = key.rpartition('.')
    node = cfg
    for part in parent.split('.') if parent else []:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return isinstance(node, Mapping) and len(node) == 0 and bool(parent)


def _class_of(type_name: Any) -> type | None:
    """The class a config `type` names, from upertool's registries (then mmengine's)."""
    if isinstance(type_name, type):
        return type_name
    if not isinstance(type_name, str):
        return None
    from mmengine.registry import Registry

    import upertool.registry as registries

    for registry in vars(registries).values():
        if isinstance(registry, Registry):
            try:
                found = registry.get(type_name)
            except Exception:  # a plugin that fails to import is reported elsewhere
                found = None
            if isinstance(found, type):
                return found
    return None


def constructor_arguments(cls: type) -> set[str] | None:
    """Keyword arguments `cls(...)` takes, following `**kwargs` up the MRO; None: any.

    `**kwargs` that stop at the class itself (no base class takes them on) count as no
    arguments: a typo there is more likely than a deliberate extra (`+key=` adds one).
    """
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is object:  # **kwargs kept by the class itself (e.g. CheckpointHook's)
            return names
        init = vars(klass).get('__init__')
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            return None
        names.update(p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return names
    return None  # object.__init__ reached through **kwargs: cannot tell


def _argument_of_type(root: Any, key: str) -> bool:
    """`key` is new in the config but an argument of its parent dict's `type`."""
    parent, _, leaf = key.rpartition('.')
    node = _lookup(root, parent)
    if not isinstance(node, Mapping) or 'type' not in node:
        return False
    cls = _class_of(node['type'])
    if cls is None:
        return True  # an unknown type fails at build time with its own message
    accepted = constructor_arguments(cls)
    return accepted is None or leaf in accepted


def check_cfg_options(cfg: Config, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Options with known keys, `+` removed from the deliberate new ones.

    Raises:
        ConfigError: a key that is not in the config, with the closest existing keys.
    """
    root = cfg._cfg_dict if isinstance(cfg, Config) else cfg
    checked: dict[str, Any] = {}
    known: list[str] | None = None
    for key, value in (options or {}).items():
        if key.startswith(ADD_PREFIX):
            checked[key[len(ADD_PREFIX) :]] = value
            continue
        if not (_exists(root, key) or _parent_is_open(root, key) or _argument_of_type(root, key)):
            known = known if known is not None else list(_config_keys(root))
            close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
            hint = f'; did you mean {" or ".join(close)}?' if close else ''
            raise ConfigError(
                f'--cfg-options {key}={value!r}: the config has no key {key!r}{hint} '
                f'(to add a new key on purpose, write {ADD_PREFIX}{key}=...)'
            )
        checked[key] = value
    return checked


def _base_files(path: str) -> list[str]:
    """The local `_base_` files a config names (read statically, nothing is run)."""
    try:
        tree = ast.parse(open(path, encoding='utf-8').read(), path)
    except (OSError, SyntaxError, ValueError):
        return []
    for stmt in tree.body:
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id == '_base_'
        ):
            try:
                value = ast.literal_eval(stmt.value)
            except ValueError:
                return []
            bases = [value] if isinstance(value, str) else list(value)
            return [
                osp.join(osp.dirname(path), b)
                for b in bases
                if isinstance(b, str) and '::' not in b
            ]
    return []


def syntax_error_location(path: str, seen: set[str] | None = None) -> str | None:
    """'file, line N: message' for the first file with a syntax error in `path`'s chain."""
    seen = seen if seen is not None else set()
    path = osp.abspath(path)
    if path in seen or not osp.isfile(path):
        return None
    seen.add(path)
    try:
        ast.parse(open(path, encoding='utf-8').read(), path)
    except SyntaxError as err:
        return f'{path}, line {err.lineno}: {err.msg}'
    for base in _base_files(path):
        found = syntax_error_location(base, seen)
        if found:
            return found
    return None


def read_config_file(path: str) -> Config:
    """`Config.fromfile`, with a syntax error naming the file and line."""
    try:
        return Config.fromfile(path)
    except SyntaxError as err:
        where = syntax_error_location(path) or f'{path}: {err}'
        raise ConfigError(f'Syntax error in config {where}') from None


def _scopes() -> list[str]:
    from mmengine.registry import MODELS as ROOT

    scopes = {'mmengine', 'upertool'}
    stack = [ROOT]
    while stack:
        registry = stack.pop()
        scopes.add(registry.scope)
        stack.extend(registry.children.values())
    return sorted(scopes)


def check_run_config(cfg: Config, training: bool) -> None:
    """Values that would fail late (or never): refuse them now, one message each."""
    scope = cfg.get('default_scope')
    if scope is not None:
        import upertool.registry  # noqa: F401  (upertool's scope exists)

        scopes = _scopes()
        if scope not in scopes:
            close = difflib.get_close_matches(scope, scopes, n=1)
            hint = f'; did you mean {close[0]!r}?' if close else ''
            raise ConfigError(
                f'default_scope={scope!r} is not a registered scope{hint} (known: {scopes})'
            )
    loaders = LOADERS if training else ('test_dataloader',)
    for name in loaders:
        loader = cfg.get(name)
        if not isinstance(loader, Mapping) or 'batch_size' not in loader:
            continue
        size = loader['batch_size']
        if not isinstance(size, int) or size <= 0:
            raise ConfigError(f'{name}.batch_size must be a positive integer, got {size!r}')
    if training:
        train_cfg = cfg.get('train_cfg') or {}
        for key in ('max_iters', 'max_epochs'):
            if key in train_cfg and (not isinstance(train_cfg[key], int) or train_cfg[key] <= 0):
                raise ConfigError(
                    f'train_cfg.{key} must be a positive integer, got '
                    f'{train_cfg[key]!r}: nothing would be trained'
                )
