"""Inverted dropout: zero each activation with probability p, scale the rest by 1/(1-p).

    forward (training):  mask = (u >= p) / (1 - p),  y = x * mask   (u ~ U[0, 1))
    forward (eval):      y = x
    backward:            dx = dy * mask
"""

from __future__ import annotations

import numpy as np

from rnnkit._validation import check_probability, require_forward
from rnnkit.errors import InputTypeError
from rnnkit.module import Module, is_grad_enabled


class Dropout(Module):
    """Dropout with its own seeded generator (``seed``), active only in training mode."""

    def __init__(self, p=0.5, seed=None):
        self.p = check_probability(p, "p")
        self.rng = np.random.default_rng(seed)
        self._mask = None

    def forward(self, x):
        if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
            raise InputTypeError(f"x must be a float numpy.ndarray, got {type(x).__name__}")
        if not self.training or self.p == 0:
            mask = None
            y = x
        else:
            keep = 1.0 - self.p
            mask = ((self.rng.random(x.shape) < keep) / keep).astype(x.dtype)
            y = x * mask
        self._mask = (mask,) if is_grad_enabled() else None
        return y

    def backward(self, dy):
        require_forward(self._mask, "Dropout")
        (mask,) = self._mask
        self._mask = None
        return dy if mask is None else dy * mask

    def __repr__(self):
        return f"Dropout(p={self.p})"
