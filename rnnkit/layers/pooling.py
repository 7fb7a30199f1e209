"""Last-valid-output pooling: the many-to-one read-out of a recurrent layer.

For sequence ``b`` of length ``L_b``::

    forward:   y_b = out[L_b - 1, b]                           # (T, B, F) -> (B, F)
    backward:  d_out[L_b - 1, b] = dy_b, zero elsewhere

With ``bidirectional=True`` the feature axis is ``[forward H | reverse H]`` and the
reverse half is read at ``t = 0``, where the reverse direction has seen the
whole sequence: ``y_b = [out[L_b - 1, b, :H], out[0, b, H:]]``.
"""

from __future__ import annotations

import numpy as np

from rnnkit._validation import check_lengths, require_forward
from rnnkit.errors import InputError
from rnnkit.module import Module, is_grad_enabled


class LastValid(Module):
    """Select each sequence's output at its last valid step. ``lengths=None`` means all T."""

    takes_lengths = True

    def __init__(self, bidirectional=False, batch_first=False):
        self.bidirectional = bool(bidirectional)
        self.batch_first = bool(batch_first)
        self._cache = None

    def forward(self, out, lengths=None):
        if not isinstance(out, np.ndarray) or out.ndim != 3:
            layout = "(B, T, F)" if self.batch_first else "(T, B, F)"
            raise InputError(f"out must be a numpy.ndarray of shape {layout}, got {getattr(out, 'shape', type(out))}")
        seq = out.transpose(1, 0, 2) if self.batch_first else out          # (T, B, F)
        T, B, F = seq.shape
        if self.bidirectional and F % 2:
            raise InputError(f"bidirectional pooling needs an even feature size, got {F}")
        last = np.full(B, T - 1) if lengths is None else check_lengths(lengths, B, T) - 1
        batch = np.arange(B)
        y = seq[last, batch].copy()                                        # (B, F)
        if self.bidirectional:
            y[:, F // 2:] = seq[0, :, F // 2:]
        self._cache = (seq.shape, out.dtype, last) if is_grad_enabled() else None
        return y

    def backward(self, dy):
        require_forward(self._cache, "LastValid")
        (T, B, F), dtype, last = self._cache
        if not isinstance(dy, np.ndarray) or dy.shape != (B, F):
            raise InputError(f"dy must have shape (B={B}, F={F}), got {getattr(dy, 'shape', type(dy))}")
        d_seq = np.zeros((T, B, F), dtype)
        batch = np.arange(B)
        if self.bidirectional:
            d_seq[last, batch, : F // 2] = dy[:, : F // 2]
            d_seq[0, :, F // 2:] += dy[:, F // 2:]
        else:
            d_seq[last, batch] = dy
        self._cache = None
        return d_seq.transpose(1, 0, 2) if self.batch_first else d_seq
