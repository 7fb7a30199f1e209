"""Finite-difference gradient checking, for tests and for learners.

Central differences in float64: ``dL/dw ~ (L(w + eps) - L(w - eps)) / (2 eps)``.
Compare with the analytic gradient by the norm-wise relative error
``||a - n|| / (||a|| + ||n||)``, which is ~1e-10 for a correct backward pass
(element-wise ratios blow up on entries that are nearly zero).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Gradient of the scalar ``f()`` with respect to ``array``, perturbed in place."""
    grad = np.zeros_like(array)
    it = np.nditer(array, flags=["multi_index"])
    for _ in it:
        idx = it.multi_index
        saved = array[idx]
        array[idx] = saved + eps
        plus = f()
        array[idx] = saved - eps
        minus = f()
        array[idx] = saved
        grad[idx] = (plus - minus) / (2 * eps)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """``||a - n|| / (||a|| + ||n||)``; 0 when both gradients are zero."""
    denom = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return float(np.linalg.norm(analytic - numeric) / denom) if denom > 0 else 0.0
