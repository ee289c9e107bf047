"""Optimizer wrappers and constructors that mmengine lacks."""
from .bf16_autocast import BF16AutocastOptimWrapper, cpu_supports_bf16
from .layer_decay_constructor import (
                                      LayerDecayOptimizerConstructor,
                                      LearningRateDecayOptimizerConstructor,
)

__all__ = ['BF16AutocastOptimWrapper', 'LayerDecayOptimizerConstructor',
           'LearningRateDecayOptimizerConstructor', 'cpu_supports_bf16']
