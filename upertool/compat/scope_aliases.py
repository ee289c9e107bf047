"""mmsegmentation configs unchanged: `mmseg.X` / `mmpretrain.X` types without those packages.

mmsegmentation's configs name components of other OpenMMLab packages by scope, e.g. its
ConvNeXt configs::

    custom_imports = dict(imports='mmpretrain.models', allow_failed_imports=False)
    model = dict(backbone=dict(type='mmpretrain.ConvNeXt', arch='tiny', ...))

mmengine resolves `'mmpretrain.ConvNeXt'` in upertool's MODELS by looking for a child
registry with scope 'mmpretrain' (there, then under mmengine's root MODELS); without
mmpretrain installed there is none and the build fails with a KeyError, and before that
`Config.fromfile` fails on the custom import. When a package is not installed, `install()`:

- adds to each of mmengine's root registries that upertool extends an empty child registry
  with that package's scope whose `get` answers from upertool's registry of the same kind
  (so `mmseg.UPerHead`, `mmseg.PackSegInputs`, `mmpretrain.ConvNeXt` build upertool's
  classes), logging one line the first time each name is resolved; and
- makes mmengine's `import_modules_from_strings` (custom_imports) skip modules of that
  package, with one log line per module.

The children hang under mmengine's roots, not upertool's registries, because this runs at
`import upertool`, before `upertool.registry` is imported; upertool's registry of the same
kind is found at lookup time as the root's child of scope 'upertool'. Nothing
changes for an installed package: its real registries are found as usual.

mmpretrain's classes are stood in for only where upertool's class has mmpretrain's
arguments and weights (`MMPRETRAIN_NAMES`); `mmpretrain.SwinTransformer` (mmpretrain's own
arch-based design, unlike mmsegmentation's) raises a KeyError that says so.
"""
from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from typing import Any

from mmengine.logging import print_log
from mmengine.registry import Registry

from ._patching import replace_function

# Registries of mmengine's root that upertool extends (upertool/registry.py, same names).
REGISTRY_NAMES = (
    'RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS', 'OPTIMIZERS',
    'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS', 'DATASETS',
    'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS', 'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS',
    'TASK_UTILS', 'METRICS', 'EVALUATOR', 'VISUALIZERS', 'VISBACKENDS', 'INFERENCERS')
# upertool follows mmsegmentation 1.x throughout; of mmpretrain it has ConvNeXt only.
MMPRETRAIN_NAMES = ('ConvNeXt',)
ALIASES: dict[str, dict[str, tuple[str, ...] | None]] = {
    'mmseg': {name: None for name in REGISTRY_NAMES},
    'mmpretrain': {'MODELS': MMPRETRAIN_NAMES},
}

_aliased_scopes: set[str] = set()


class ScopeAliasRegistry(Registry):
    """A child of an mmengine root registry, under an absent package's scope, that answers
    `get` from upertool's registry of the same kind.

    Args:
        root: The mmengine root registry (e.g. `mmengine.registry.MODELS`).
        registry_name: Name of that registry in `mmengine.registry` (e.g. 'MODELS').
        scope: The absent package's scope ('mmseg', 'mmpretrain').
        names: Names this scope may resolve (None: every name upertool has).
    """

    def __init__(self, root: Registry, registry_name: str, scope: str,
                 names: tuple[str, ...] | None) -> None:
        super().__init__(root.name, parent=root, scope=scope)
        self.registry_name = registry_name
        self.names = names
        self._logged: set[str] = set()

    def get(self, key: str) -> Any:
        """upertool's class for `key` ('X' or '<scope>.X'); None if upertool has none.

        Raises:
            KeyError: upertool has a class of that name, but not one with the absent
                package's arguments and weights.
        """
        scope, real_key = self.split_scope_key(key)
        if scope is not None and scope != self.scope:
            return super().get(key)
        upertool_registry = self.parent._children.get('upertool')
        obj = None if upertool_registry is None else upertool_registry.get(real_key)
        if obj is None:
            return None
        if self.names is not None and real_key not in self.names:
            raise KeyError(
                f"'{self.scope}.{real_key}': {self.scope} is not installed, and upertool's "
                f'{real_key} does not take its arguments and weights (upertool stands in for '
                f'{", ".join(f"{self.scope}.{n}" for n in self.names)} only); install '
                f"{self.scope}, or use type='{real_key}' for upertool's own class")
        if real_key not in self._logged:
            self._logged.add(real_key)
            print_log(f"{self.scope} is not installed: '{self.scope}.{real_key}' is built as "
                      f"upertool's {real_key} ({getattr(obj, '__module__', '?')})",
                      logger='current', level=logging.INFO)
        return obj


def is_package_missing(scope: str) -> bool:
    """Whether the package whose import name is `scope` cannot be imported."""
    try:
        return importlib.util.find_spec(scope) is None
    except (ImportError, ValueError):
        return True


def _skip_absent_scopes(original: Callable) -> Callable:
    """Wrap `import_modules_from_strings` so that custom_imports of aliased packages are
    skipped (their types resolve through the alias registries)."""
    logged: set[str] = set()

    def import_modules_from_strings(imports: Any, allow_failed_imports: bool = False) -> Any:
        single = isinstance(imports, str)
        items = [imports] if single else imports
        if not isinstance(items, list):  # the original raises its TypeError
            return original(imports, allow_failed_imports)
        skip = [isinstance(m, str) and m.partition('.')[0] in _aliased_scopes for m in items]
        if not any(skip):
            return original(imports, allow_failed_imports)
        for module, skipped in zip(items, skip, strict=True):
            if skipped and module not in logged:
                logged.add(module)
                scope = module.partition('.')[0]
                print_log(f"{scope} is not installed: custom_imports '{module}' skipped; "
                          f"'{scope}.X' types that upertool has are built with its classes",
                          logger='current', level=logging.INFO)
        kept = [m for m, skipped in zip(items, skip, strict=True) if not skipped]
        done = iter(original(kept, allow_failed_imports) if kept else [])
        result = [None if skipped else next(done) for skipped in skip]
        return result[0] if single else result

    return import_modules_from_strings


def install() -> None:
    """Alias the scopes of the absent packages in ALIASES; skip their custom imports."""
    import mmengine.registry as roots
    import mmengine.utils.misc

    for scope, registries in ALIASES.items():
        if scope in _aliased_scopes or not is_package_missing(scope):
            continue
        for registry_name, names in registries.items():
            root = getattr(roots, registry_name)
            if scope not in root._children:  # a second upertool import in one process
                ScopeAliasRegistry(root, registry_name, scope, names)
        _aliased_scopes.add(scope)
    replace_function(mmengine.utils.misc, 'import_modules_from_strings', _skip_absent_scopes)
