"""upertool's registries: children of mmengine's roots under the scope 'upertool'.

Each registry names the package `locations` holding its components, so that
`MODELS.build(dict(type='EncoderDecoder', ...))` works in a fresh interpreter and
mmengine's Runner (which imports `upertool.registry` through `default_scope`) finds
everything without a `register_all_modules()` call.

They are `UpertoolRegistry`s: on a lookup miss they import the installed plugins (entry-point
group `upertool.plugins`, see `upertool.plugins`) once and look again; building an unknown
type raises `UnknownTypeError` naming the closest names, plugins and `custom_imports`
(`upertool.registry_build`). Third-party packages register with `@MODELS.register_module()`
like upertool itself. Importing this module defines registries and nothing else.
"""
from typing import Any

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import INFERENCERS as MMENGINE_INFERENCERS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNER_CONSTRUCTORS as MMENGINE_RUNNER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

from upertool import plugins
from upertool.plugins import DuplicateRegistrationError, UnknownTypeError
from upertool.registry_build import checked_build

__all__ = ['DuplicateRegistrationError', 'UnknownTypeError', 'UpertoolRegistry']


class UpertoolRegistry(Registry):
    """mmengine's Registry plus plugin discovery on a miss and errors that say what to do.

    - `get` imports the installed plugins (once per process) when a name is missing and
      looks again. It returns None for a miss, as mmengine's contract says (`name in
      MODELS` and callers with a fallback rely on it).
    - `build` (its `build_func`, `upertool.registry_build.checked_build` around the parent's)
      raises `UnknownTypeError` (a KeyError) for an unknown type, naming the registry and
      scope, the closest names, the installed plugins and the `custom_imports` line.
    - Registering a name that another object holds raises `DuplicateRegistrationError`
      (a KeyError) naming both, unless `force=True`. Registering the same object again
      is a no-op rather than an error.
    """

    def __init__(self, name: str, parent: Registry, locations: list[str]) -> None:
        super().__init__(name, parent=parent, scope='upertool', locations=locations)
        self.build_func = checked_build(self.build_func)

    def get(self, key: str) -> Any:
        """The class (or function) registered as `key`, or None (after loading the plugins)."""
        obj = super().get(key)
        if obj is None and not plugins.plugins_loaded():
            plugins.load_plugins()
            obj = super().get(key)
        return obj

    def _register_module(self, module: Any, module_name: str | list[str] | None = None,
                         force: bool = False) -> None:
        names = [module_name] if isinstance(module_name, str) else module_name
        for name in names or [getattr(module, '__name__', None)]:
            existing = self._module_dict.get(name)
            if not force and existing is not None and existing is not module:
                raise DuplicateRegistrationError(
                    plugins.duplicate_message(name, self, existing, module))
        # Clashes are checked above; what is left is new names or the same object again.
        super()._register_module(module, module_name, force=True)


def _registries() -> list[UpertoolRegistry]:
    """Every registry defined here (the plugin tests snapshot and restore them)."""
    return [r for r in globals().values() if isinstance(r, UpertoolRegistry)]


_ENGINE = ['upertool.engine']
_DATA = ['upertool.datasets']
_MODELS = ['upertool.models']
_EVAL = ['upertool.evaluation']
_VIS = ['upertool.visualization']


def _child(name: str, parent: Registry, locations: list[str]) -> UpertoolRegistry:
    return UpertoolRegistry(name, parent, locations)


RUNNERS = _child('runner', MMENGINE_RUNNERS, _ENGINE)
RUNNER_CONSTRUCTORS = _child('runner constructor', MMENGINE_RUNNER_CONSTRUCTORS, _ENGINE)
LOOPS = _child('loop', MMENGINE_LOOPS, _ENGINE)
HOOKS = _child('hook', MMENGINE_HOOKS, _ENGINE)
LOG_PROCESSORS = _child('log_processor', MMENGINE_LOG_PROCESSORS, _ENGINE)
OPTIMIZERS = _child('optimizer', MMENGINE_OPTIMIZERS, _ENGINE)
OPTIM_WRAPPERS = _child('optim_wrapper', MMENGINE_OPTIM_WRAPPERS, _ENGINE)
OPTIM_WRAPPER_CONSTRUCTORS = _child(
    'optimizer wrapper constructor', MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, _ENGINE)
PARAM_SCHEDULERS = _child('parameter scheduler', MMENGINE_PARAM_SCHEDULERS, _ENGINE)

DATASETS = _child('dataset', MMENGINE_DATASETS, _DATA)
DATA_SAMPLERS = _child('data sampler', MMENGINE_DATA_SAMPLERS, _DATA)
TRANSFORMS = _child('transform', MMENGINE_TRANSFORMS, _DATA)

MODELS = _child('model', MMENGINE_MODELS, _MODELS)
MODEL_WRAPPERS = _child('model_wrapper', MMENGINE_MODEL_WRAPPERS, _MODELS)
WEIGHT_INITIALIZERS = _child('weight initializer', MMENGINE_WEIGHT_INITIALIZERS, _MODELS)
TASK_UTILS = _child('task util', MMENGINE_TASK_UTILS, _MODELS)

METRICS = _child('metric', MMENGINE_METRICS, _EVAL)
EVALUATOR = _child('evaluator', MMENGINE_EVALUATOR, _EVAL)

VISUALIZERS = _child('visualizer', MMENGINE_VISUALIZERS, _VIS)
VISBACKENDS = _child('vis_backend', MMENGINE_VISBACKENDS, _VIS)

INFERENCERS = _child('inferencer', MMENGINE_INFERENCERS, ['upertool.apis'])
