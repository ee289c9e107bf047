"""Building a model does not import transformers: mmengine registers its Adafactor later.

mmengine 0.10.x `mmengine/model/base_model/base_model.py` imports `mmengine.optim`, whose
`optimizer/builder.py` runs `register_transformers_optimizers()` at import time: `from
transformers import Adafactor` whenever transformers is installed (0.4-0.6 s and ~20 MiB in a
venv with upertool's `optional` extra). Every model is an mmengine `BaseModule`, so building
one for inference would pay for an optimizer it never uses.

`import_mmengine_model()` imports `mmengine.model` with transformers hidden, so that
registration finds nothing; `register_skipped_optimizers()` does it afterwards, before anything
builds an optimizer: with the Runner's fixes (`install_runner_fixes`) and when upertool's
engine package (the OPTIMIZERS registry's location) is imported. A process that imported
transformers before mmengine.model is left as mmengine would leave it.
"""
from __future__ import annotations

import sys

from ._patching import hidden_module

_skipped = False


def import_mmengine_model() -> None:
    """Import `mmengine.model` (and `mmengine.optim`) without importing transformers."""
    global _skipped
    if 'mmengine.optim' in sys.modules or 'transformers' in sys.modules:
        return
    with hidden_module('transformers'):
        import mmengine.model  # noqa: F401
    _skipped = True


def register_skipped_optimizers() -> None:
    """Register what mmengine's import-time registration skipped (Adafactor); idempotent."""
    global _skipped
    if not _skipped:
        return
    _skipped = False
    from mmengine.optim.optimizer import builder

    if 'Adafactor' not in builder.OPTIMIZERS.module_dict:
        # In place: mmengine.optim re-exports this list.
        builder.TRANSFORMERS_OPTIMIZERS.extend(builder.register_transformers_optimizers())
