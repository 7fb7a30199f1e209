"""From a series to network inputs: calendar features, sliding windows, seasonal differencing.

Notation: ``y`` (N, C) is the raw series, ``z = (f(y) - mean) / std`` the scaled one
(``f`` is ``log`` when ``log=True``, else the identity), with ``mean`` and ``std``
per column fitted **on the training part only** by
:class:`rnnkit.data.scaling.SeriesScaler`.

The input at time step ``t`` of a window is one row of ``D = C + E + F`` features::

    x_t = [ z_t - ref,  exog_t,  cal_{t+1} ]       # (C,) (E,) (F,)

``exog`` are the user's extra columns (scaled like ``z``, known up to ``t``) and
``cal_{t+1}`` the calendar features of the step being predicted next (known in
advance). ``ref`` (C,) makes each window translation-invariant ("level"
normalisation, so a trend that leaves the training range stays in range):

* direct strategy, many-to-one: ``ref = z_{o-1}``, the last value before the
  forecast origin ``o``; the target is ``z_{o..o+H-1} - ref`` flattened to (H*C,).
* recursive strategy, many-to-many: ``ref = z_s``, the first value of the window
  ``z_{s..s+W-1}`` (causal at every step); the target at step ``t`` is ``z_{t+1} - ref``.

With ``level=False``, ``ref = 0``.

Seasonal differencing (``lag = m > 0``) replaces ``z`` by ``d_t = z_t - z_{t-m}``
before all of the above (a network output of 0 is then the seasonal-naive
forecast), and forecasts are integrated back: ``z_{o+k} = d_{o+k} + z_{o+k-m}``,
where ``z_{o+k-m}`` is itself a forecast when ``k >= m``.
"""

from __future__ import annotations

import numpy as np

from rnnkit.errors import InputError

STRATEGIES = ("direct", "recursive")


def seasonal_difference(z: np.ndarray, lag: int) -> np.ndarray:
    """d (N, C): ``d_t = z_t - z_{t-lag}`` for ``t >= lag``, 0 before (never used)."""
    if lag == 0:
        return z
    if lag >= z.shape[0]:
        raise InputError(f"seasonal_diff={lag} must be shorter than the series ({z.shape[0]} points)")
    d = np.zeros_like(z)
    d[lag:] = z[lag:] - z[:-lag]
    return d


def seasonal_undifference(d_hat: np.ndarray, levels: np.ndarray, origins, lag: int) -> np.ndarray:
    """Integrate forecast differences d_hat (B, H, C) from origins (B,) back to levels."""
    B, H, _ = d_hat.shape
    z_hat = np.empty_like(d_hat)
    for k in range(H):
        if k < lag:
            base = levels[np.asarray(origins) + k - lag]                # (B, C) observed
        else:
            base = z_hat[:, k - lag]                                    # (B, C) forecast
        z_hat[:, k] = d_hat[:, k] + base
    return z_hat


# --------------------------------------------------------------------------- calendar


def calendar_features(times: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Sine/cosine encodings of the calendar cycles finer than a year.

    Chosen by the time step: below a day, time of day and day of week; daily,
    day of week and day of year; weekly, day of year; monthly, month of year.
    Yearly (or non-date) labels have none: returns ``(N, 0)``.
    """
    times = np.asarray(times)
    if not np.issubdtype(times.dtype, np.datetime64) or times.size < 2:
        return np.zeros((times.size, 0)), []
    minutes = times.astype("datetime64[m]").astype(np.int64)           # since 1970-01-01 00:00
    step = float(np.median(np.diff(minutes)))
    days = minutes / 1440.0
    cycles = []
    if step < 1440:
        cycles.append(("time_of_day", (minutes % 1440) / 1440.0))
    if step < 7 * 1440:
        cycles.append(("day_of_week", ((days + 3) % 7) / 7.0))          # 1970-01-01 was a Thursday
    if 1440 <= step < 28 * 1440:
        year_start = times.astype("datetime64[Y]").astype("datetime64[m]").astype(np.int64)
        cycles.append(("day_of_year", (minutes - year_start) / (365.25 * 1440)))
    elif 28 * 1440 <= step < 360 * 1440:
        months = times.astype("datetime64[M]").astype(np.int64)
        cycles.append(("month_of_year", (months % 12) / 12.0))
    columns, names = [], []
    for name, phase in cycles:
        columns += [np.sin(2 * np.pi * phase), np.cos(2 * np.pi * phase)]
        names += [f"{name}_sin", f"{name}_cos"]
    if not columns:
        return np.zeros((times.size, 0)), []
    return np.stack(columns, axis=1), names                             # (N, F)


def extend_times(times: np.ndarray, steps: int) -> np.ndarray:
    """``times`` followed by ``steps`` more labels at the median spacing (N + steps,)."""
    if steps == 0:
        return times
    if np.issubdtype(times.dtype, np.datetime64) or np.issubdtype(times.dtype, np.number):
        step = np.diff(times)
        step = np.sort(step)[step.size // 2] if step.size else 1
        return np.concatenate([times, times[-1] + step * np.arange(1, steps + 1)])
    return np.concatenate([times, np.array([f"+{k}" for k in range(1, steps + 1)])])


# --------------------------------------------------------------------------- windows


def window_inputs(z, exog, cal, start, window, ref) -> np.ndarray:
    """Inputs of windows starting at ``start`` (B,): (T=window, B, D).

    z (N, C), exog (N, E), cal (N + 1 or more, F), ref (B, C).
    """
    steps = start[None, :] + np.arange(window)[:, None]                 # (T, B)
    parts = [z[steps] - ref[None, :, :]]                                # (T, B, C)
    if exog.shape[1]:
        parts.append(exog[steps])                                       # (T, B, E)
    if cal.shape[1]:
        parts.append(cal[steps + 1])                                    # (T, B, F)
    return np.concatenate(parts, axis=2)


def direct_windows(z, exog, cal, origins, window, horizon, level=True):
    """Many-to-one windows: X (W, B, D), Y (B, H*C), ref (B, C) for forecast origins (B,)."""
    origins = np.asarray(origins, dtype=np.int64)
    ref = z[origins - 1] if level else np.zeros((origins.size, z.shape[1]))
    X = window_inputs(z, exog, cal, origins - window, window, ref)
    Y = None
    if (origins + horizon <= z.shape[0]).all():
        steps = origins[:, None] + np.arange(horizon)[None, :]          # (B, H)
        Y = (z[steps] - ref[:, None, :]).reshape(origins.size, -1)      # (B, H*C)
    return X, Y, ref


def recursive_windows(z, exog, cal, starts, window, level=True):
    """Many-to-many windows: X (W, B, D), Y (W, B, C) (next values), ref (B, C)."""
    starts = np.asarray(starts, dtype=np.int64)
    ref = z[starts] if level else np.zeros((starts.size, z.shape[1]))
    X = window_inputs(z, exog, cal, starts, window, ref)
    steps = starts[None, :] + np.arange(1, window + 1)[:, None]         # (W, B)
    Y = z[steps] - ref[None, :, :]
    return X, Y, ref
