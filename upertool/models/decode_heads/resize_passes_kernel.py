"""The low-resolution fusion's height and width passes as one compiled loop (numba).

Imported only through `fused_resize_passes`, on first use: numba takes ~0.2 s to import,
and compiling these functions ~7 s the first time on a machine (then they load from
numba's on-disk cache in well under a second).

For each output row, every coarse level's nine tap maps are resized along the height into a
row buffer that stays in the core's cache, then along the width straight into the output
row: the output is read and written once for all levels, where the torch form writes a
full-resolution intermediate per level (the matrix products in `low_res_fusion`). A
bilinear resize reads at most two source positions per output position, so each shifted
height tap sums 2 source rows and each width position 2 x 3 (kx) source columns; the tables
(`fused_resize_passes.sparse_rows`) pad to those counts with zero weights.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

# 'contract' lets LLVM use fused multiply-adds; no reassociation, so NaN and inf behave as
# in the unfused sums
_FLAGS = {'contract'}


@numba.njit(fastmath=_FLAGS, cache=True, inline='always')
def _add_level_to_row(out_row, m, row_buffer, y, h_index, h_weight, w_index, w_weight):
    """out_row (W, C) += this level's contribution to output row `y`.

    m: (h, w, 3 ky, 3 kx, C) the level's tap maps; h_index/h_weight (3, H, 2): the two source
    rows of each vertical tap; w_index/w_weight (W, 6): the six (x, kx) columns, as 3x + kx.
    """
    w, channels = m.shape[1], m.shape[4]
    s0, s1 = h_index[0, y, 0], h_index[0, y, 1]
    s2, s3 = h_index[1, y, 0], h_index[1, y, 1]
    s4, s5 = h_index[2, y, 0], h_index[2, y, 1]
    a0, a1 = h_weight[0, y, 0], h_weight[0, y, 1]
    a2, a3 = h_weight[1, y, 0], h_weight[1, y, 1]
    a4, a5 = h_weight[2, y, 0], h_weight[2, y, 1]
    for x in range(w):
        for kx in range(3):
            target = row_buffer[3 * x + kx]
            p0, p1 = m[s0, x, 0, kx], m[s1, x, 0, kx]
            p2, p3 = m[s2, x, 1, kx], m[s3, x, 1, kx]
            p4, p5 = m[s4, x, 2, kx], m[s5, x, 2, kx]
            for c in range(channels):
                target[c] = (a0 * p0[c] + a1 * p1[c] + a2 * p2[c]
                             + a3 * p3[c] + a4 * p4[c] + a5 * p5[c])
    for x_out in range(out_row.shape[0]):
        target = out_row[x_out]
        q0, q1 = row_buffer[w_index[x_out, 0]], row_buffer[w_index[x_out, 1]]
        q2, q3 = row_buffer[w_index[x_out, 2]], row_buffer[w_index[x_out, 3]]
        q4, q5 = row_buffer[w_index[x_out, 4]], row_buffer[w_index[x_out, 5]]
        g0, g1 = w_weight[x_out, 0], w_weight[x_out, 1]
        g2, g3 = w_weight[x_out, 2], w_weight[x_out, 3]
        g4, g5 = w_weight[x_out, 4], w_weight[x_out, 5]
        for c in range(target.shape[0]):
            target[c] += (g0 * q0[c] + g1 * q1[c] + g2 * q2[c]
                          + g3 * q3[c] + g4 * q4[c] + g5 * q5[c])


@numba.njit(nogil=True, fastmath=_FLAGS, cache=True)
def add_rows(out, first, stop, count, m1, m2, m3, t1, t2, t3):
    """out[:, first:stop] (B, H, W, C) += the first `count` (1-3) levels' resized taps; m_i
    as `_add_level_to_row`'s `m` with a leading batch axis, t_i its (h_index, h_weight,
    w_index, w_weight)."""
    widest = max(m1.shape[2], m2.shape[2], m3.shape[2])  # (B, h, w, 3, 3, C)
    row_buffer = np.empty((3 * widest, out.shape[3]), out.dtype)
    for b in range(out.shape[0]):
        for y in range(first, stop):
            _add_level_to_row(out[b, y], m1[b], row_buffer, y, t1[0], t1[1], t1[2], t1[3])
            if count > 1:
                _add_level_to_row(out[b, y], m2[b], row_buffer, y, t2[0], t2[1], t2[2], t2[3])
            if count > 2:
                _add_level_to_row(out[b, y], m3[b], row_buffer, y, t3[0], t3[1], t3[2], t3[3])


@numba.njit(parallel=True, fastmath=_FLAGS, cache=True)
def add_rows_in_parallel(out, threads, count, m1, m2, m3, t1, t2, t3):
    """`add_rows` over all rows, split into `threads` contiguous ranges run side by side on
    numba's threads (set `numba.set_num_threads(threads)` first). A pool of our own threads
    ran 1.6x slower right after a torch op, while torch's OpenMP threads still spin."""
    height = out.shape[1]
    for job in prange(threads):
        add_rows(out, height * job // threads, height * (job + 1) // threads, count,
                 m1, m2, m3, t1, t2, t3)
