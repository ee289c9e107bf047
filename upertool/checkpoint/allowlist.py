"""What a checkpoint may contain besides tensors: the allowlist for `weights_only` loading.

torch's `weights_only=True` unpickler refuses every global it does not know. mmengine
checkpoints hold a few more: the message hub's `HistoryBuffer` (whose pickled state
names its statistics methods through `getattr(HistoryBuffer, 'mean')`) and numpy
arrays, scalars and dtypes in `runtime_info` / the history buffers. Each entry here
is harmless to call or to build from a pickle; `builtins.getattr` in particular is
replaced by a version that only looks up HistoryBuffer's own statistics methods.
"""
from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
from mmengine.logging.history_buffer import HistoryBuffer

SafeGlobal = Callable[..., Any] | tuple[Callable[..., Any], str]


def _history_buffer_method(owner: Any, name: str) -> Callable[..., Any]:
    """Stand-in for `builtins.getattr` while unpickling.

    Python pickles an unbound method such as `HistoryBuffer.mean` as
    `getattr(HistoryBuffer, 'mean')`; allowing the real `getattr` would let a pickle
    reach any attribute of any allowed object, so only that one lookup is served.

    Raises:
        pickle.UnpicklingError: for any other object or attribute.
    """
    method = HistoryBuffer.__dict__.get(name) if owner is HistoryBuffer else None
    if name.startswith('_') or not callable(method):
        # Worded like torch's refusal so the loader names `builtins.getattr(...)`.
        owner_name = getattr(owner, '__qualname__', type(owner).__qualname__)
        raise pickle.UnpicklingError(
            f'Unsupported global: GLOBAL builtins.getattr({owner_name},{name!r}) was not an '
            'allowed global by default (only HistoryBuffer statistics methods are).')
    return method


def _numpy_globals() -> list[SafeGlobal]:
    """numpy arrays, scalars and dtypes as numpy 1.x and 2.x pickle them."""
    try:  # numpy >= 2 moved the implementation to numpy._core
        from numpy._core import multiarray
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    entries: list[SafeGlobal] = [np.ndarray, np.dtype]
    # A checkpoint names the module of the numpy that wrote it, so both spellings.
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        entries.append((multiarray._reconstruct, f'{module}._reconstruct'))
        entries.append((multiarray.scalar, f'{module}.scalar'))
    # The unpickler only BUILDs (sets the state of) instances of allowed classes,
    # and `np.dtype('f8')` is an instance of `numpy.dtypes.Float64DType`.
    dtype_classes = {type(np.dtype(code)) for code in np.typecodes['All']}
    entries.extend(sorted(dtype_classes, key=lambda cls: cls.__qualname__))
    return entries


SAFE_GLOBALS: list[SafeGlobal] = [
    HistoryBuffer,
    (_history_buffer_method, 'builtins.getattr'),
    *_numpy_globals(),
]
"""Globals (besides torch's own tensor types) that upertool lets a checkpoint name.

Entries are what `torch.serialization.safe_globals` takes: an object, or
`(object, 'module.qualname')` where the checkpoint spells it differently.
"""
