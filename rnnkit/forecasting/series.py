"""Time series to forecast: the six default series and the user's CSV files.

A :class:`TimeSeries` is a ``(N, C)`` float64 array of ``C`` value columns over
``N`` equally spaced time steps, the time labels beside it, and the seasonal
period ``m`` that the seasonal-naive baseline and MASE use.

Default series (nothing is downloaded at run time):

============== ====== ======== ===== =================================================
name           N      step     m     source
============== ====== ======== ===== =================================================
sunspots       309    year     11    ``statsmodels.datasets.sunspots`` (1700-2008)
co2            2284   week     52    ``statsmodels.datasets.co2`` (Mauna Loa, 1958-2001;
                                     the 59 missing weeks are filled by linear interpolation)
airpassengers  144    month    12    ``pmdarima`` 2.1.1 wheel, ``datasets/airpassengers.py``
taylor         4032   30 min   336   ``pmdarima`` 2.1.1 wheel, ``datasets/taylor.py``
                                     (England & Wales demand from Mon 5 June 2000, MW)
wineind        176    month    12    ``pmdarima`` 2.1.1 wheel, ``datasets/wineind.py``
                                     (Australian wine sales, bottles under 1 litre,
                                     1980-01 to 1994-08, thousands of litres)
lynx           114    year     10    ``pmdarima`` 2.1.1 wheel, ``datasets/lynx.py``
                                     (Canadian lynx trappings 1821-1934; the cycle is
                                     9-10 years, so the seasonal baselines use m = 10)
============== ====== ======== ===== =================================================

The pmdarima series are array literals inside the wheel's Python source; they
are read from the zip and parsed with ``ast.literal_eval`` (pmdarima itself is
neither installed nor imported, and nothing from the wheel is executed).
"""

from __future__ import annotations

import ast
import zipfile
from dataclasses import dataclass

import numpy as np

from rnnkit._validation import check_scalar
from rnnkit.data.textfile import csv_rows, read_utf8
from rnnkit.errors import InputError

DEFAULT_SERIES = ("sunspots", "co2", "airpassengers", "taylor", "wineind", "lynx")


@dataclass
class TimeSeries:
    """``values`` (N, C) float64; ``times`` (N,) datetime64, float or str labels."""

    name: str
    values: np.ndarray
    columns: tuple[str, ...]
    times: np.ndarray
    period: int

    def __post_init__(self):
        if self.values.ndim != 2 or self.values.shape[1] != len(self.columns):
            raise InputError(
                f"values must have shape (N, C={len(self.columns)}), got {self.values.shape}")
        if self.times.shape != (self.values.shape[0],):
            raise InputError(f"times must have shape (N={self.values.shape[0]},), got {self.times.shape}")
        if not np.isfinite(self.values).all():
            raise InputError(f"series {self.name!r} contains NaN or inf values")

    def __len__(self) -> int:
        return self.values.shape[0]

    @property
    def has_dates(self) -> bool:
        return np.issubdtype(self.times.dtype, np.datetime64)


# --------------------------------------------------------------------------- defaults


def load_series(name: str) -> TimeSeries:
    """One of :data:`DEFAULT_SERIES` by name."""
    loaders = {"sunspots": load_sunspots, "co2": load_co2,
               "airpassengers": load_airpassengers, "taylor": load_taylor,
               "wineind": load_wineind, "lynx": load_lynx}
    if name not in loaders:
        raise InputError(f"series must be one of {', '.join(DEFAULT_SERIES)}, got {name!r}")
    return loaders[name]()


def load_sunspots() -> TimeSeries:
    from statsmodels.datasets import sunspots

    frame = sunspots.load_pandas().data
    years = frame["YEAR"].to_numpy().astype(np.int64)
    times = (years - 1970).astype("datetime64[Y]")
    values = frame["SUNACTIVITY"].to_numpy(np.float64)[:, None]
    return TimeSeries("sunspots", values, ("SUNACTIVITY",), times, period=11)


def load_co2() -> TimeSeries:
    from statsmodels.datasets import co2

    frame = co2.load_pandas().data
    raw = frame["co2"].to_numpy(np.float64)                     # (N,) with NaN gaps
    known = np.isfinite(raw)
    steps = np.arange(raw.size)
    filled = np.interp(steps, steps[known], raw[known])
    times = frame.index.to_numpy().astype("datetime64[D]")
    return TimeSeries("co2", filled[:, None], ("co2",), times, period=52)


def load_airpassengers() -> TimeSeries:
    values = _pmdarima_array("airpassengers")
    times = np.datetime64("1949-01", "M") + np.arange(values.size)
    return TimeSeries("airpassengers", values[:, None], ("passengers",), times, period=12)


def load_taylor() -> TimeSeries:
    values = _pmdarima_array("taylor")
    times = np.datetime64("2000-06-05T00:00", "m") + 30 * np.arange(values.size)
    return TimeSeries("taylor", values[:, None], ("demand_mw",), times, period=336)


def load_wineind() -> TimeSeries:
    values = _pmdarima_array("wineind")
    times = np.datetime64("1980-01", "M") + np.arange(values.size)
    return TimeSeries("wineind", values[:, None], ("sales",), times, period=12)


def load_lynx() -> TimeSeries:
    values = _pmdarima_array("lynx")
    times = (np.arange(1821, 1821 + values.size) - 1970).astype("datetime64[Y]")
    return TimeSeries("lynx", values[:, None], ("trappings",), times, period=10)


def _pmdarima_array(name: str) -> np.ndarray:
    """The ``np.array([...])`` literal in ``pmdarima/datasets/<name>.py`` of the wheel."""
    from rnnkit.datasets import archive_path

    member = f"pmdarima/datasets/{name}.py"
    with zipfile.ZipFile(archive_path("pmdarima")) as wheel:
        source = wheel.read(member).decode("utf-8")
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "array"
                and node.args and isinstance(node.args[0], ast.List)):
            return np.asarray(ast.literal_eval(node.args[0]), dtype=np.float64)
    raise InputError(f"no array literal found in {member} of the pmdarima wheel")


# --------------------------------------------------------------------------- user CSV


def read_csv(path, time_col: str, value_cols, period: int | None = None,
             exog_cols=()) -> tuple[TimeSeries, np.ndarray | None]:
    """Read a CSV with a header row, a time column and numeric value columns.

    Parameters
    ----------
    path : str or PathLike
    time_col : str
        Column of time stamps: ISO dates/datetimes (``2020-01-31``,
        ``2020-01-31 13:30``), or numbers (``1700``), or any other labels.
        Rows must be in time order and equally spaced.
    value_cols : sequence of str
        The columns to forecast (one: univariate; several: multivariate).
    period : int, optional
        Seasonal period ``m``; inferred from the time step when None
        (30 min -> 48, hour -> 24, day -> 7, week -> 52, month -> 12, quarter -> 4, else 1).
    exog_cols : sequence of str
        Extra numeric input columns (past covariates), not forecast.

    Returns
    -------
    series : TimeSeries
    exog : (N, E) float64 or None
    """
    value_cols = _check_names(value_cols, "value_cols")
    exog_cols = _check_names(exog_cols, "exog_cols", allow_empty=True)
    overlap = (set(value_cols) | set(exog_cols)) & {time_col}
    if overlap or set(value_cols) & set(exog_cols):
        raise InputError("time_col, value_cols and exog_cols must name different columns")
    rows = [r for r in csv_rows(read_utf8(path, "CSV file"), str(path)) if any(cell.strip() for cell in r)]
    if not rows:
        raise InputError(f"{path}: the file is empty (expected a header row and data rows)")
    header = [h.strip() for h in rows[0]]
    if len(rows) < 2:
        raise InputError(f"{path}: the file has a header but no data rows")
    twice = [h for i, h in enumerate(header) if h and h in header[:i]]
    if twice:
        raise InputError(f"{path}: column {twice[0]!r} appears more than once in the header; "
                         f"give each column its own name")
    for col in (time_col, *value_cols, *exog_cols):
        if col not in header:
            raise InputError(f"{path}: no column {col!r}; the header has {header}")
    index = {name: header.index(name) for name in (time_col, *value_cols, *exog_cols)}
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) < len(header):
            raise InputError(f"{path}: line {lineno} has {len(row)} fields, the header has {len(header)}")
    values = _numeric_columns(rows, index, value_cols, path)
    exog = _numeric_columns(rows, index, exog_cols, path) if exog_cols else None
    times = _parse_times([r[index[time_col]].strip() for r in rows[1:]], path, time_col)
    if period is None:
        period = infer_period(times)
    else:
        check_scalar(period, "period", int, low=1)
    name = str(path)
    return TimeSeries(name, values, tuple(value_cols), times, int(period)), exog


def _check_names(names, arg: str, allow_empty=False) -> list[str]:
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(names or [])
    if not names and not allow_empty:
        raise InputError(f"{arg} must name at least one column")
    if len(set(names)) != len(names):
        raise InputError(f"{arg} names a column twice: {names}")
    return names


def _numeric_columns(rows, index, cols, path) -> np.ndarray:
    out = np.empty((len(rows) - 1, len(cols)), dtype=np.float64)    # (N, C)
    for j, col in enumerate(cols):
        for i, row in enumerate(rows[1:]):
            cell = row[index[col]].strip()
            try:
                out[i, j] = float(cell)
            except ValueError:
                raise InputError(
                    f"{path}: line {i + 2}, column {col!r}: {cell!r} is not a number"
                    + (" (missing value: fill or drop the row)" if not cell else "")) from None
            if not np.isfinite(out[i, j]):
                raise InputError(f"{path}: line {i + 2}, column {col!r}: {cell!r} is not finite")
    return out


def _parse_times(cells: list[str], path, time_col: str) -> np.ndarray:
    for parse in (_as_datetimes, _as_floats):
        times = parse(cells)
        if times is not None:
            steps = np.diff(times)
            if (steps <= steps.dtype.type(0)).any():
                raise InputError(f"{path}: column {time_col!r} must be strictly increasing")
            if parse is _as_datetimes:
                _check_equally_spaced(times, path, time_col)
            return times
    return np.asarray(cells, dtype=str)


def _check_equally_spaced(times: np.ndarray, path, time_col: str) -> None:
    """Refuse dates with a gap or an uneven step, naming the first one.

    The model and the seasonal period treat row k as step k; a missing date would
    silently shift every later season. Calendar steps count as even: month starts
    (2020-01-01, 2020-02-01), month ends (2020-01-31, 2020-02-29), quarters and years,
    as pandas' ``MS``/``ME``/``QS``/``YS`` frequencies.
    """
    if times.size < 3:
        return
    steps, unit = np.diff(times), "time"
    months = times.astype("datetime64[M]")
    month_start = months.astype(times.dtype)
    next_month = (months + 1).astype(times.dtype)
    if (steps != steps[0]).any() and (
            ((times - month_start) == (times[0] - month_start[0])).all()
            or ((next_month - times) == (next_month[0] - times[0])).all()):
        steps, unit = np.diff(months), "month"          # calendar-aligned: compare in months
    if (steps == steps[0]).all():
        return
    values, counts = np.unique(steps, return_counts=True)
    usual = values[np.argmax(counts)]
    k = int(np.flatnonzero(steps != usual)[0])
    raise InputError(
        f"{path}: column {time_col!r} is not equally spaced: {times[k]} (line {k + 2}) to "
        f"{times[k + 1]} (line {k + 3}) is {_describe_step(steps[k], unit)}, the usual step is "
        f"{_describe_step(usual, unit)}; fill the missing rows or resample to a regular step "
        f"(pandas: df.asfreq(...)), or number the rows if they are consecutive steps "
        f"(e.g. trading days)")


def _describe_step(step: np.timedelta64, unit: str) -> str:
    if unit == "month":
        n, name = int(step.astype(np.int64)), "month"
        if n % 12 == 0:
            n, name = n // 12, "year"
    else:
        seconds = step / np.timedelta64(1, "s")
        size, name = next(((size, name) for size, name in
                           ((86400, "day"), (3600, "hour"), (60, "minute")) if seconds % size == 0),
                          (1, "second"))
        n = seconds / size
        n = int(n) if float(n).is_integer() else n
    return f"{n} {name}" + ("" if n == 1 else "s")


def _as_datetimes(cells):
    # Only cells that look like dates: a bare number such as 1700 stays a number.
    if not any(sep in cells[0].lstrip("-") for sep in ("-", ":", "T")):
        return None
    try:
        return np.array([np.datetime64(c.replace(" ", "T")) for c in cells])
    except ValueError:
        return None


def _as_floats(cells):
    try:
        return np.array([float(c) for c in cells])
    except ValueError:
        return None


_PERIOD_BY_STEP = [  # (step in minutes, period): nearest step wins
    (30, 48), (60, 24), (24 * 60, 7), (7 * 24 * 60, 52), (30.4 * 24 * 60, 12),
    (91.3 * 24 * 60, 4), (365.25 * 24 * 60, 1)]


def infer_period(times: np.ndarray) -> int:
    """Seasonal period from the median time step of datetime labels (1 otherwise)."""
    if not np.issubdtype(times.dtype, np.datetime64) or times.size < 2:
        return 1
    step = float(np.median(np.diff(times).astype("timedelta64[m]").astype(np.float64)))
    ratios = [abs(np.log(step / s)) for s, _ in _PERIOD_BY_STEP]
    best = int(np.argmin(ratios))
    return _PERIOD_BY_STEP[best][1] if ratios[best] < np.log(1.2) else 1
