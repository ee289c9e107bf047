"""Optimizer wrappers and constructors that mmengine lacks (OPTIMIZERS' location: importing
this also registers mmengine's transformers optimizers if building a model skipped them)."""
from upertool.compat.optional_optimizers import register_skipped_optimizers

from .bf16_autocast import BF16AutocastOptimWrapper, cpu_supports_bf16
from .layer_decay_constructor import (
                                      LayerDecayOptimizerConstructor,
                                      LearningRateDecayOptimizerConstructor,
)

__all__ = ['BF16AutocastOptimWrapper', 'LayerDecayOptimizerConstructor',
           'LearningRateDecayOptimizerConstructor', 'cpu_supports_bf16']

register_skipped_optimizers()
