"""Mixed precision on CPUs: bf16 autocast around forward, fp32 master weights.

mmengine's AmpOptimWrapper asserts a CUDA/NPU/MLU device, so `--amp` on a CPU machine
fails there. bf16 keeps fp32's exponent range, so no loss scaling is needed.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from upertool.models.utils.precision import cpu_supports_bf16
from upertool.registry import OPTIM_WRAPPERS

__all__ = ['BF16AutocastOptimWrapper', 'cpu_supports_bf16']


@OPTIM_WRAPPERS.register_module()
class BF16AutocastOptimWrapper(OptimWrapper):
    """OptimWrapper that runs the model's forward under CPU (or CUDA) bf16 autocast."""

    def __init__(self, *args, device_type: str = 'cpu', **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.device_type = device_type

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        with super().optim_context(model):
            with torch.autocast(device_type=self.device_type, dtype=torch.bfloat16):
                yield
