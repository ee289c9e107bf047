"""mmengine's installed-package lookups without `pkg_resources`.

mmengine 0.10.x `mmengine/utils/package_utils.py` (`is_installed`,
`get_installed_path`, `package2module`) imports `pkg_resources`, which setuptools
deprecated in 67.5 and removed in 82; so `Config.fromfile` of a config whose
`_base_` names `'pkg::path.py'`, `mmengine.hub.get_config` and `install_package`
fail with `ModuleNotFoundError: No module named 'pkg_resources'`. Two helpers in
`mmengine/config/utils.py` are narrower than they need be as well:
`_get_package_and_cfg_path` accepts only the OpenMMLab packages in `MODULE2PACKAGE`
and a path containing '/', and `_get_cfg_metainfo` raises FileNotFoundError for a
package without `.mim/model-index.yml` instead of the ValueError that makes its
callers fall back to `.mim/configs/<path>` (upertool ships `upertool/.mim/configs`).

The replacements use `importlib.metadata` and `importlib.util.find_spec`, so they find
wheel, editable (setuptools' PEP 660 finder, .pth) and plain `sys.path` packages,
under either the distribution name ('mmsegmentation') or the import name ('mmseg').
"""
from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
import os.path as osp
import re
from importlib.machinery import ModuleSpec
from typing import Any

from ._patching import replace_function


def _distribution(name: str) -> metadata.Distribution | None:
    try:
        return metadata.distribution(name)
    except (metadata.PackageNotFoundError, ValueError):
        return None


def _find_spec(name: str) -> ModuleSpec | None:
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):  # a dotted name whose parent is missing
        return None


def _normalize(name: str) -> str:
    return re.sub(r'[-_.]+', '-', name).lower()


def is_installed(package: str) -> bool:
    """Whether a distribution or an importable (non-namespace) module has this name."""
    if _distribution(package) is not None:
        return True
    spec = _find_spec(package)
    return spec is not None and spec.origin is not None


def package2module(package: str) -> str:
    """Import name of an installed distribution, e.g. 'mmsegmentation' -> 'mmseg'.

    Raises:
        metadata.PackageNotFoundError: no such distribution.
        ValueError: its top-level module cannot be determined.
    """
    dist = metadata.distribution(package)
    candidates = (dist.read_text('top_level.txt') or '').split()
    wanted = _normalize(package)
    candidates += [module for module, dists in metadata.packages_distributions().items()
                   if wanted in (_normalize(d) for d in dists)]
    candidates.append(package.replace('-', '_'))
    for module in candidates:
        if _find_spec(module) is not None:
            return module
    raise ValueError(f'can not infer the module name of {package}')


def get_installed_path(package: str) -> str:
    """Directory of an installed package, by import name or distribution name.

    Raises:
        ModuleNotFoundError: neither a module nor a distribution has that name.
        RuntimeError: it is a namespace package, which has no single directory.
    """
    spec = _find_spec(package)
    if spec is None:
        if _distribution(package) is None:
            raise ModuleNotFoundError(
                f'{package} is neither an installed distribution nor an importable module',
                name=package)
        spec = _find_spec(package2module(package))
    if spec is None or spec.origin is None or not osp.isfile(spec.origin):
        raise RuntimeError(
            f'{package} is a namespace package (or not a file-based module), which is '
            'invalid for `get_installed_path`')
    return osp.dirname(osp.abspath(spec.origin))


def get_package_and_cfg_path(cfg_path: str) -> tuple[str, str]:
    """Split `'pkg::rel/path.py'` into (package to look up, 'rel/path.py').

    OpenMMLab import names map to their distribution names as in mmengine
    (`mmseg` -> `mmsegmentation`); any other importable package is taken as is.
    """
    from mmengine.config.utils import MODULE2PACKAGE

    package, sep, rel_path = cfg_path.partition('::')
    if (not sep or '::' in rel_path or not rel_path
            or re.fullmatch(r'[A-Za-z_][\w.]*', package) is None):
        raise ValueError(
            f'Expected an external config path like `mmseg::upernet/x.py` '
            f'(package::path relative to its configs), got {cfg_path!r}')
    return MODULE2PACKAGE.get(package, package), rel_path


def _make_cfg_metainfo(original: Any) -> Any:
    def _get_cfg_metainfo(package_path: str, cfg_path: str) -> dict:
        """mmengine's lookup in `.mim/model-index.yml`; ValueError where there is none."""
        if not osp.isfile(osp.join(package_path, '.mim', 'model-index.yml')):
            # ValueError is what `Config._get_cfg_path` and `get_config` catch to fall
            # back to `<package>/.mim/configs/<cfg_path>`.
            raise ValueError(f'{package_path} has no .mim/model-index.yml')
        return original(package_path, cfg_path)
    return _get_cfg_metainfo


def install() -> None:
    """Replace the lookups in mmengine and in every mmengine module that copied them."""
    import mmengine.config.utils as config_utils
    import mmengine.utils.package_utils as package_utils

    for name, new in (('is_installed', is_installed),
                      ('get_installed_path', get_installed_path),
                      ('package2module', package2module)):
        replace_function(package_utils, name, lambda _old, new=new: new)
    replace_function(config_utils, '_get_package_and_cfg_path',
                     lambda _old: get_package_and_cfg_path)
    replace_function(config_utils, '_get_cfg_metainfo', _make_cfg_metainfo)
