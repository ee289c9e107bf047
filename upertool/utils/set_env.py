"""`register_all_modules` of mmsegmentation 1.x, for code that calls it before building.

upertool's registries find their components through `locations`, so the imports here are
only what the call promises (everything registered afterwards); the default scope is set to
'upertool', as mmsegmentation's sets 'mmseg'.
"""
from __future__ import annotations

import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every component package; with `init_default_scope`, make 'upertool' the scope.

    Args:
        init_default_scope: set mmengine's default scope to 'upertool' (a new DefaultScope
            instance, with a warning, when another scope is current).
    """
    import upertool.datasets  # noqa: F401
    import upertool.engine  # noqa: F401
    import upertool.evaluation  # noqa: F401
    import upertool.models  # noqa: F401
    import upertool.structures  # noqa: F401
    import upertool.visualization  # noqa: F401

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None or not DefaultScope.check_instance_created('upertool'):
        DefaultScope.get_instance('upertool', scope_name='upertool')
        return
    if current.scope_name != 'upertool':
        warnings.warn(f'The current default scope "{current.scope_name}" is not "upertool"; '
                      'register_all_modules sets it to "upertool". Pass '
                      'init_default_scope=False if that is not wanted.', stacklevel=2)
        DefaultScope.get_instance(f'upertool-{datetime.datetime.now()}', scope_name='upertool')
