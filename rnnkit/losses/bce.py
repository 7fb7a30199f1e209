"""Binary cross-entropy on logits (sigmoid inside, numerically stable)::

    loss  = max(z, 0) - z y + log(1 + exp(-|z|))      # = -[y log s + (1-y) log(1-s)], s = sigmoid(z)
    L     = sum_valid loss / N_valid
    dL/dz = (sigmoid(z) - y) / N_valid   at valid positions, 0 elsewhere
"""

from __future__ import annotations

import numpy as np

from rnnkit._validation import require_forward
from rnnkit.errors import InputError
from rnnkit.losses.base import Loss, check_prediction


class BCEWithLogitsLoss(Loss):
    """Like ``torch.nn.BCEWithLogitsLoss``; targets are probabilities in [0, 1]."""

    def forward(self, logits, targets, mask=None):
        check_prediction(logits, "logits")
        targets = check_prediction(np.asarray(targets, dtype=logits.dtype), "targets")
        if targets.shape != logits.shape:
            raise InputError(f"targets must have the shape of logits {logits.shape}, got {targets.shape}")
        if targets.size and (targets.min() < 0 or targets.max() > 1):
            raise InputError("targets must lie in [0, 1]")
        weights, divisor = self._weights(mask, logits.shape)
        loss = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
        sig = 0.5 * (1.0 + np.tanh(0.5 * logits))
        d = sig - targets
        if weights is not None:
            loss = loss * weights
            d = d * weights
        self._cache = (d, divisor)
        return float(loss.sum() / divisor)

    def backward(self, scale=1.0):
        require_forward(self._cache, "BCEWithLogitsLoss")
        d, divisor = self._cache
        return d * (scale / divisor)
