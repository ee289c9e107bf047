"""Reduced-precision inference as an explicit choice: `test_cfg.precision` / `--precision`.

'fp32' runs as is. 'bf16' autocasts to bfloat16 on CUDA and on CPUs with native bf16
kernels (AVX512-BF16 / AMX); on other CPUs bf16 is emulated and slower than fp32, so it
falls back to fp32 and says so once. 'fp16' is CUDA only (CPU fp16 convolutions are slow).
"""
from __future__ import annotations

import contextlib

import torch
from mmengine.logging import print_log

PRECISIONS = ('fp32', 'bf16', 'fp16')
_warned: set[tuple[str, str]] = set()


def cpu_supports_bf16() -> bool:
    """True where the CPU has native bf16 instructions (AVX512-BF16 or AMX).

    oneDNN's own check (`torch.ops.mkldnn._is_mkldnn_bf16_supported`) also says yes on
    AVX-512 CPUs without them, where bf16 is emulated and slower than fp32.
    """
    cpu = getattr(torch, 'cpu', None)
    try:
        return bool(cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without these probes, or not x86
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False


def _fall_back(precision: str, device_type: str, why: str) -> contextlib.AbstractContextManager:
    if (precision, device_type) not in _warned:
        _warned.add((precision, device_type))
        print_log(f'precision {precision!r} on {device_type}: {why}; running in fp32',
                  logger='current')
    return contextlib.nullcontext()


def autocast_context(precision: str | None,
                     device: torch.device | str = 'cpu') -> contextlib.AbstractContextManager:
    """A context manager that runs the enclosed forward pass at `precision`.

    Raises:
        ValueError: for a precision other than fp32, bf16, fp16 (or None = fp32).
    """
    precision = precision or 'fp32'
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    device_type = torch.device(device).type
    if precision == 'fp32':
        return contextlib.nullcontext()
    if device_type == 'cuda':
        dtype = torch.bfloat16 if precision == 'bf16' else torch.float16
        return torch.autocast('cuda', dtype=dtype)
    if precision == 'fp16':
        return _fall_back(precision, device_type, 'fp16 is supported on CUDA only')
    if not cpu_supports_bf16():
        return _fall_back(precision, device_type,
                          'this CPU has no native bf16 (AVX512-BF16/AMX); emulated bf16 is '
                          'slower than fp32')
    return torch.autocast('cpu', dtype=torch.bfloat16)
