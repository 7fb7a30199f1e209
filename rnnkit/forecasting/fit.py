"""Train a :class:`Forecaster` on a series, forecast with it, save and load it.

The series is cut in time order::

    |<------------------ train (n_train) ------------------>|<---- test (holdout) ---->|
    |<----------- fit windows ----------->|<-- validation -->|

The scaler is fitted on the train part only. Fit windows have all their targets
before the validation cut; validation windows have their targets in the
validation part (their inputs may reach back before it). Training keeps the
weights with the lowest validation loss and stops after ``patience`` epochs
without improvement. The test part is never seen until evaluation
(``rnnkit/forecasting/evaluate.py``), where forecasts start at rolling origins
and see only the truth before their origin.

With ``base`` (direct strategy), the network corrects a classical forecast instead of
forecasting from the window's level (a hybrid, as the M4 winner corrected exponential
smoothing, Smyl 2020)::

    b_{o,k}  = scale(B(y[:o])_k)                 # the base method's forecast from origin o
    target   = z_{o+k} - b_{o,k}                 # k = 0..H-1, (B, H*C)
    forecast = b_{o,k} + network output          # an output of 0 is the base forecast

``B`` is one of ``rnnkit.forecasting.baselines``' methods (``BASES``), its parameters
estimated on the points before the holdout (on the whole series in ``predict``) and
re-applied unchanged at every origin, training origins included.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from rnnkit._validation import check_scalar
from rnnkit.data.scaling import SeriesScaler
from rnnkit.errors import InputError
from rnnkit.forecasting.model import Forecaster
from rnnkit.forecasting.series import TimeSeries
from rnnkit.forecasting.windows import (
    STRATEGIES,
    calendar_features,
    direct_windows,
    extend_times,
    recursive_windows,
    seasonal_difference,
    seasonal_undifference,
)
from rnnkit.forecasting import baselines
from rnnkit.losses import MSELoss
from rnnkit.module import no_grad
from rnnkit.optim import Adam


# base -> (the baseline function, its log/multiplicative form), as evaluate.py scores them
BASE_METHODS = {"holt_winters": (baselines.holt_winters, False),
                "holt_winters_multiplicative": (baselines.holt_winters, True),
                "arima": (baselines.arima, False), "arima_log": (baselines.arima, True)}
BASES = ("none", *BASE_METHODS)


@dataclass
class ForecastConfig:
    """Everything that defines a forecasting run (plain keyword arguments, JSON-able)."""

    window: int = 24             # input steps W
    horizon: int = 12            # forecast steps H
    strategy: str = "direct"     # "direct" (many-to-one, H outputs) or "recursive" (many-to-many)
    cell: str = "lstm"           # a name in rnnkit.CELLS
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0
    epochs: int = 200
    batch_size: int = 32
    lr: float = 3e-3
    clip: float = 1.0            # global gradient-norm clipping
    patience: int = 20           # early stopping: epochs without a better validation loss
    val_fraction: float = 0.15   # share of the train part held out for validation
    log: bool = False            # forecast log(y) (multiplicative seasonality; y > 0)
    level: bool = True           # level-normalise each window (see windows.py)
    calendar: bool = True        # calendar features from the time labels, when they are dates
    seasonal_diff: int = 0       # lag m: the network sees z_t - z_{t-m} (0: no differencing)
    base: str = "none"           # a classical forecast the network corrects (one of BASES)
    seed: int = 0

    def __post_init__(self):
        for name in ("window", "horizon", "hidden_size", "num_layers", "epochs", "batch_size",
                     "patience"):
            check_scalar(getattr(self, name), name, int, low=1)
        check_scalar(self.seasonal_diff, "seasonal_diff", int, low=0)
        if self.strategy not in STRATEGIES:
            raise InputError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.base not in BASES:
            raise InputError(f"base must be one of {BASES}, got {self.base!r}")
        if self.base != "none" and (self.strategy != "direct" or self.seasonal_diff):
            raise InputError(f"base={self.base!r} needs strategy 'direct' without seasonal_diff "
                             f"(got strategy {self.strategy!r}, seasonal_diff {self.seasonal_diff}; "
                             f"--strategy direct --seasonal-diff 0): the network corrects the "
                             f"base's whole forecast")
        check_scalar(self.val_fraction, "val_fraction", float, low=0.0, high=0.5,
                     include_low=False, include_high=False)
        if not self.lr > 0 or not self.clip > 0:
            raise InputError("lr and clip must be positive")


@dataclass
class Prepared:
    """A series turned into scaled network features."""

    z: np.ndarray                # (N, C) what the network sees: scaled values, or their
                                 # seasonal differences (first `lag` rows 0)
    levels: np.ndarray           # (N, C) scaled values (undifferenced)
    lag: int                     # seasonal-difference lag, 0 for none
    exog: np.ndarray             # (N, E) scaled exogenous columns
    cal: np.ndarray              # (N + H + 1, F) calendar features, past the end too
    scaler: SeriesScaler
    exog_scaler: SeriesScaler | None
    calendar_names: list = field(default_factory=list)
    values: np.ndarray | None = None   # (N, C) the raw series, for the base forecasts
    n_train: int = 0             # the base's parameters are estimated on values[:n_train]
    period: int = 1
    base: str = "none"
    _base_cache: dict = field(default_factory=dict)

    @property
    def input_size(self) -> int:
        return self.z.shape[1] + self.exog.shape[1] + self.cal.shape[1]

    def base_forecasts(self, origins, horizon: int) -> np.ndarray:
        """``b`` (B, H, C): the base method's forecasts from ``origins`` (B,), scaled as
        ``z``; each origin's is computed once (statsmodels refits per origin)."""
        missing = sorted({int(o) for o in origins} - set(self._base_cache))
        if missing:
            run, multiplicative = BASE_METHODS[self.base]
            raw = run(self.values, self.n_train, np.array(missing), horizon, self.period,
                      multiplicative)                                    # (M, H, C)
            if self.scaler.log and not (raw > 0).all():
                o = missing[int(np.flatnonzero((raw <= 0).any(axis=(1, 2)))[0])]
                raise InputError(f"base={self.base!r} forecasts values <= 0 from origin {o}, "
                                 f"whose log is undefined; use log=False or another base")
            for o, f in zip(missing, raw):
                self._base_cache[o] = self.scaler.transform(f)           # (H, C)
        return np.stack([self._base_cache[int(o)] for o in origins])


def prepare(series: TimeSeries, exog, config: ForecastConfig, n_train: int,
            scaler: SeriesScaler | None = None, exog_scaler: SeriesScaler | None = None) -> Prepared:
    """Scale (fitting the scalers on ``[:n_train]`` unless given) and build features."""
    if scaler is None:
        scaler = SeriesScaler(config.log).fit(series.values[:n_train])
    levels = scaler.transform(series.values)
    z = seasonal_difference(levels, config.seasonal_diff)
    if exog is not None and exog.shape[1]:
        if exog_scaler is None:
            exog_scaler = SeriesScaler().fit(exog[:n_train])
        exog_z = exog_scaler.transform(exog)
    else:
        exog_z, exog_scaler = np.zeros((len(series), 0)), None
    if config.calendar:
        cal, names = calendar_features(extend_times(series.times, config.horizon + 1))
    else:
        cal, names = np.zeros((len(series) + config.horizon + 1, 0)), []
    return Prepared(z, levels, config.seasonal_diff, exog_z, cal, scaler, exog_scaler, names,
                    series.values, n_train, series.period, config.base)


def check_length(n_points: int, config: ForecastConfig, test_size: int) -> None:
    """Refuse a series too short for ``window + horizon`` windows to train and validate on."""
    W, H = config.window, config.horizon
    n_train = n_points - test_size
    need = W + H + 2 * max(H, 1) + 8 + config.seasonal_diff
    if n_train < need:
        raise InputError(
            f"the series has {n_points} points, {n_train} before the {test_size}-point holdout; "
            f"window={W} and horizon={H} need at least {need} (lower --window/--horizon/--test-size)")


def check_setup(series: TimeSeries, exog, config: ForecastConfig, test_size: int) -> None:
    """Everything about the data and config that can be refused before training starts."""
    if exog is not None and exog.shape[1] and config.strategy == "recursive":
        raise InputError("exogenous columns are known only up to the forecast origin, so the "
                         "recursive strategy cannot feed them forward; use --strategy direct")
    if exog is not None and exog.shape[0] != len(series):
        raise InputError(f"exog must have shape (N={len(series)}, E), got {exog.shape}")
    check_length(len(series), config, test_size)
    check_base(series, config)


def check_base(series: TimeSeries, config: ForecastConfig) -> None:
    """Refuse a base method the series cannot have."""
    if config.base == "none":
        return
    run, multiplicative = BASE_METHODS[config.base]
    if multiplicative and not (series.values > 0).all():
        plain = next(b for b, (f, m) in BASE_METHODS.items() if f is run and not m)
        raise InputError(f"base={config.base!r} needs every value > 0; use {plain!r}")
    if run is baselines.arima and len(series) > baselines.ARIMA_MAX_POINTS:
        raise InputError(f"base={config.base!r} runs on series of at most "
                         f"{baselines.ARIMA_MAX_POINTS} points, this one has {len(series)}; "
                         f"use a Holt-Winters base")


def window_starts(config: ForecastConfig, n_train: int) -> tuple[np.ndarray, np.ndarray]:
    """Fit and validation windows: forecast origins (direct) or window starts (recursive)."""
    W, H, lag = config.window, config.horizon, config.seasonal_diff
    cut = n_train - max(int(round(config.val_fraction * n_train)), H)
    if config.strategy == "direct":
        fit = np.arange(W + lag, cut - H + 1)              # targets o..o+H-1 < cut
        val = np.arange(max(cut, W + lag), n_train - H + 1)  # targets in [cut, n_train)
    else:
        fit = np.arange(lag, cut - W)                      # targets s+1..s+W < cut
        val = np.arange(max(cut - W, lag), n_train - W)    # last target in [cut, n_train)
    if fit.size == 0 or val.size == 0:
        raise InputError("too few points for window+horizon after the validation split")
    return fit, val


def make_batch(data: Prepared, starts, config: ForecastConfig, dtype=np.float32):
    if config.strategy == "direct":
        X, Y, ref = direct_windows(data.z, data.exog, data.cal, starts, config.window,
                                   config.horizon, config.level)
        if config.base != "none":                   # z - b = (z - ref) - (b - ref)
            Y = Y - _base_offset(data, starts, config, ref).reshape(Y.shape)
    else:
        X, Y, _ = recursive_windows(data.z, data.exog, data.cal, starts, config.window, config.level)
    return X.astype(dtype), Y.astype(dtype)


class WindowObjective:
    """The trainer's objective for forecasting windows (MSE in scaled units).

    ``batch.inputs`` (W, B, D); ``batch.targets`` (B, H*C) for direct windows, or
    (B, W, C) for recursive ones, compared with the model's (W, B, C) output.
    """

    carries_state = False

    def __init__(self):
        self.loss = MSELoss()

    def _pair(self, model, batch):
        pred = model.forward(batch.inputs)
        targets = batch.targets
        if targets.ndim == 3:
            targets = targets.transpose(1, 0, 2)                       # (B, W, C) -> (W, B, C)
        return pred, targets

    def train_step(self, model, batch, state=None):
        pred, targets = self._pair(model, batch)
        loss = self.loss.forward(pred, targets)
        model.backward(self.loss.backward())
        return loss, None

    def evaluate(self, model, data, max_batches=None) -> dict:
        total, count = 0.0, 0
        n = data.num_batches if max_batches is None else min(max_batches, data.num_batches)
        with no_grad():
            for i in range(n):
                batch = data.batch(0, i)
                pred, targets = self._pair(model, batch)
                total += self.loss.forward(pred, targets) * targets.size
                count += targets.size
        return {"loss": total / count}


def window_batches(data: Prepared, starts, config: ForecastConfig, shuffle: bool):
    """A :class:`~rnnkit.training.SequenceBatches` over the windows at ``starts``."""
    from rnnkit.training import SequenceBatches

    X, Y = make_batch(data, starts, config)
    return SequenceBatches(np.ascontiguousarray(X.transpose(1, 0, 2)),          # (N, W, D)
                           np.ascontiguousarray(Y.transpose(1, 0, 2) if Y.ndim == 3 else Y),
                           config.batch_size, shuffle=shuffle, seed=config.seed)


def train(series: TimeSeries, exog, config: ForecastConfig, test_size: int, out_dir=None,
          progress=None, extra=None, max_minutes=None, resume: bool = False):
    """Fit a Forecaster on ``series[:N - test_size]`` with :class:`rnnkit.training.Trainer`.

    Validation runs at every epoch end; the best weights (lowest validation loss)
    are kept, and training stops after ``config.patience`` epochs without
    improvement. With ``out_dir`` the trainer writes ``checkpoint.npz`` (its
    ``extra`` holds the config, the scalers and ``extra``), ``metrics.jsonl`` and
    ``loss_curve.png`` there.

    Returns ``(model, data, summary)``: the model with its best weights in eval
    mode, the prepared features, and the trainer's summary. ``resume=True`` continues the
    run in ``out_dir`` from its checkpoint (same series, config and test size; ``epochs``
    and ``patience`` may grow).
    """
    from rnnkit.training import Trainer

    check_setup(series, exog, config, test_size)
    n_train = len(series) - test_size
    data = prepare(series, exog, config, n_train)
    fit_starts, val_starts = window_starts(config, n_train)
    model = Forecaster(data.input_size, series.values.shape[1], horizon=_model_horizon(config),
                       strategy=config.strategy, cell=config.cell, hidden_size=config.hidden_size,
                       num_layers=config.num_layers, dropout=config.dropout, seed=config.seed)
    trainer = Trainer(model, Adam(model.parameters(), lr=config.lr),
                      window_batches(data, fit_starts, config, shuffle=True),
                      window_batches(data, val_starts, config, shuffle=False),
                      objective=WindowObjective(), clip_grad_norm=config.clip,
                      max_epochs=config.epochs, max_minutes=max_minutes, patience=config.patience,
                      out_dir=out_dir, progress=progress,
                      extra=checkpoint_extra(data, config, extra or {}))
    summary = trainer.fit(resume=resume)
    model.load_state_dict(trainer.best_state_dict())
    model.eval()
    return model, data, summary


def _model_horizon(config: ForecastConfig) -> int:
    return config.horizon if config.strategy == "direct" else 1


# --------------------------------------------------------------------------- forecasting


def forecast(model: Forecaster, data: Prepared, origins, config: ForecastConfig) -> np.ndarray:
    """Forecasts (B, H, C) in the series' units for forecast origins (B,).

    Origin ``o`` forecasts steps ``o..o+H-1`` from the scaled truth ``z[:o]``;
    ``o`` may be ``N`` (the future after the last observation).
    """
    origins = np.asarray(origins, dtype=np.int64)
    W, H, C = config.window, config.horizon, data.z.shape[1]
    first = W + data.lag
    if (origins < first).any() or (origins > data.z.shape[0]).any():
        raise InputError(f"origins must lie in [window + seasonal_diff={first}, N={data.z.shape[0]}]")
    with no_grad():
        if config.strategy == "direct":
            X, _, ref = direct_windows(data.z, data.exog, data.cal, origins, W, H, config.level)
            y = model.forward(X.astype(model.dtype)).astype(np.float64)
            z_hat = y.reshape(origins.size, H, C) + ref[:, None, :]       # (B, H, C)
            if config.base != "none":
                z_hat = z_hat + _base_offset(data, origins, config, ref)  # y + b
        else:
            z_hat = _recursive_forecast(model, data, origins, config)
    if data.lag:
        z_hat = seasonal_undifference(z_hat, data.levels, origins, data.lag)
    return data.scaler.inverse(z_hat)


def _base_offset(data: Prepared, origins, config: ForecastConfig, ref) -> np.ndarray:
    """``b - ref`` (B, H, C): where the base forecast lies from the window's level."""
    return data.base_forecasts(origins, config.horizon) - ref[:, None, :]


def _recursive_forecast(model, data, origins, config) -> np.ndarray:
    """Feed each one-step prediction back as the next input, re-running the window."""
    W, H, C = config.window, config.horizon, data.z.shape[1]
    B = origins.size
    history = np.stack([data.z[o - W:o] for o in origins], axis=1)      # (W, B, C)
    steps = origins[None, :] - W + np.arange(W + H)[:, None]            # (W + H, B)
    z_hat = np.empty((H, B, C))
    for k in range(H):
        window = history[k:k + W]                                       # (W, B, C)
        ref = window[0] if config.level else np.zeros((B, C))
        parts = [window - ref[None]]
        if data.cal.shape[1]:
            parts.append(data.cal[steps[k + 1:k + W + 1]])              # cal_{t+1}: (W, B, F)
        X = np.concatenate(parts, axis=2).astype(model.dtype)
        z_hat[k] = model.forward(X)[-1].astype(np.float64) + ref
        history = np.concatenate([history, z_hat[k][None]], axis=0)
    return z_hat.transpose(1, 0, 2)                                     # (B, H, C)


# --------------------------------------------------------------------------- checkpoints


def checkpoint_extra(data: Prepared, config: ForecastConfig, info: dict) -> dict:
    """What a forecaster checkpoint keeps besides the weights (the trainer's ``extra``)."""
    return {"forecast_config": asdict(config), "scaler": data.scaler.state(),
            "exog_scaler": data.exog_scaler.state() if data.exog_scaler else None,
            "calendar_names": data.calendar_names, "info": json.loads(json.dumps(info))}


def load(path):
    """Rebuild a trained forecaster from the trainer's ``checkpoint.npz``.

    Returns ``(model, config, extra)``: the model with its best weights in eval
    mode, the :class:`ForecastConfig`, and the checkpoint's ``extra`` (pass
    :func:`saved_scalers` of it to :func:`prepare` to rebuild features for a series).
    """
    from rnnkit.training import load_model

    model, meta = load_model(path)
    extra = meta.get("extra") or {}
    if not isinstance(model, Forecaster) or "forecast_config" not in extra:
        raise InputError(f"{path} is not a forecaster checkpoint (write one with `rnnkit forecast train`)")
    return model, ForecastConfig(**extra["forecast_config"]), extra


def saved_scalers(extra) -> tuple[SeriesScaler, SeriesScaler | None]:
    exog = extra.get("exog_scaler")
    return SeriesScaler.from_state(extra["scaler"]), SeriesScaler.from_state(exog) if exog else None
