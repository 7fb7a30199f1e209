"""Softmax and log-softmax over the last axis, the two normalisations every model, loss and
search here shares. Both subtract the row maximum first, so ``exp`` cannot overflow::

    log_softmax(z) = (z - max z) - log sum exp(z - max z)
    softmax(z)     = exp(z - max z) / sum exp(z - max z)
"""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-softmax over the last axis."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
