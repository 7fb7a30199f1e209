"""Masked mean and max over time: many-to-one read-outs that see every valid step.

For sequence ``b`` of length ``L_b`` and features ``out (T, B, F)`` (zero past ``L_b``)::

    mean:  y_b = (1 / L_b) sum_{t < L_b} out[t, b]             d_out[t, b] = dy_b / L_b   (t < L_b)
    max:   y_b = max_{t < L_b} out[t, b]                        d_out[t*, b] = dy_b       (argmax t*)

Padded steps never contribute (max treats them as -inf). ``lengths=None`` means all T.
"""

from __future__ import annotations

import numpy as np

from rnnkit._validation import check_lengths, require_forward
from rnnkit.errors import InputError
from rnnkit.module import Module, is_grad_enabled


def _check_out(out) -> np.ndarray:
    if not isinstance(out, np.ndarray) or out.ndim != 3 or out.dtype.kind != "f":
        raise InputError(
            f"out must be a float numpy.ndarray of shape (T, B, F), "
            f"got {getattr(out, 'shape', type(out).__name__)}"
        )
    return out


def _valid_mask(T: int, B: int, lengths) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.full(B, T) if lengths is None else check_lengths(lengths, B, T)
    return (np.arange(T)[:, None] < lengths[None, :])[:, :, None], lengths   # (T, B, 1)


class MeanOverTime(Module):
    """Average of each sequence's valid outputs: ``(T, B, F) -> (B, F)``."""

    takes_lengths = True

    def __init__(self):
        self._cache = None

    def forward(self, out, lengths=None):
        out = _check_out(out)
        T, B, _ = out.shape
        valid, lengths = _valid_mask(T, B, lengths)
        scale = (1.0 / lengths).astype(out.dtype)[:, None]                   # (B, 1)
        y = np.where(valid, out, 0).sum(0) * scale                            # (B, F)
        self._cache = (out.shape, valid, scale) if is_grad_enabled() else None
        return y

    def backward(self, dy):
        require_forward(self._cache, "MeanOverTime")
        shape, valid, scale = self._cache
        self._cache = None
        return np.where(valid, (dy * scale)[None], 0).astype(dy.dtype)     # (T, B, F)


class MaxOverTime(Module):
    """Element-wise maximum of each sequence's valid outputs: ``(T, B, F) -> (B, F)``."""

    takes_lengths = True

    def __init__(self):
        self._cache = None

    def forward(self, out, lengths=None):
        out = _check_out(out)
        T, B, _ = out.shape
        valid, _ = _valid_mask(T, B, lengths)
        masked = np.where(valid, out, -np.inf)
        arg = masked.argmax(0)                                                # (B, F)
        y = np.take_along_axis(out, arg[None], 0)[0]                          # (B, F)
        self._cache = (out.shape, out.dtype, arg) if is_grad_enabled() else None
        return y

    def backward(self, dy):
        require_forward(self._cache, "MaxOverTime")
        shape, dtype, arg = self._cache
        self._cache = None
        d_out = np.zeros(shape, dtype)
        np.put_along_axis(d_out, arg[None], dy[None], 0)
        return d_out
