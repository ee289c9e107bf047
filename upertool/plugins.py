"""Installed plugins and the errors that registry lookups and registrations raise.

A plugin is any installed distribution that declares an entry point in the group
`upertool.plugins` whose value is a module path; importing that module registers its
components in upertool's registries::

    [project.entry-points."upertool.plugins"]
    my_plugin = "my_plugin"

Nothing here runs at `import upertool`: a registry imports every installed plugin on its
first lookup miss (`load_plugins`, once per process) and retries the lookup. A plugin that
fails to import is reported (a `PluginImportWarning` now, and in the message of every
later miss) while the others are still imported.

This module imports no other part of upertool, so `upertool.registry` can use it.
"""
from __future__ import annotations

import difflib
import importlib.metadata as metadata
import sys
import traceback
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

ENTRY_POINT_GROUP = 'upertool.plugins'


class PluginImportWarning(UserWarning):
    """An installed plugin failed to import; the other plugins were still imported."""


class _MessageKeyError(KeyError):
    """A KeyError whose text prints as written (KeyError shows the repr of its argument,
    which turns a multi-line message into one line of escaped newlines)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


class UnknownTypeError(_MessageKeyError):
    """A config's `type` names nothing registered (a KeyError, as mmengine raises)."""


class DuplicateRegistrationError(_MessageKeyError):
    """A name is registered twice in one registry (a KeyError, as mmengine raises)."""


@dataclass(frozen=True)
class Plugin:
    """One entry point of the group `upertool.plugins`.

    Attributes:
        name: the entry point's name.
        module: the module path it names.
        distribution: 'name version' of the distribution that declares it.
        state: 'not imported', 'imported' or 'failed'.
        error: why it failed to import ('ExcType: message (at file:line)'), else None.
    """

    name: str
    module: str
    distribution: str
    state: str = 'not imported'
    error: str | None = None

    def describe(self) -> str:
        state = f'failed to import: {self.error}' if self.state == 'failed' else self.state
        return f'{self.name} = {self.module} (from {self.distribution}): {state}'


def _distribution_label(entry_point: metadata.EntryPoint) -> str:
    dist = getattr(entry_point, 'dist', None)
    if dist is None:
        return 'an unknown distribution'
    return f"{dist.metadata['Name'] or dist.name} {dist.version}"


def _failure_reason(exc: BaseException) -> str:
    """'ExcType: message (at file:line)', the line being the last one outside importlib."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith('<frozen')]
    where = f' (at {frames[-1].filename}:{frames[-1].lineno})' if frames else ''
    message = str(exc).strip() or '(no message)'
    return f'{type(exc).__name__}: {message}{where}'


class PluginLoader:
    """Finds the plugins of one entry-point group and imports them, once.

    Args:
        group: the entry-point group to read.
    """

    def __init__(self, group: str = ENTRY_POINT_GROUP) -> None:
        self.group = group
        self._plugins: list[Plugin] | None = None

    @property
    def loaded(self) -> bool:
        """Whether `load` has run (or is running) in this process."""
        return self._plugins is not None

    def _entry_points(self) -> list[metadata.EntryPoint]:
        # importlib.metadata already keeps one distribution per name when the same one
        # sits on sys.path twice; sorting makes the import order independent of sys.path.
        found = metadata.entry_points(group=self.group)
        return sorted(found, key=lambda ep: (ep.name, ep.value))

    def discover(self) -> list[Plugin]:
        """The plugins installed now, without importing them."""
        return [Plugin(ep.name, ep.value, _distribution_label(ep)) for ep in self._entry_points()]

    def load(self) -> list[Plugin]:
        """Import every plugin (the first call only) and return what happened to each.

        A plugin that raises is recorded as failed and reported with a
        `PluginImportWarning`; the next one is imported all the same.
        """
        if self._plugins is not None:
            return list(self._plugins)
        # Set before importing: a plugin whose import looks a name up must not re-enter.
        self._plugins = []
        for ep in self._entry_points():
            plugin = Plugin(ep.name, ep.value, _distribution_label(ep))
            try:
                ep.load()
            except Exception as exc:  # any failure of third-party code: report, go on
                plugin = Plugin(plugin.name, plugin.module, plugin.distribution, 'failed',
                                _failure_reason(exc))
                warnings.warn(
                    f'upertool plugin {plugin.name!r} ({plugin.module}, from '
                    f'{plugin.distribution}) failed to import: {plugin.error}. Its components '
                    'are not registered; the other plugins are.',
                    PluginImportWarning, stacklevel=3)
            else:
                plugin = Plugin(plugin.name, plugin.module, plugin.distribution, 'imported')
            self._plugins.append(plugin)
        return list(self._plugins)

    def status(self) -> list[Plugin]:
        """What `load` found if it has run, else the installed plugins, not imported."""
        return list(self._plugins) if self._plugins is not None else self.discover()


_LOADER = PluginLoader()


def load_plugins() -> list[Plugin]:
    """Import every installed plugin once per process; later calls return the same report."""
    return _LOADER.load()


def plugins_loaded() -> bool:
    """Whether the installed plugins have been imported in this process."""
    return _LOADER.loaded


def installed_plugins() -> list[Plugin]:
    """The installed plugins, with their import state if they have been imported."""
    return _LOADER.status()


# ---------------------------------------------------------------------------- messages
def _registry_label(registry: Any) -> str:
    return f'{registry.scope}::{registry.name}'


def _lineage(registry: Any) -> list[Any]:
    chain = [registry]
    while chain[-1].parent is not None:
        chain.append(chain[-1].parent)
    return chain


def closest_names(key: str, names: Iterable[str], n: int = 5) -> list[str]:
    """Registered names nearest to `key`, ignoring case (difflib ratio >= 0.6)."""
    by_lower: dict[str, str] = {}
    for name in sorted(names):
        by_lower.setdefault(name.lower(), name)
    close = difflib.get_close_matches(key.lower(), list(by_lower), n=n, cutoff=0.6)
    return [by_lower[c] for c in close]


def _names_of(registry: Any) -> dict:
    """A registry's names, after importing its `locations` (registries import them lazily)."""
    try:
        registry.import_from_location()
    except Exception:  # noqa: BLE001 - building an error message must not raise another
        pass
    return registry.module_dict


def _plugins_paragraph(plugins: Sequence[Plugin]) -> str:
    if not plugins:
        return (f"Installed upertool plugins: none (no installed distribution declares an "
                f"entry point in the group '{ENTRY_POINT_GROUP}').")
    lines = [f"Installed upertool plugins (entry-point group '{ENTRY_POINT_GROUP}'):"]
    lines += [f'  - {p.describe()}' for p in plugins]
    return '\n'.join(lines)


def unknown_type_message(key: str, registry: Any, others: Iterable[Any] = (),
                         plugins: Sequence[Plugin] | None = None) -> str:
    """Why `key` was not found in `registry`, and the ways to make it found.

    Args:
        key: the type name looked up, possibly with a scope prefix ('mmseg.UPerHead').
        registry: the registry that missed (an mmengine Registry).
        others: upertool's other registries, to say where the name is registered instead.
        plugins: the plugin report (default: `installed_plugins()`).
    """
    scope, _, real_key = key.rpartition('.') if '.' in key else ('', '', key)
    chain = _lineage(registry)
    searched = ', then '.join(_registry_label(r) for r in chain)
    lines = [f'{key!r} is not registered in the {_registry_label(registry)} registry '
             f'(searched {searched}).']
    if scope and '.' not in scope and chain[-1]._search_child(scope) is None:
        lines.append(f'The prefix {scope!r} asks for the registry of scope {scope!r}, and '
                     f"none is loaded (is the package {scope!r} installed?); upertool's own "
                     'names take no prefix.')
    names = {name for r in chain for name in r.module_dict}
    close = closest_names(real_key, names)
    if close:
        lines.append('Closest registered names: ' + ', '.join(repr(c) for c in close) + '.')
    else:
        lines.append(f'No registered name is close to {real_key!r}.')
    elsewhere = [_registry_label(r) for r in others
                 if r is not registry and real_key in _names_of(r)]
    if elsewhere:
        lines.append(f'{real_key!r} is registered in the {" and ".join(elsewhere)} registry '
                     'instead: is this config entry under the right key?')
    lines.append(_plugins_paragraph(installed_plugins() if plugins is None else plugins))
    lines.append(
        f'If {real_key!r} is defined in a module that is not an installed plugin, import it '
        'from the config:\n'
        "    custom_imports = dict(imports=['your_package.your_module'], "
        'allow_failed_imports=False)')
    return '\n'.join(lines)


def _origin(obj: Any) -> str:
    """'package.module.Name (path/to/module.py)': the file tells two copies of a package apart."""
    module = getattr(obj, '__module__', None) or '?'
    qualname = getattr(obj, '__qualname__', None) or getattr(obj, '__name__', repr(obj))
    path = getattr(sys.modules.get(module), '__file__', None)
    return f'{module}.{qualname}' + (f' ({path})' if path else '')


def duplicate_message(name: str, registry: Any, existing: Any, new: Any) -> str:
    """Why `new` cannot take `name`, which `existing` holds in `registry`."""
    return (f'Cannot register {_origin(new)} as {name!r} in the {_registry_label(registry)} '
            f'registry: {_origin(existing)} is already registered under that name. Register '
            f"the new one under another name (register_module(name='...')), or pass "
            'force=True to replace the existing one.')
