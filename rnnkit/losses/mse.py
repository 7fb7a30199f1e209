"""Mean squared error::

    L     = sum_valid (p - y)^2 / N_valid
    dL/dp = 2 (p - y) / N_valid   at valid positions, 0 elsewhere
"""

from __future__ import annotations

import numpy as np

from rnnkit._validation import require_forward
from rnnkit.errors import InputError
from rnnkit.losses.base import Loss, check_prediction


class MSELoss(Loss):
    """Like ``torch.nn.MSELoss``, with an optional boolean mask of valid positions."""

    def forward(self, predictions, targets, mask=None):
        check_prediction(predictions, "predictions")
        targets = check_prediction(np.asarray(targets, dtype=predictions.dtype), "targets")
        if targets.shape != predictions.shape:
            raise InputError(f"targets must have the shape of predictions {predictions.shape}, got {targets.shape}")
        weights, divisor = self._weights(mask, predictions.shape)
        diff = predictions - targets
        sq = diff * diff
        if weights is not None:
            diff = diff * weights
            sq = sq * weights
        self._cache = (diff, divisor)
        return float(sq.sum() / divisor)

    def backward(self, scale=1.0):
        require_forward(self._cache, "MSELoss")
        diff, divisor = self._cache
        return diff * (2.0 * scale / divisor)
