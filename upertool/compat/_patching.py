"""Replace a function of mmengine's everywhere mmengine looks it up; hide a module for a while."""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any


def replace_function(owner: ModuleType | type, name: str,
                     make: Callable[[Any], Any]) -> Any:
    """Set `owner.name = make(original)` and rebind the loaded mmengine modules' copies.

    `from mmengine.utils import is_installed` copies the function into the importing
    module, so patching the defining module alone would miss every module imported
    before the patch (modules imported after it copy the replacement). Installing a
    second time is a no-op: the replacement carries `__upertool_replaces__`.

    Args:
        owner: Module or class that defines `name`.
        name: Attribute to replace.
        make: Builds the replacement from the original (to wrap or to fall back to it).

    Returns:
        The function now installed.
    """
    old = getattr(owner, name)
    if getattr(old, '__upertool_replaces__', None) is not None:
        return old
    new = make(old)
    new.__upertool_replaces__ = old
    setattr(owner, name, new)
    if isinstance(owner, ModuleType):
        for module_name, module in list(sys.modules.items()):
            if module is None or module_name.partition('.')[0] != 'mmengine':
                continue
            for attr, value in list(vars(module).items()):
                if value is old:
                    setattr(module, attr, new)
    return new


@contextlib.contextmanager
def hidden_module(module: str) -> Iterator[None]:
    """Make `import module` raise ModuleNotFoundError inside the block, then restore it."""
    absent = object()
    saved = sys.modules.get(module, absent)
    sys.modules[module] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if saved is absent:
            sys.modules.pop(module, None)
        else:
            sys.modules[module] = saved  # type: ignore[assignment]
