"""Forecast accuracy: MASE and sMAPE, averaged over forecasts, steps and columns.

For truth ``y`` and forecast ``f`` over the holdout, and training series ``y_train``
with seasonal period ``m`` (Hyndman & Koehler, 2006; Makridakis, M4 competition)::

    scale = mean_t |y_train[t] - y_train[t - m]|           # in-sample seasonal-naive MAE
    MASE  = mean |y - f| / scale                           # < 1: better than in-sample naive
    sMAPE = 100 * mean 2 |y - f| / (|y| + |f|)             # percent, in [0, 200]; 0/0 counts 0

Both are computed per value column and then averaged over the columns.
"""

from __future__ import annotations

import numpy as np

from rnnkit.errors import InputError


def mase_scale(y_train: np.ndarray, period: int) -> np.ndarray:
    """In-sample seasonal-naive MAE per column: y_train (N, C) -> (C,)."""
    m = period if y_train.shape[0] > period else 1
    scale = np.abs(y_train[m:] - y_train[:-m]).mean(axis=0)
    return np.where(scale > 0, scale, 1.0)


def mase(truth: np.ndarray, forecast: np.ndarray, scale: np.ndarray) -> float:
    """truth, forecast (..., C); scale (C,)."""
    _check_pair(truth, forecast)
    err = np.abs(truth - forecast).reshape(-1, truth.shape[-1]).mean(axis=0)   # (C,)
    return float((err / scale).mean())


def smape(truth: np.ndarray, forecast: np.ndarray) -> float:
    """truth, forecast (..., C), in percent."""
    _check_pair(truth, forecast)
    denom = np.abs(truth) + np.abs(forecast)
    ratio = np.divide(2 * np.abs(truth - forecast), denom,
                      out=np.zeros_like(denom), where=denom > 0)
    return float(100 * ratio.reshape(-1, truth.shape[-1]).mean(axis=0).mean())


def _check_pair(truth, forecast):
    if truth.shape != forecast.shape:
        raise InputError(f"forecast must have the shape of truth {truth.shape}, got {forecast.shape}")
