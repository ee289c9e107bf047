"""Fakes for plugin tests: installed distributions on a temporary sys.path entry, and a
fresh plugin loader and registry state per test."""
from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

from upertool import plugins, registry


def write_plugin(site: Path, dist: str, module: str, source: str, entry_point: str = '',
                 group: str = plugins.ENTRY_POINT_GROUP) -> None:
    """A distribution `dist` 0.1 with module `module` (from `source`) and an entry point
    `entry_point = module` (named after the module by default) in `group`."""
    (site / f'{module}.py').write_text(textwrap.dedent(source))
    dist_info = site / f"{re.sub(r'[-.]+', '_', dist)}-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / 'METADATA').write_text(f'Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n')
    (dist_info / 'entry_points.txt').write_text(f'[{group}]\n{entry_point or module} = {module}\n')
    (dist_info / 'RECORD').write_text('')


@pytest.fixture
def make_plugin():
    """`write_plugin` (test modules cannot import conftest under --import-mode=importlib)."""
    return write_plugin


@pytest.fixture
def isolated_registries():
    """Registrations made during the test are undone afterwards.

    Every registry imports its `locations` first, so the snapshot holds upertool's own
    components (restoring an earlier, lazier snapshot would drop them for later tests).
    """
    for reg in registry._registries():
        reg.import_from_location()
    snapshot = {reg: dict(reg._module_dict) for reg in registry._registries()}
    yield
    for reg, names in snapshot.items():
        reg._module_dict.clear()
        reg._module_dict.update(names)


@pytest.fixture
def plugin_site(tmp_path, monkeypatch, isolated_registries):
    """An empty site directory on sys.path, and a loader that has not loaded anything yet."""
    site = tmp_path / 'site'
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(plugins, '_LOADER', plugins.PluginLoader())
    modules_before = set(sys.modules)
    yield site
    for name in set(sys.modules) - modules_before:
        if getattr(sys.modules[name], '__file__', '') and \
                str(sys.modules[name].__file__).startswith(str(site)):
            del sys.modules[name]
