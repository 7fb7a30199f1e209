"""What every direction's time loop shares: the step order and the padding mask.

States live in ``(T+1, B, H)`` arrays: the forward direction reads row ``t`` and writes
row ``t + 1``; the reverse direction runs ``t = T-1 .. 0``, reads row ``t + 1`` (row ``T``
holds its initial state) and writes row ``t``.
"""

from __future__ import annotations

import numpy as np


def steps(T, reverse):
    """Time indices in processing order, and (new, prev) rows of the (T+1, ...) state arrays."""
    if reverse:
        return [(t, t, t + 1) for t in range(T - 1, -1, -1)]
    return [(t, t + 1, t) for t in range(T)]


def padding(mask, T, B):
    """(T, B) bool, True where a step lies past a sequence's end."""
    return np.zeros((T, B), bool) if mask is None else ~mask[:, :, 0]


def outputs(HS, reverse, mask, keep):
    """The direction's outputs (T, B, H) from its state array HS (T+1, B, H): zero past
    each sequence's end; a copy when ``keep`` (the caller owns out, the cache keeps HS)."""
    T = HS.shape[0] - 1
    out_rows = HS[:T] if reverse else HS[1:]
    if mask is not None:
        return out_rows * mask
    return out_rows.copy() if keep else out_rows
