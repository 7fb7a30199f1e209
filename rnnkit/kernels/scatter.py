"""The embedding's backward, ``dW[ids[n]] += d[n]`` for n = 0, 1, ..., in one compiled loop.

``np.add.at(dW, ids, d)`` adds the same rows in the same order (so the sums are equal bit for
bit, ``tests/test_blocks.py``) but goes through NumPy's general indexed-ufunc machinery: the
text-generation model's 3,200 rows of 64 took 2.5 ms that way and 0.21 ms here (2026-12-08).
"""

from __future__ import annotations

from rnnkit.kernels._jit import njit


@njit
def add_rows(dW, ids, d):
    """dW (V, E) += d (N, E) row by row into the rows ``ids`` (N,) name, in order."""
    for n in range(ids.shape[0]):
        row = ids[n]
        for e in range(d.shape[1]):
            dW[row, e] += d[n, e]
