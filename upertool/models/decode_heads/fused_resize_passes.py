"""When and how the low-resolution fusion's resize passes run as one compiled loop.

`low_res_fusion` resizes each coarse level's tap maps with two banded matrix products per
level: small-K products that write a full-resolution intermediate per level and read and
write it again per tap (R-50 UPerNet at 512x512, its three coarse levels: ~26 ms).
`resize_passes_kernel` does the same sums row by row in cache (~7.5 ms on the same 2-core
AVX-512 host). It needs numba (a runtime dependency; without it, or with
UPERTOOL_NO_NUMBA=1, the torch form runs) and runs where the other eval-only fast paths run:
no autograd, no tracing or export, fp32 on CPU.
"""
from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from functools import lru_cache
from types import ModuleType

import numpy as np
import torch
from torch import Tensor

from upertool.models.utils.folded_conv import eval_fast_paths_may_run

HEIGHT_NONZEROS = 2  # source rows a shifted bilinear tap reads per output row
WIDTH_NONZEROS = 6  # source (x, kx) columns summed per output column: 2 x 3 taps
Tables = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@lru_cache(maxsize=1)
def kernel() -> ModuleType | None:
    """The compiled module, or None where numba is missing or turned off."""
    if os.environ.get('UPERTOOL_NO_NUMBA', '') not in ('', '0'):
        return None
    try:
        return importlib.import_module('upertool.models.decode_heads.resize_passes_kernel')
    except ImportError:
        return None


def can_run(out: Tensor) -> bool:
    """Whether the compiled passes may add into `out` (B, C, H, W), the fusion's result."""
    return (eval_fast_paths_may_run() and out.device.type == 'cpu' and out.dtype == torch.float32
            and out.is_contiguous(memory_format=torch.channels_last)
            and kernel() is not None)


def sparse_rows(matrix: Tensor, nonzeros: int) -> tuple[np.ndarray, np.ndarray]:
    """(index, weight), each (rows, nonzeros): the columns and values of each row's nonzero
    entries, padded with (0, 0.0). Raises ValueError if a row has more than `nonzeros`."""
    dense = matrix.detach().double().cpu().numpy()
    index = np.zeros((dense.shape[0], nonzeros), np.int32)
    weight = np.zeros((dense.shape[0], nonzeros), np.float32)
    for row, values in enumerate(dense):
        columns = np.flatnonzero(values)
        if len(columns) > nonzeros:
            raise ValueError(f'row {row} has {len(columns)} nonzero entries, more than '
                             f'{nonzeros}: not a bilinear resize')
        index[row, :len(columns)] = columns
        weight[row, :len(columns)] = values[columns]
    return index, weight


def level_tables(height_taps: Tensor, width_matrix: Tensor) -> Tables:
    """The kernel's tables for one level from `low_res_fusion`'s matrices: `height_taps`
    (3, H, h) per vertical tap, `width_matrix` (W, 3w) with columns 3x + kx."""
    rows = [sparse_rows(tap, HEIGHT_NONZEROS) for tap in height_taps]
    h_index = np.ascontiguousarray(np.stack([index for index, _ in rows]))
    h_weight = np.ascontiguousarray(np.stack([weight for _, weight in rows]))
    return (h_index, h_weight, *sparse_rows(width_matrix, WIDTH_NONZEROS))


def add_resized_levels(out: Tensor, levels: Sequence[tuple[Tensor, Tables]]) -> None:
    """out += every level's taps resized and shifted, summed over the nine taps; in place.

    Args:
        out: (B, C, H, W) channels-last fp32 (`can_run`).
        levels: per coarse level its (B, 9 * C, h, w) channels-last tap maps, channels
            ordered (ky, kx, c), and its `level_tables`.
    """
    compiled = kernel()
    rows = out.permute(0, 2, 3, 1).numpy()  # (B, H, W, C), a view of `out`
    maps = [(_as_taps(m, out.shape[1]), tables) for m, tables in levels]
    threads = _threads(compiled, out.shape[2])
    for start in range(0, len(maps), 3):  # the kernel takes up to three levels per pass
        group = maps[start:start + 3]
        padded = group + [group[0]] * (3 - len(group))  # unused slots: `count` skips them
        args = (len(group), *[m for m, _ in padded], *[t for _, t in padded])
        if threads == 1:  # no parallel region: also safe in a forked child
            compiled.add_rows(rows, 0, out.shape[2], *args)
        else:
            compiled.add_rows_in_parallel(rows, threads, *args)


def _as_taps(maps: Tensor, channels: int) -> np.ndarray:
    """(B, 9C, h, w) channels-last -> the (B, h, w, 3, 3, C) array view the kernel reads."""
    batch, _, h, w = maps.shape
    if not maps.is_contiguous(memory_format=torch.channels_last):
        raise ValueError('tap maps must be channels-last contiguous')
    return maps.permute(0, 2, 3, 1).reshape(batch, h, w, 3, 3, channels).numpy()


def _threads(compiled: ModuleType, height: int) -> int:
    """Torch's thread count (a user's `torch.set_num_threads` applies here too), within
    numba's and the rows'; numba's count is set to it for this thread."""
    threads = min(torch.get_num_threads(), compiled.numba.config.NUMBA_NUM_THREADS, height)
    if threads > 1:
        compiled.numba.set_num_threads(threads)
    return max(threads, 1)
