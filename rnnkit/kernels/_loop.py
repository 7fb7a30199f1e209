"""What every direction's time loop shares: the step order and the padding.

States live in ``(T+1, B, H)`` arrays: the forward direction reads row ``t`` and writes
row ``t + 1``; the reverse direction runs ``t = T-1 .. 0``, reads row ``t + 1`` (row ``T``
holds its initial state) and writes row ``t``.

Padding arrives in one form, ``padded`` (T, B) bool (True at steps past a sequence's
end) or None, and is handled in one way: a padded row keeps its previous state in
forward; in backward it contributes nothing and its state gradient is *carried* past
the step unchanged (``carry``), as the reference loop in ``rnnkit/cells/kernel.py`` does.
"""

from __future__ import annotations

import numpy as np

from rnnkit.kernels import _workspace as workspace
from rnnkit.kernels._jit import njit


def steps(T, reverse):
    """Time indices in processing order, and (new, prev) rows of the (T+1, ...) state arrays."""
    if reverse:
        return [(t, t, t + 1) for t in range(T - 1, -1, -1)]
    return [(t, t + 1, t) for t in range(T)]


@njit
def step_rows(k, T, reverse):
    """The k-th entry of :func:`steps`, for the compiled loops: (t, new, prev). A
    backward loop takes entry ``T - 1 - k`` at its k-th step."""
    t = T - 1 - k if reverse else k
    return (t, t, t + 1) if reverse else (t, t + 1, t)


def padding(padded, T, B):
    """``padded`` as an array for the compiled loops: all False when it is None."""
    return np.zeros((T, B), bool) if padded is None else padded


def outputs(HS, reverse, padded, keep):
    """The direction's outputs (T, B, H) from its state array HS (T+1, B, H): zero past
    each sequence's end; a copy when ``keep`` (the caller owns out, the cache keeps HS)."""
    T = HS.shape[0] - 1
    out_rows = HS[:T] if reverse else HS[1:]
    if padded is not None:
        return np.where(padded[:, :, None], 0, out_rows)
    if not keep:
        return out_rows
    out = workspace.empty(out_rows.shape, out_rows.dtype)
    out[...] = out_rows
    return out


# float32 batches of at most PACKED_BATCH rows run their whole loop compiled, around the
# packed product of ``rnnkit/kernels/_gemm.py`` (W_hh packed once per call, on one core);
# larger ones call BLAS per step. Measured 2026-12-07, one thread, LSTM inference /
# training ms, BLAS loop -> packed loop: (B, T, D, H) = (4, 188, 61, 232) 19.7 -> 10.0 /
# 48.2 -> 28.2; (7, 128, 42, 506) 137.5 -> 60.1 / 313.5 -> 163.8; (32, 100, 128, 128)
# 23.6 -> 19.6 / 60.0 -> 50.0; (50, 48, 25, 113) 9.6 -> 9.6 / 27.7 -> 29.3.
# Packing W_hh costs what copying it does: calls of fewer than PACK_FROM_ROWS rows (T * B;
# one-token generation) keep the BLAS loop.
# One core streams a W_hh that does not stay in its cache more slowly than BLAS's two:
# only W_hh of at most PACKED_WEIGHTS entries (4 MB in float32) is packed (measured
# 2026-12-07, LSTM (B, T, H) = (16, 200, 1024) inference: 0.74x torch packed, 1.05x BLAS).
# From about 16 MFLOP a step, BLAS's two threads match the packed kernel's one core
# (the product alone, (B, H) = (16, 512): 58.7 vs 58.5 GFLOP/s; (32, 512): 64.6 vs
# 61.2), and the text-generation model (B = 32, H = 512) trained at 0.69x torch packed,
# 0.75x with BLAS: steps of PACKED_STEP_FLOPS or more keep the BLAS loop.
PACKED_BATCH = 32
PACK_FROM_ROWS = 64
PACKED_WEIGHTS = 1 << 20
PACKED_STEP_FLOPS = 1 << 24
# Split between two cores (``rnnkit/kernels/_workers.py``), the packed loop beats the
# BLAS loop up to 64 rows and a W_hh of 16 MB, whatever the step's size (measured
# 2026-12-07, LSTM training / inference vs torch, BLAS loop -> packed on two cores:
# (B, T, H) = (32, 100, 512) 0.81 -> 0.94 / 0.79 -> 1.05; (64, 50, 512) 0.92 -> 0.99 /
# 0.80 -> 0.91; (16, 200, 1024) 1.00 -> 1.25 / 0.88 -> 1.27; (64, 50, 1024) 0.91 -> 1.08 /
# 0.81 -> 0.85; (64, 100, 128) 0.80 -> 1.04 / 0.74 -> 1.04).
PACKED_BATCH_WORKERS = 64
PACKED_WEIGHTS_WORKERS = 1 << 22


def runs_packed(dtype, T, B, weights, workers=1) -> bool:
    """Whether a direction's loop runs compiled around the packed product: float32, at
    least PACK_FROM_ROWS rows in all, and on one core at most PACKED_BATCH rows a step, a
    W_hh of at most PACKED_WEIGHTS entries and a step's product under PACKED_STEP_FLOPS;
    on ``workers`` > 1 cores at most PACKED_BATCH_WORKERS rows and PACKED_WEIGHTS_WORKERS
    entries."""
    if dtype != np.float32 or T * B < PACK_FROM_ROWS:
        return False
    if workers > 1:
        return B <= PACKED_BATCH_WORKERS and weights <= PACKED_WEIGHTS_WORKERS
    return B <= PACKED_BATCH and weights <= PACKED_WEIGHTS and 2 * B * weights < PACKED_STEP_FLOPS


# Rows (T * B) from which a contiguous copy of W_hh^T pays for itself: BLAS runs
# h @ W^T up to 25% faster on it than on the transposed view at a small batch, but
# the copy reads and writes all of W_hh, as much as one step's product at B = 1.
COPY_FROM_ROWS = 64


def copy_pays(rows) -> bool:
    """Whether a call with ``rows`` (T * B) rows of products pays for copying W_hh^T."""
    return rows >= COPY_FROM_ROWS


def transposed_weights(W_hh, rows):
    """W_hh^T (H, G) for ``rows`` steps' worth of products: a contiguous copy for a long
    call, the view for a short one (one-token generation: T = B = 1)."""
    return np.ascontiguousarray(W_hh.T) if copy_pays(rows) else W_hh.T
