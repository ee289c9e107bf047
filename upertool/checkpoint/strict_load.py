"""Load a checkpoint into a model for evaluation or inference: every key must match.

mmengine's `load_checkpoint` is non-strict and only warns, so an unrelated checkpoint, a
ResNet-34 file under a ResNet-18 config or a 6-class file under an 8-class config is scored
with random layers and exit 0. Here the checkpoint's weights are compared with the model's
state dict first; missing, unexpected or mis-shaped keys stop with a summary (counts and the
first keys of each kind). `strict=False` loads what fits and logs the same summary.
(Training's `load_from` stays non-strict: fine-tuning with a new head is its job.)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .safe_load import load_checkpoint_file

# Buffers that old checkpoints lack without harm (BatchNorm's counter, unused in eval).
_OPTIONAL_SUFFIXES = ('num_batches_tracked',)
# Training-only extras a checkpoint may carry beyond the model's weights: mmcv 1.x's EMA hook
# stored a flattened copy of every weight as an `ema_*` buffer. Never weights of the model;
# the offline converter drops the same keys.
TRAINING_ONLY_KEYS = re.compile(r'^ema_')


class CheckpointMismatchError(ValueError):
    """A checkpoint's weights do not fit the model (see the message's summary)."""


@dataclass
class StateDictDiff:
    """How a checkpoint's state dict differs from a model's."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    matched: int = 0

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.mismatched)

    def summary(self, first: int = 5) -> str:
        """One line per kind of difference: its count and the first `first` keys."""
        lines = [f'{self.matched} keys match']
        if self.missing:
            lines.append(
                f'{len(self.missing)} missing from the checkpoint (left as '
                f'initialised): {", ".join(self.missing[:first])}'
                + (', ...' if len(self.missing) > first else '')
            )
        if self.unexpected:
            lines.append(
                f'{len(self.unexpected)} unexpected (in the checkpoint, not in the '
                f'model): {", ".join(self.unexpected[:first])}'
                + (', ...' if len(self.unexpected) > first else '')
            )
        if self.mismatched:
            shown = [
                f'{k} checkpoint {list(c)} vs model {list(m)}'
                for k, c, m in self.mismatched[:first]
            ]
            lines.append(
                f'{len(self.mismatched)} with another shape: {"; ".join(shown)}'
                + (', ...' if len(self.mismatched) > first else '')
            )
        return '\n  '.join(lines)


def compare_state_dicts(
    model_state: Mapping[str, Any], checkpoint_state: Mapping[str, Any]
) -> StateDictDiff:
    """Missing, unexpected and mis-shaped keys of `checkpoint_state` against `model_state`."""
    diff = StateDictDiff()
    for key, value in model_state.items():
        if key not in checkpoint_state:
            if not key.endswith(_OPTIONAL_SUFFIXES):
                diff.missing.append(key)
            continue
        theirs = checkpoint_state[key]
        if (
            isinstance(value, torch.Tensor)
            and isinstance(theirs, torch.Tensor)
            and value.shape != theirs.shape
        ):
            diff.mismatched.append((key, tuple(theirs.shape), tuple(value.shape)))
        else:
            diff.matched += 1
    diff.unexpected = [k for k in checkpoint_state if k not in model_state]
    return diff


def checkpoint_state_dict(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """The weights of a loaded checkpoint as mmengine reads them (`state_dict` or the whole
    dict), without a DDP `module.` prefix and without training-only extras (`ema_*`)."""
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, Mapping):
        raise CheckpointMismatchError('the checkpoint holds no state dict')
    unwrapped = ((k[len('module.') :] if k.startswith('module.') else k, v)
                 for k, v in state.items())
    return {k: v for k, v in unwrapped if not TRAINING_ONLY_KEYS.match(k)}


def _target(model: nn.Module) -> nn.Module:
    """The segmentor inside DDP and test-time-augmentation wrappers."""
    from mmengine.model import BaseTTAModel, is_model_wrapper

    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def check_checkpoint_fits(
    model: nn.Module, path: str | os.PathLike, checkpoint: Mapping[str, Any] | None = None
) -> StateDictDiff:
    """Compare the weights in `path` with `model`; raise when they differ at all.

    Raises:
        CheckpointMismatchError: naming the file, with `StateDictDiff.summary()` and the
            opt-outs.
    """
    checkpoint = checkpoint if checkpoint is not None else load_checkpoint_file(path)
    diff = compare_state_dicts(_target(model).state_dict(), checkpoint_state_dict(checkpoint))
    if diff:
        raise CheckpointMismatchError(
            f'Checkpoint {os.fspath(path)} does not fit the model built from the config:\n  '
            f'{diff.summary()}\nIs it the checkpoint of this config (backbone depth, '
            'num_classes, head widths)? To load what fits anyway, pass '
            '--allow-partial-checkpoint (tools/test.py) or strict=False (init_model).'
        )
    return diff


def load_model_weights(
    model: nn.Module, path: str | os.PathLike, strict: bool = True, map_location: Any = 'cpu'
) -> dict[str, Any]:
    """Load `path` into `model` (strictly unless `strict=False`); return the checkpoint.

    With `strict=False` the fitting keys are loaded and the differences are logged.
    """
    from mmengine.logging import print_log

    checkpoint = load_checkpoint_file(path, map_location=map_location)
    state = checkpoint_state_dict(checkpoint)
    target = _target(model)
    if strict:
        check_checkpoint_fits(model, path, checkpoint)
        diff = StateDictDiff()
    else:
        diff = compare_state_dicts(target.state_dict(), state)
        bad = {k for k, _, _ in diff.mismatched}
        state = {k: v for k, v in state.items() if k not in bad}
        if diff:
            print_log(
                f'Loaded {os.fspath(path)} partially (strict=False):\n  {diff.summary()}',
                logger='current',
                level=30,
            )
    target.load_state_dict(state, strict=False)
    return dict(checkpoint)
