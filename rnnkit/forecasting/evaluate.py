"""Score the network and the baselines on the same holdout, from the same origins.

Rolling-origin evaluation over the last ``test_size`` points: origins
``o = n_train, n_train + stride, ...`` while ``o + H <= N`` (``stride`` defaults to
``H``, so the forecasts tile the holdout without overlap). Every method forecasts
``y[o:o+H]`` seeing only ``y[:o]``; MASE uses the train part's seasonal-naive
error as its scale (``rnnkit/forecasting/metrics.py``).

The classical baselines run in both of their forms whatever the network's ``log``
setting, so the network always meets the stronger one: Holt-Winters with additive
seasonality (``holt_winters``) and, where every value is positive, multiplicative
(``holt_winters_multiplicative``); ARIMA on the values (``arima``) and, where positive,
the airline model on their log (``arima_log``).
"""

from __future__ import annotations

import time

import numpy as np

from rnnkit.errors import InputError
from rnnkit.forecasting import baselines, metrics
from rnnkit.forecasting.fit import ForecastConfig, Prepared, forecast
from rnnkit.forecasting.model import Forecaster
from rnnkit.forecasting.series import TimeSeries

METHODS = ("rnn", "seasonal_naive", "holt_winters", "holt_winters_multiplicative", "arima",
           "arima_log")


def holdout_origins(n_points: int, test_size: int, horizon: int, stride: int | None = None) -> np.ndarray:
    stride = horizon if stride is None else stride
    if test_size < horizon:
        raise InputError(f"test_size={test_size} must be at least horizon={horizon}")
    return np.arange(n_points - test_size, n_points - horizon + 1, stride)


def evaluate(model: Forecaster, data: Prepared, series: TimeSeries, config: ForecastConfig,
             test_size: int, stride: int | None = None, with_baselines: bool = True) -> dict:
    """Metrics of every method on the holdout.

    Returns ``{"origins": [...], "methods": {name: {"mase", "smape", "seconds"}},
    "forecasts": {name: (B, H, C) array}, "truth": (B, H, C) array}``; a baseline
    that does not apply (ARIMA on a long series) is absent.
    """
    y, H, m = series.values, config.horizon, series.period
    n_train = len(series) - test_size
    origins = holdout_origins(len(series), test_size, H, stride)
    truth = y[origins[:, None] + np.arange(H)[None, :]]                 # (B, H, C)
    scale = metrics.mase_scale(y[:n_train], m)
    runs = {"rnn": lambda: forecast(model, data, origins, config)}
    if with_baselines:
        runs["seasonal_naive"] = lambda: baselines.seasonal_naive(y, origins, H, m)
        runs["holt_winters"] = lambda: baselines.holt_winters(y, n_train, origins, H, m, False)
        runs["arima"] = lambda: baselines.arima(y, n_train, origins, H, m, False)
        if (y > 0).all():                                   # the log forms need y > 0
            runs["holt_winters_multiplicative"] = lambda: baselines.holt_winters(
                y, n_train, origins, H, m, True)
            runs["arima_log"] = lambda: baselines.arima(y, n_train, origins, H, m, True)
    results, forecasts = {}, {}
    for name, run in runs.items():
        start = time.perf_counter()
        predicted = run()
        if predicted is None:
            continue
        forecasts[name] = predicted
        results[name] = {"mase": metrics.mase(truth, predicted, scale),
                         "smape": metrics.smape(truth, predicted),
                         "seconds": time.perf_counter() - start}
    return {"origins": origins.tolist(), "methods": results, "forecasts": forecasts, "truth": truth}
