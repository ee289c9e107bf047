"""Keep glibc's malloc from returning every large tensor's memory to the kernel.

By default glibc serves each allocation over 32 MiB (the dynamic mmap threshold's ceiling)
with its own `mmap` and unmaps it when freed, so every forward pass of a segmentation model
at 512 px (feature maps of 8-157 MB) page-faults tens of thousands of fresh, zeroed pages
back in: on a 2-core host this was ~15% of an R-50 UPerNet forward pass (0.89 s -> 0.75 s
with the tuning; benchmarks/bench_inference.py). Raising the mmap and trim thresholds makes
freed blocks stay in the heap and be reused. The cost is memory the process keeps: freed
blocks stay mapped, and a fragmented heap grows (inference peak RSS about the same; an R-50
UPerNet training step at 512 px, batch 2: ~1.4 GiB more).

It is applied once by `import upertool` on Linux with glibc; `UPERTOOL_MALLOC_TUNING=0`
turns it off (e.g. to compare, or where returning memory promptly matters more than speed).
"""
from __future__ import annotations

import ctypes
import os

_M_TRIM_THRESHOLD = -1  # glibc malloc.h
_M_MMAP_THRESHOLD = -3
DEFAULT_THRESHOLD = 1 << 30  # 1 GiB: above any single activation of the shipped models
ENV_SWITCH = 'UPERTOOL_MALLOC_TUNING'


def tune_glibc_malloc(threshold: int = DEFAULT_THRESHOLD) -> bool:
    """Set glibc's mmap and trim thresholds to `threshold` bytes.

    Returns:
        True when both were set; False where there is no glibc (macOS, Windows, musl) or
        `UPERTOOL_MALLOC_TUNING=0` is set, in which case nothing changes.
    """
    if os.environ.get(ENV_SWITCH, '1').strip().lower() in ('0', 'false', 'no', 'off'):
        return False
    try:  # glibc only: the name of the C library this process runs on
        if not os.confstr('CS_GNU_LIBC_VERSION').startswith('glibc'):
            return False
        mallopt = ctypes.CDLL(None).mallopt  # the process's own symbols: no library lookup
    except (AttributeError, OSError, ValueError):  # no confstr name, no mallopt (musl, ...)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # the trim threshold first: setting either turns off glibc's dynamic adjustment
    return bool(mallopt(_M_TRIM_THRESHOLD, threshold)) and bool(
        mallopt(_M_MMAP_THRESHOLD, threshold))
