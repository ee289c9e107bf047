"""mmengine's `collect_env` survives a broken torchvision.

mmengine 0.10.x `collect_env` (which `Runner` calls at start to log the environment)
does `import torchvision` and catches only ModuleNotFoundError. A torchvision that
does not match torch (e.g. PyPI's CUDA build next to a CPU torch) raises RuntimeError
("operator torchvision::nms does not exist") on import, and the Runner dies before
training although nothing in upertool needs torchvision. The replacement reports
`TorchVision: unusable (RuntimeError: ...)` instead.

Patch point: `mmengine.utils.dl_utils.collect_env.collect_env` and the copies in
`mmengine.utils.dl_utils`, `mmengine.runner.runner` and `mmengine._strategy.base`.
"""
from __future__ import annotations

import sys
from collections import OrderedDict
from typing import Any

from ._patching import hidden_module, replace_function

UNUSABLE = 'unusable'


def torchvision_status() -> str | None:
    """torchvision's version, None when it is not installed, or 'unusable (<reason>)'."""
    try:
        import torchvision
    except ModuleNotFoundError as err:
        if err.name == 'torchvision':
            return None
        return f'{UNUSABLE} ({type(err).__name__}: {err})'
    except Exception as err:  # noqa: BLE001 - any failure to import means unusable
        return f'{UNUSABLE} ({type(err).__name__}: {err})'
    return str(getattr(torchvision, '__version__', 'unknown version'))


def _make_collect_env(original: Any) -> Any:
    def collect_env() -> OrderedDict:
        """mmengine's `collect_env`, reporting a torchvision that fails to import."""
        status = torchvision_status()
        if status is None or not status.startswith(UNUSABLE):
            return original()
        with hidden_module('torchvision'):
            env = original()
        # Where mmengine would have put it: after PyTorch, before OpenCV/MMEngine.
        items = list(env.items())
        keys = [key for key, _ in items]
        at = keys.index('PyTorch compiling details') + 1 if (
            'PyTorch compiling details' in keys) else len(items)
        items.insert(at, ('TorchVision', status))
        return OrderedDict(items)
    return collect_env


def install() -> None:
    """Replace `collect_env` wherever mmengine looks it up (idempotent)."""
    import mmengine.utils.dl_utils  # noqa: F401 - loads the submodule below

    module = sys.modules['mmengine.utils.dl_utils.collect_env']
    replace_function(module, 'collect_env', _make_collect_env)
