"""mmsegmentation 1.x's `mmseg.utils` names, for code that imports them from `upertool.utils`.

The names load on first use (PEP 562), so `upertool.models` can import
`upertool.utils.not_provided` without importing the datasets that `get_classes` reads.
Names of mmsegmentation's that upertool leaves out raise `NotProvidedError` (an ImportError)
saying what to use instead.
"""
from __future__ import annotations

import importlib
from typing import Any

from .not_provided import NotProvidedError, module_getattr

_LAZY = {
    **dict.fromkeys(('ConfigType', 'OptConfigType', 'MultiConfig', 'OptMultiConfig',
                     'SampleList', 'OptSampleList', 'TensorDict', 'TensorList',
                     'ForwardResults'), 'typing_utils'),
    **dict.fromkeys(('add_prefix', 'stack_batch'), 'misc'),
    **dict.fromkeys(('get_classes', 'get_palette', 'dataset_aliases', 'ade_classes',
                     'ade_palette', 'cityscapes_classes', 'cityscapes_palette', 'voc_classes',
                     'voc_palette', 'cocostuff_classes', 'cocostuff_palette'), 'class_names'),
    'register_all_modules': 'set_env',
    'collect_env': 'collect_env',
}
__all__ = ['NotProvidedError', *_LAZY]
_not_provided = module_getattr(__name__)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f'{__name__}.{_LAZY[name]}'), name)
        globals()[name] = value
        return value
    return _not_provided(name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
