"""Classical baselines, evaluated on the same rolling origins as the network.

Every baseline answers ``forecast(y, origins, horizon) -> (B, H, C)``: for each
origin ``o`` it sees only ``y[:o]`` (the truth before the origin) and forecasts
``y[o:o+H]``. Parameters are estimated once on the training part ``y[:n_train]``
and then re-applied, unchanged, to the longer history at each later origin.

* seasonal naive: ``f[o+k] = y[o+k-m(1+floor(k/m))]``, the last observed season
  repeated (``m = 1``: the last value).
* Holt-Winters (``statsmodels.tsa.holtwinters.ExponentialSmoothing``): additive
  damped trend, additive seasonality of period ``m`` (multiplicative when the
  series is forecast on a log scale by the network, i.e. ``multiplicative=True``),
  parameters and initial states estimated by maximum likelihood on the training
  part; at later origins the same model is filtered over ``y[:o]`` with those
  parameters (``initialization_method="known"``, ``optimized=False``).
* ARIMA (``statsmodels.tsa.arima.model.ARIMA``), only for short series: the
  "airline" model SARIMA(0,1,1)(0,1,1)m on the log for multiplicative series,
  else ARIMA(2,1,1) (plus a seasonal (0,1,1)m when m > 1 and the series has at
  least 3 seasons); re-applied at later origins with ``results.apply``.
"""

from __future__ import annotations

import warnings

import numpy as np

from rnnkit.errors import InputError

ARIMA_MAX_POINTS = 600      # "where quick": beyond this the state-space fit takes too long


def seasonal_naive(y: np.ndarray, origins, horizon: int, period: int) -> np.ndarray:
    """y (N, C) -> forecasts (B, H, C)."""
    origins = np.asarray(origins, dtype=np.int64)
    m = period
    k = np.arange(horizon)
    lag = m * (1 + k // m)                                              # (H,)
    if (origins - m < 0).any():
        raise InputError(f"seasonal naive needs at least period={m} points before each origin")
    return y[origins[:, None] - lag[None, :] + k[None, :]]              # (B, H, C)


def holt_winters(y, n_train, origins, horizon, period, multiplicative=False) -> np.ndarray:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    seasonal = None
    if period > 1 and n_train >= 2 * period:
        seasonal = "mul" if multiplicative else "add"
    out = np.empty((len(origins), horizon, y.shape[1]))
    for c in range(y.shape[1]):
        spec = dict(trend="add", damped_trend=True, seasonal=seasonal,
                    seasonal_periods=period if seasonal else None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = ExponentialSmoothing(y[:n_train, c], initialization_method="estimated",
                                       **spec).fit()
            p = fit.params
            known = dict(initial_level=p["initial_level"], initial_trend=p["initial_trend"])
            if seasonal:
                known["initial_seasonal"] = p["initial_seasons"]
            smoothing = {k: p[k] for k in ("smoothing_level", "smoothing_trend",
                                           "smoothing_seasonal", "damping_trend")
                         if not (seasonal is None and k == "smoothing_seasonal")}
            for b, o in enumerate(origins):
                model = ExponentialSmoothing(y[:o, c], initialization_method="known",
                                             **known, **spec)
                out[b, :, c] = model.fit(**smoothing, optimized=False).forecast(horizon)
    return out


def arima(y, n_train, origins, horizon, period, multiplicative=False) -> np.ndarray | None:
    """ARIMA forecasts (B, H, C), or None for series longer than ARIMA_MAX_POINTS."""
    if y.shape[0] > ARIMA_MAX_POINTS:
        return None
    from statsmodels.tsa.arima.model import ARIMA

    seasonal = period > 1 and n_train >= 3 * period
    order = (0, 1, 1) if multiplicative and seasonal else (2, 1, 1)
    seasonal_order = (0, 1, 1, period) if seasonal else (0, 0, 0, 0)
    f = np.log if multiplicative else (lambda v: v)
    inverse = np.exp if multiplicative else (lambda v: v)
    out = np.empty((len(origins), horizon, y.shape[1]))
    for c in range(y.shape[1]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = ARIMA(f(y[:n_train, c]), order=order, seasonal_order=seasonal_order).fit()
            for b, o in enumerate(origins):
                out[b, :, c] = inverse(fit.apply(f(y[:o, c])).forecast(horizon))
    return out
