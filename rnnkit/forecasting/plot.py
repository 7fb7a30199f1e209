"""The forecast PNG: history, truth and forecasts of one value column.

matplotlib is imported lazily and drawn through the Agg canvas directly (no
pyplot, no global backend switch); the file is written atomically.
"""

from __future__ import annotations

import os

import numpy as np


def plot_forecast(path, times, history, forecast_times, forecasts: dict, truth=None,
                  title: str = "", column: str = "value") -> str:
    """Write ``path`` (PNG).

    Parameters
    ----------
    times, history : (N,) time labels and values of the observed series.
    forecast_times : (B, H) time labels of each forecast.
    forecasts : {method name: (B, H) values}; the first is drawn boldest.
    truth : (B, H) values or None (the future is unknown).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise OSError("the forecast plot needs matplotlib: pip install 'rnnkit[apps]'") from exc
    x_hist, x_fc = _plottable(times), _plottable(forecast_times)
    fig = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(x_hist, history, color="0.45", linewidth=0.9, label="history")
    if truth is not None:
        for b in range(truth.shape[0]):
            ax.plot(x_fc[b], truth[b], color="black", linewidth=1.4,
                    label="truth" if b == 0 else None)
    styles = ["-", "--", ":", "-."]
    for i, (name, values) in enumerate(forecasts.items()):
        for b in range(values.shape[0]):
            ax.plot(x_fc[b], values[b], styles[i % 4], color=f"C{i}",
                    linewidth=1.8 if i == 0 else 1.0, label=name if b == 0 else None)
    ax.set_title(title)
    ax.set_ylabel(column)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    path = os.fspath(path)
    from rnnkit.distributed import is_writer

    if not is_writer():             # mpirun: rank 0 alone writes files
        return path
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.tmp.png")
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _plottable(times):
    """Dates as datetime64[s] (matplotlib converts them); other labels as positions."""
    times = np.asarray(times)
    if np.issubdtype(times.dtype, np.datetime64):
        return times.astype("datetime64[s]")
    if np.issubdtype(times.dtype, np.number):
        return times
    return np.arange(times.size).reshape(times.shape)
