"""Optimizer wrappers and constructors that mmengine lacks."""
from .bf16_autocast import BF16AutocastOptimWrapper, cpu_supports_bf16

__all__ = ['BF16AutocastOptimWrapper', 'cpu_supports_bf16']
