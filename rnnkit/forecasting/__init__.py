"""Time-series forecasting with recurrent networks (issue 5 d).

One concept per module, in the order data flows through them::

    series.py     the default series (sunspots, co2, airpassengers, taylor) and user CSVs
    windows.py    calendar features, sliding windows, seasonal differencing (the
                  scaling, fitted on the train part: rnnkit.data.scaling.SeriesScaler)
    model.py      Forecaster: LSTM/GRU encoder + linear head, direct or recursive
    fit.py        training with rnnkit.training.Trainer, forecasting, checkpoints
    baselines.py  seasonal naive, Holt-Winters, ARIMA (statsmodels, imported lazily)
    metrics.py    MASE and sMAPE
    evaluate.py   every method on the same holdout, from the same rolling origins
    plot.py       the forecast PNG

The command line is ``rnnkit forecast train|eval|predict`` (``rnnkit/apps/forecast.py``).
"""

from rnnkit.forecasting.fit import ForecastConfig, forecast, load, train
from rnnkit.forecasting.model import Forecaster
from rnnkit.forecasting.series import DEFAULT_SERIES, TimeSeries, load_series, read_csv

__all__ = ["ForecastConfig", "Forecaster", "TimeSeries", "DEFAULT_SERIES", "load_series",
           "read_csv", "train", "forecast", "load"]
