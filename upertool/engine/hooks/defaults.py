"""The robustness hooks every upertool run gets, whether or not its config lists them."""

from __future__ import annotations

from typing import Any

# In the order they are added; each hook's own priority decides when it runs.
ROBUSTNESS_HOOKS = ('RunChecksHook', 'DivergenceGuardHook', 'DataErrorCheckpointHook')


def _type_name(hook: Any) -> str:
    kind = hook.get('type', '') if isinstance(hook, dict) else type(hook)
    return (kind if isinstance(kind, str) else kind.__name__).split('.')[-1]


def ensure_robustness_hooks(
    cfg: Any, nonfinite_policy: str | None = None, training: bool = True
) -> None:
    """Add the missing robustness hooks to `cfg.custom_hooks`.

    tools/train.py and tools/test.py call this, so configs that do not inherit upertool's
    `default_runtime.py` (e.g. mmsegmentation's own) are covered too.

    Args:
        cfg: the run's Config (changed in place).
        nonfinite_policy: 'stop' or 'skip' for `DivergenceGuardHook`; None keeps the config's.
        training: False adds only what evaluation needs (`RunChecksHook`).
    """
    hooks = list(cfg.get('custom_hooks') or [])
    present = {_type_name(h) for h in hooks}
    wanted = ROBUSTNESS_HOOKS if training else ('RunChecksHook',)
    hooks += [dict(type=name) for name in wanted if name not in present]
    if nonfinite_policy is not None:
        for hook in hooks:
            if isinstance(hook, dict) and _type_name(hook) == 'DivergenceGuardHook':
                hook['policy'] = nonfinite_policy
    cfg.custom_hooks = hooks
