"""upertool's build functions: mmengine's, plus a helpful error when a type is unknown.

mmengine's build functions (`build_from_cfg`, `build_model_from_cfg`, ...) raise a bare
KeyError when `registry.get` returns None. `checked_build` wraps one of them: before building,
it resolves the config's type the way mmengine will (`_scope_`, then the default scope), and
when the lookup ends in one of upertool's registries (scope 'upertool') and misses, it raises
`UnknownTypeError` (a KeyError) with the closest names, the installed plugins and the
`custom_imports` line. `Registry.get` keeps mmengine's contract (None on a miss) and never
needs to know who called it.

Every `Registry.build` goes through its registry's `build_func`: upertool's registries get the
wrapped function when they are created (`upertool.registry`), and mmengine's roots, which the
Runner builds with, get it from `install_on_roots` (`upertool.compat.install_stack_fixes`).
Code that calls `build_from_cfg(cfg, registry)` directly gets mmengine's own error.

`install_on_roots` also takes the callback that installs the Runner's fixes: a build that runs
while `mmengine.runner` is loaded calls it (once), which is how a Runner gets them before it
loads any checkpoint without `import upertool` importing mmengine's runner.
"""
from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mmengine.config import Config
from mmengine.registry import DefaultScope, Registry
from mmengine.registry.build_functions import build_runner_from_cfg

from upertool.plugins import UnknownTypeError, unknown_type_message

SCOPE = 'upertool'
_on_runner: list[Callable[[], None]] = []


def upertool_registries(root: Registry) -> list[Registry]:
    """upertool's child of every mmengine root registry that has one (for error messages)."""
    import mmengine.registry as roots

    found = []
    for value in vars(roots).values():
        if isinstance(value, Registry) and value.parent is None:
            child = value._children.get(SCOPE)
            if child is not None:
                found.append(child)
    return found or [root]


def _type_key(cfg: Any, original: Callable[..., Any]) -> str | None:
    if not isinstance(cfg, (Mapping, Config)):
        return None  # mmengine raises its own TypeError
    key = cfg.get('runner_type', 'Runner') if original is build_runner_from_cfg else cfg.get('type')
    return key if isinstance(key, str) else None


def check_type_known(cfg: Any, registry: Registry, original: Callable[..., Any]) -> None:
    """Raise `UnknownTypeError` if `cfg`'s type resolves to an upertool registry that lacks it.

    Raises:
        UnknownTypeError: the lookup mmengine is about to make would miss.
    """
    key = _type_key(cfg, original)
    if key is None:
        return
    with registry.switch_scope_and_registry(cfg.get('_scope_')) as target:
        if target.scope != SCOPE or target.get(key) is not None:
            return
        others = [r for r in upertool_registries(target) if r is not target]
        raise UnknownTypeError(unknown_type_message(key, target, others))


def _own_scope_over_ancestors(registry: Registry) -> contextlib.AbstractContextManager:
    """Build in `registry`'s own scope when the default scope names one of its ancestors.

    mmengine switches every build to the registry of the current default scope; a stray
    `DefaultScope('mmengine')` (left by any mmengine Runner or tool built without
    `default_scope`) would send `upertool.registry.MODELS.build` to mmengine's root, which
    has none of upertool's types. A build through upertool's (or a plugin's) registry means
    its own types, so an ancestor's scope is overridden; any other scope is left as it is.
    """
    current = DefaultScope.get_current_instance()
    if current is None or registry.scope == current.scope_name:
        return contextlib.nullcontext()
    ancestor = registry.parent
    while ancestor is not None and ancestor.scope != current.scope_name:
        ancestor = ancestor.parent
    if ancestor is None:
        return contextlib.nullcontext()
    return DefaultScope.overwrite_default_scope(registry.scope)


def checked_build(original: Callable[..., Any]) -> Callable[..., Any]:
    """`original` (an mmengine build function) with `check_type_known` in front; idempotent."""
    if getattr(original, '__upertool_checked__', False):
        return original

    @functools.wraps(original)
    def build(cfg: Any, *args: Any, registry: Registry, **kwargs: Any) -> Any:
        if _on_runner and 'mmengine.runner' in sys.modules:
            _on_runner.pop()()
        with _own_scope_over_ancestors(registry):
            check_type_known(cfg, registry, original)
            return original(cfg, *args, registry=registry, **kwargs)

    build.__upertool_checked__ = True
    return build


def install_on_roots(roots: Iterable[Registry], on_runner: Callable[[], None]) -> None:
    """Wrap the build functions of mmengine's root registries that upertool extends.

    Args:
        roots: mmengine's root registries (their `build_func` is replaced in place).
        on_runner: called once, by the first build that runs while `mmengine.runner` is loaded.
    """
    for root in roots:
        root.build_func = checked_build(root.build_func)
    if not _on_runner:
        _on_runner.append(on_runner)
