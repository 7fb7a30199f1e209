"""What the losses share: target/mask checks and the masked mean.

Every loss reduces over the positions where ``mask`` is true (all positions when
``mask`` is None): ``reduction='mean'`` divides by their count, ``'sum'`` does not.
``forward(...) -> float`` caches what ``backward()`` needs; ``backward(scale=1.0)``
returns ``dL/d(input)`` times ``scale``, zero at masked-out positions.
"""

from __future__ import annotations

import numpy as np

from rnnkit.errors import InputError, InputTypeError
from rnnkit.module import Module

REDUCTIONS = ("mean", "sum")


class Loss(Module):
    def __init__(self, reduction="mean"):
        if reduction not in REDUCTIONS:
            raise InputError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction
        self._cache = None

    @staticmethod
    def _check_mask(mask, shape) -> np.ndarray | None:
        if mask is None:
            return None
        mask = np.asarray(mask)
        if mask.dtype != bool:
            raise InputTypeError(f"mask must be a boolean array of shape {shape}, got dtype {mask.dtype}")
        if mask.shape != shape:
            raise InputError(f"mask must have shape {shape}, got {mask.shape}")
        return mask

    def _weights(self, mask, shape) -> tuple[np.ndarray | None, float]:
        """The checked mask (or None) and the reduction's divisor."""
        weights = self._check_mask(mask, shape)
        count = int(np.prod(shape)) if weights is None else int(weights.sum())
        if self.reduction == "sum":
            return weights, 1.0
        if count == 0:
            raise InputError("mask selects no position: the mean loss is undefined")
        return weights, float(count)


def check_prediction(x, name: str) -> np.ndarray:
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise InputTypeError(f"{name} must be a float numpy.ndarray, got {getattr(x, 'dtype', type(x).__name__)}")
    if not np.isfinite(x).all():
        raise InputError(f"{name} contains NaN or inf values")
    return x
