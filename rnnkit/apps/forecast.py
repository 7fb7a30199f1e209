"""``rnnkit forecast``: train, evaluate and use a recurrent forecaster on a time series.

Three actions, each one library call you can also make from Python::

    rnnkit forecast train   --series taylor --out runs/taylor [--horizon 48 --window 48 ...]
        -> train(out_dir, series="taylor", ...)   checkpoint.npz, metrics.jsonl, loss_curve.png,
                                                  then the holdout evaluation: eval.json, forecast.png
    rnnkit forecast eval    --model runs/taylor [--csv other.csv ...] [--no-baselines]
        -> evaluate(model_dir, ...)               MASE/sMAPE of the network and the baselines
    rnnkit forecast predict --model runs/taylor [--csv latest.csv ...]
        -> predict(model_dir, ...)                the next `horizon` steps: forecast.csv, forecast.png

Data: ``--series sunspots|co2|airpassengers|taylor`` (installed with rnnkit) or
``--csv PATH --time-column COL --value-columns A[,B...]`` (header row; one or more value
columns; ``--exog-columns`` adds input-only columns; ``--period`` the seasonal period,
inferred from the time step when omitted). The last ``--test-size`` points are the
holdout; the scaler is fitted on the points before it. ``eval``/``predict`` use the
data the model was trained on unless given other data with the same columns.

Python::

    from rnnkit.apps import forecast
    result = forecast.train("runs/air", series="airpassengers", max_minutes=1)
    print(result["methods"]["rnn"]["mase"], result["methods"]["seasonal_naive"]["mase"])
    print(forecast.predict("runs/air")["forecast"])
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from rnnkit.apps._args import non_negative_int, one_line_subparsers, positive_float, positive_int
from rnnkit.apps._run import (
    check_resumed_source, prepare_out, read_meta, remove_run_files, resume_settings,
    write_text_atomic,
)
from rnnkit.apps._threads import add_threads_option
from rnnkit.errors import InputError, MissingFileError
from rnnkit.layers.registry import CELLS

APP = "forecast"
CHECKPOINT = "checkpoint.npz"
REPORT_FILES = ("eval.json", "forecast.png", "forecast.csv", "prediction.png")

# Per-series settings of the benchmark (bench/forecast.py); any option overrides them.
SERIES_DEFAULTS = {
    # Each series' settings were chosen on validation windows cut from before the holdout
    # (bench/forecast_select.py, seeds 0-2, the lowest seed-ensemble MASE; docs/forecasting.md).
    "sunspots": {"window": 33, "horizon": 11, "test_size": 44, "seasonal_diff": 11},
    "co2": {"window": 104, "horizon": 52, "test_size": 156, "batch_size": 64, "patience": 8},
    "airpassengers": {"window": 24, "horizon": 12, "test_size": 24, "log": True,
                      "seasonal_diff": 12, "hidden_size": 64},
    "taylor": {"window": 48, "horizon": 48, "test_size": 672, "seasonal_diff": 336,
               "level": False, "batch_size": 64, "patience": 5},
    "wineind": {"window": 24, "horizon": 12, "test_size": 24, "strategy": "recursive"},
    "lynx": {"window": 20, "horizon": 10, "test_size": 20, "strategy": "recursive",
             "hidden_size": 64},
}
# Where the command's defaults differ from the library's ForecastConfig (the settings
# dataclass every run is described by); a series' benchmark settings above override them.
COMMAND_DEFAULTS = {"hidden_size": 32, "epochs": 150}


# --------------------------------------------------------------------------- data


def load_data(series=None, csv_path=None, time_col=None, value_cols=None, exog_cols=None,
              period=None):
    """The series to work on: a default one by name, or a CSV file.

    Returns ``(TimeSeries, exog or None, source)``; ``source`` is JSON-able and
    reloads the same data with ``load_data(**source)``.
    """
    from rnnkit.forecasting.series import load_series, read_csv

    if (series is None) == (csv_path is None):
        raise InputError("give either --series NAME or --csv PATH (not both)")
    if series is not None:
        if exog_cols or time_col or value_cols:
            raise InputError("--time-column, --value-columns and --exog-columns go with --csv, "
                             "not --series")
        return load_series(series), None, {"series": series}
    if not time_col or not value_cols:
        raise InputError("--csv needs --time-column and --value-columns")
    if not os.path.isfile(csv_path):
        raise MissingFileError(f"--csv {csv_path!r}: no such file")
    ts, exog = read_csv(csv_path, time_col, value_cols, period=period, exog_cols=exog_cols or ())
    source = {"csv_path": os.path.abspath(csv_path), "time_col": time_col,
              "value_cols": list(ts.columns), "exog_cols": _split(exog_cols), "period": ts.period}
    return ts, exog, source


def _split(names) -> list:
    if names is None:
        return []
    if isinstance(names, str):
        return [n.strip() for n in names.split(",") if n.strip()]
    return list(names)


def settings_for(series_name, n_points: int, period: int, given: dict):
    """``(ForecastConfig, test_size)``: the options given, else the series' benchmark
    settings, else the command's defaults, else ForecastConfig's.

    Generic (CSV) defaults: horizon = the period when 1 < period <= 60, else 12;
    window = max(2 * horizon, 24); test_size = 2 * horizon.
    """
    from rnnkit.forecasting.fit import ForecastConfig

    s = dict(COMMAND_DEFAULTS)
    s.update(SERIES_DEFAULTS.get(series_name, {}))
    s.update({k: v for k, v in given.items() if v is not None})
    if s.get("horizon") is None:
        s["horizon"] = period if 1 < period <= 60 else 12
    if s.get("window") is None:
        s["window"] = max(2 * s["horizon"], 24)
    if s.get("test_size") is None:
        s["test_size"] = 2 * s["horizon"]
    if s["test_size"] >= n_points:
        raise InputError(f"--test-size {s['test_size']} leaves nothing to train on: the series "
                         f"has {n_points} points; lower --test-size")
    if s["test_size"] < s["horizon"]:
        raise InputError(f"--horizon {s['horizon']} is longer than the holdout (--test-size "
                         f"{s['test_size']}): lower --horizon, or raise --test-size to at least "
                         f"{s['horizon']}")
    test_size = s.pop("test_size")
    return ForecastConfig(**s), test_size


# --------------------------------------------------------------------------- actions


def train(out_dir, series=None, csv_path=None, time_col=None, value_cols=None, exog_cols=None,
          period=None, *, window=None, horizon=None, strategy=None, cell=None, hidden_size=None,
          num_layers=None, epochs=None, batch_size=None, lr=None, patience=None, test_size=None,
          log_scale=None, level=None, calendar=None, seasonal_diff=None, base=None, seed=None,
          max_minutes=None, baselines=True, plot=True, progress=None, resume=False,
          overwrite=False, log=print) -> dict:
    """Train on the series (all but the last ``test_size`` points), then evaluate.

    Options left as None take the series' benchmark settings (``SERIES_DEFAULTS``), the
    command's (``COMMAND_DEFAULTS``) or ForecastConfig's. Writes ``checkpoint.npz``,
    ``metrics.jsonl``, ``loss_curve.png``, ``eval.json`` and ``forecast.png`` to
    ``out_dir``; an ``out_dir`` that holds a model is refused unless ``resume`` (continue
    it on its data, with its settings; only ``epochs``, ``patience`` and ``max_minutes``
    may change) or ``overwrite``.
    Returns :func:`evaluate`'s result plus the trainer's ``summary``.
    """
    from rnnkit.forecasting.fit import check_setup
    from rnnkit.forecasting.fit import train as fit_model

    prepare_out(out_dir, APP, resume=resume, overwrite=overwrite)
    saved = read_meta(out_dir, APP)[1]["extra"] if resume else None
    if resume and series is None and csv_path is None:
        ts, exog, source = load_data(**saved["info"]["source"])
    else:
        ts, exog, source = load_data(series, csv_path, time_col, value_cols, exog_cols, period)
    if resume:
        check_resumed_source(out_dir, saved["info"]["source"], source)
    given = {"window": window, "horizon": horizon, "strategy": strategy, "cell": cell,
             "hidden_size": hidden_size, "num_layers": num_layers, "epochs": epochs,
             "batch_size": batch_size, "lr": lr, "patience": patience, "test_size": test_size,
             "log": log_scale, "level": level, "calendar": calendar,
             "seasonal_diff": ts.period if seasonal_diff == "period" else seasonal_diff,
             "base": base, "seed": seed, "max_minutes": max_minutes}
    if resume:
        config, test, max_minutes = _resumed_settings(saved, given, log)
    else:
        max_minutes = given.pop("max_minutes")
        config, test = settings_for(series, len(ts), ts.period, given)
    check_setup(ts, exog, config, test)
    log(f"training a {config.strategy} {config.cell.upper()} forecaster on {ts.name} "
        f"({len(ts)} points x {len(ts.columns)} column(s), period {ts.period}): window "
        f"{config.window}, horizon {config.horizon}, holdout the last {test} points")
    if overwrite:
        remove_run_files(out_dir, REPORT_FILES)
    info = {"app": APP, "source": source, "test_size": test, "columns": list(ts.columns),
            "period": ts.period, "max_minutes": max_minutes}
    _, _, summary = fit_model(ts, exog, config, test, out_dir=out_dir, progress=progress,
                              extra=info, max_minutes=max_minutes, resume=resume)
    log(f"stopped after epoch {summary['epoch']} ({summary['stop_reason']}); best validation "
        f"MSE {summary['best_val_loss']:.4g} (scaled units) at step {summary['best_step']}")
    result = evaluate(out_dir, baselines=baselines, plot=plot)
    result["summary"] = {k: summary[k] for k in ("step", "epoch", "stop_reason", "best_val_loss",
                                                 "best_step", "elapsed_s")}
    return result


# What a resumed run may change; every other setting is the checkpoint's.
RESUME_MAY_CHANGE = ("epochs", "patience", "max_minutes")


def _resumed_settings(saved_extra: dict, given: dict, log):
    """``(ForecastConfig, test_size, max_minutes)`` of a resumed run: the checkpoint's, with
    the options given that may change (the others refused when different)."""
    from rnnkit.forecasting.fit import ForecastConfig

    info = saved_extra["info"]
    saved = dict(saved_extra["forecast_config"], test_size=info["test_size"],
                 max_minutes=info.get("max_minutes"))
    settings = resume_settings(saved, given, RESUME_MAY_CHANGE, log)
    test, max_minutes = settings.pop("test_size"), settings.pop("max_minutes")
    return ForecastConfig(**settings), test, max_minutes



def load(model_dir):
    """``(model, config, extra)`` of a model directory written by :func:`train`."""
    from rnnkit.forecasting.fit import load as load_checkpoint

    path, _ = read_meta(model_dir, APP)
    return load_checkpoint(path)


def _data_for(extra, series, csv_path, time_col, value_cols, exog_cols, period):
    """The saved data source, or the one given (which must have the trained columns)."""
    info = extra["info"]
    if series is None and csv_path is None:
        return load_data(**info["source"])
    ts, exog, source = load_data(series, csv_path, time_col, value_cols, exog_cols,
                                 period or info["period"])
    saved_exog = len(info["source"].get("exog_cols", []))
    if len(ts.columns) != len(info["columns"]) or (0 if exog is None else exog.shape[1]) != saved_exog:
        raise InputError(f"the model was trained on {len(info['columns'])} value column(s) and "
                         f"{saved_exog} exogenous column(s); the data given has {len(ts.columns)} "
                         f"and {0 if exog is None else exog.shape[1]}")
    return ts, exog, source


def evaluate(model_dir, series=None, csv_path=None, time_col=None, value_cols=None,
             exog_cols=None, period=None, *, test_size=None, baselines=True, plot=True,
             out_dir=None) -> dict:
    """Holdout MASE and sMAPE of the network and the baselines (same origins).

    Writes ``eval.json`` and ``forecast.png`` to ``out_dir`` (default: the model
    directory). Returns ``{"series", "horizon", "test_size", "origins", "methods"}`` and,
    not in ``eval.json``, the arrays ``forecasts`` (method -> (B, H, C)), ``truth`` (B, H, C)
    and ``mase_scale`` (C,), from which a seed ensemble is scored (``bench/forecast.py``).
    """
    from rnnkit.forecasting import metrics
    from rnnkit.forecasting.evaluate import evaluate as score
    from rnnkit.forecasting.fit import check_length, prepare, saved_scalers

    model, config, extra = load(model_dir)
    ts, exog, _ = _data_for(extra, series, csv_path, time_col, value_cols, exog_cols, period)
    test = extra["info"]["test_size"] if test_size is None else test_size
    check_length(len(ts), config, test)
    scaler, exog_scaler = saved_scalers(extra)
    data = prepare(ts, exog, config, len(ts) - test, scaler, exog_scaler)
    scores = score(model, data, ts, config, test, with_baselines=baselines)
    result = {"series": ts.name, "horizon": config.horizon, "window": config.window,
              "strategy": config.strategy, "test_size": test, "origins": scores["origins"],
              "methods": scores["methods"], "config": asdict(config)}
    out = Path(out_dir or model_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "eval.json", json.dumps(result, indent=2) + "\n")
    result["eval_json"] = str(out / "eval.json")
    result.update(forecasts=scores["forecasts"], truth=scores["truth"],
                  mase_scale=metrics.mase_scale(ts.values[:len(ts) - test], ts.period))
    if plot:
        from rnnkit.forecasting.plot import plot_forecast
        origins = np.asarray(scores["origins"])
        steps = origins[:, None] + np.arange(config.horizon)[None, :]           # (B, H)
        start = max(0, len(ts) - 3 * test)
        times = _plot_times(ts.times)
        forecasts = {name: f[..., 0] for name, f in scores["forecasts"].items()}
        result["plot"] = plot_forecast(out / "forecast.png", times[start:], ts.values[start:, 0],
                                       times[steps], forecasts, truth=scores["truth"][..., 0],
                                       title=f"{ts.name}: holdout forecasts",
                                       column=ts.columns[0])
    return result


def predict(model_dir, series=None, csv_path=None, time_col=None, value_cols=None,
            exog_cols=None, period=None, *, plot=True, out_dir=None) -> dict:
    """Forecast the ``horizon`` steps after the end of the series.

    Writes ``forecast.csv`` (time label and one column per value column) and
    ``prediction.png`` to ``out_dir`` (default: the model directory; the holdout plot
    ``forecast.png`` of :func:`evaluate` is kept).
    Returns ``{"times": [...], "columns": [...], "forecast": [[...], ...]}``.
    """
    from rnnkit.forecasting.fit import forecast, prepare, saved_scalers
    from rnnkit.forecasting.windows import extend_times

    model, config, extra = load(model_dir)
    ts, exog, _ = _data_for(extra, series, csv_path, time_col, value_cols, exog_cols, period)
    if len(ts) < config.window + config.seasonal_diff:
        raise InputError(f"the series has {len(ts)} points; the model needs the last "
                         f"window + seasonal_diff = {config.window + config.seasonal_diff}")
    scaler, exog_scaler = saved_scalers(extra)
    data = prepare(ts, exog, config, len(ts), scaler, exog_scaler)
    values = forecast(model, data, [len(ts)], config)[0]                        # (H, C)
    future = extend_times(ts.times, config.horizon)[len(ts):]
    out = Path(out_dir or model_dir)
    out.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["time", *ts.columns])
    for t, row in zip(future, values):
        writer.writerow([str(t), *(f"{v:.6g}" for v in row)])
    write_text_atomic(out / "forecast.csv", buffer.getvalue())
    result = {"times": [str(t) for t in future], "columns": list(ts.columns),
              "forecast": values.tolist(), "csv": str(out / "forecast.csv")}
    if plot:
        from rnnkit.forecasting.plot import plot_forecast
        times = _plot_times(extend_times(ts.times, config.horizon))
        start = max(0, len(ts) - 4 * max(config.window, config.horizon))
        result["plot"] = plot_forecast(out / "prediction.png", times[start:len(ts)],
                                       ts.values[start:, 0], times[None, len(ts):],
                                       {"rnn": values[None, :, 0]},
                                       title=f"{ts.name}: the next {config.horizon} steps",
                                       column=ts.columns[0])
    return result


def _plot_times(times):
    times = np.asarray(times)
    if np.issubdtype(times.dtype, np.datetime64) or np.issubdtype(times.dtype, np.number):
        return times
    return np.arange(times.size)


def format_table(methods: dict) -> str:
    """A markdown table: method | MASE | sMAPE % | seconds."""
    lines = ["| method | MASE | sMAPE % | seconds |", "|---|---:|---:|---:|"]
    for name, m in methods.items():
        lines.append(f"| {name} | {m['mase']:.3f} | {m['smape']:.2f} | {m['seconds']:.1f} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line


def _seasonal_diff(text: str):
    if text == "period":
        return "period"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0 or 'period', got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0 or 'period', got {text!r}")
    return value


def _add_data_options(p, required_source: bool) -> None:
    from rnnkit.forecasting.series import DEFAULT_SERIES

    where = "" if required_source else " (default: the data the model was trained on)"
    p.add_argument("--series", choices=DEFAULT_SERIES, help="a default series" + where)
    p.add_argument("--csv", metavar="PATH", dest="csv_path",
                   help="a CSV file with a header row" + (where or " (default: none; give --series or "
                                                            "--csv, or --resume)"))
    p.add_argument("--time-column", metavar="COL", dest="time_col",
                   help="the CSV's time column (required with --csv; no default)")
    p.add_argument("--value-columns", metavar="A,B", dest="value_cols",
                   help="the CSV's column(s) to forecast (required with --csv; no default)")
    p.add_argument("--exog-columns", metavar="X,Y", dest="exog_cols",
                   help="extra CSV input columns, not forecast (direct strategy only; default none)")
    p.add_argument("--period", type=positive_int, metavar="M",
                   help="seasonal period (default: from the time step, e.g. monthly -> 12)")


def build_parser(parser: argparse.ArgumentParser) -> None:
    from rnnkit.forecasting.fit import BASES

    actions = one_line_subparsers(parser)

    p = actions.add_parser(
        "train", help="train a forecaster, then score it and the baselines on the holdout",
        description="Train a recurrent forecaster on all but the last --test-size points "
                    "(validation: the last 15% of those), then evaluate it, seasonal naive, "
                    "Holt-Winters and (short series) ARIMA on the holdout. Writes checkpoint.npz, "
                    "metrics.jsonl, loss_curve.png, eval.json and forecast.png to --out. "
                    "Options not given take the series' benchmark settings.")
    _add_data_options(p, required_source=True)
    p.add_argument("--out", metavar="DIR", required=True, help="directory for the model (required)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out on its data, with its settings; only "
                        "--epochs, --patience and --max-minutes may change")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a model already in --out (default: refuse)")
    p.add_argument("--horizon", type=positive_int, metavar="H",
                   help="steps to forecast (default: per series; CSV: the period if 2-60, else 12)")
    p.add_argument("--window", type=positive_int, metavar="W",
                   help="input steps per forecast (default: per series; CSV: max(2 x horizon, 24))")
    p.add_argument("--strategy", choices=("direct", "recursive"),
                   help="direct: all H steps at once (default; sunspots: recursive); "
                        "recursive: one step, fed back")
    p.add_argument("--test-size", type=positive_int, metavar="N",
                   help="holdout points (default: per series; CSV: 2 x horizon)")
    p.add_argument("--cell", choices=tuple(CELLS), help="recurrent cell (default lstm)")
    p.add_argument("--hidden-size", type=positive_int, metavar="N",
                   help="hidden units (default 32)")
    p.add_argument("--num-layers", type=positive_int, metavar="N",
                   help="stacked layers (default 1)")
    p.add_argument("--epochs", type=positive_int, metavar="N", help="at most N epochs (default 150)")
    p.add_argument("--batch-size", type=positive_int, metavar="N",
                   help="windows per step (default 32; co2, taylor 64)")
    p.add_argument("--lr", type=positive_float, metavar="X", help="Adam learning rate (default 0.003)")
    p.add_argument("--patience", type=positive_int, metavar="N",
                   help="stop after N epochs without a better validation loss (default 20; "
                        "co2 8, taylor 5)")
    p.add_argument("--log", action=argparse.BooleanOptionalAction, dest="log_scale",
                   help="forecast log(y) (multiplicative seasonality; default on for airpassengers)")
    p.add_argument("--level", action=argparse.BooleanOptionalAction,
                   help="subtract each window's last value (default on, off for taylor)")
    p.add_argument("--calendar", action=argparse.BooleanOptionalAction,
                   help="calendar features from dated time labels (default on)")
    p.add_argument("--seasonal-diff", type=_seasonal_diff, metavar="M",
                   help="learn y_t - y_{t-M}; 'period' for the seasonal period (default 0; taylor 336)")
    p.add_argument("--base", choices=BASES,
                   help="a classical forecast the network learns to correct (direct strategy, "
                        "no seasonal differencing; fitted before the holdout; default none)")
    p.add_argument("--seed", type=non_negative_int, metavar="S",
                   help="weights and shuffling seed (default 0)")
    p.add_argument("--max-minutes", type=positive_float, metavar="X",
                   help="stop training after X minutes (default: no limit)")
    p.add_argument("--no-baselines", action="store_false", dest="baselines",
                   help="score the network only")
    add_threads_option(p)
    p.set_defaults(run=_run_train)

    p = actions.add_parser("eval", help="score a trained forecaster and the baselines on the holdout",
                           description="MASE and sMAPE over rolling origins in the last --test-size "
                                       "points, for the network and the baselines. Writes eval.json "
                                       "and forecast.png.")
    p.add_argument("--model", metavar="DIR", required=True, help="the --out directory of train")
    _add_data_options(p, required_source=False)
    p.add_argument("--test-size", type=positive_int, metavar="N",
                   help="holdout points (default: as in training)")
    p.add_argument("--no-baselines", action="store_false", dest="baselines",
                   help="score the network only")
    p.add_argument("--out", metavar="DIR", help="where eval.json and forecast.png go (default --model)")
    add_threads_option(p)
    p.set_defaults(run=_run_eval)

    p = actions.add_parser("predict", help="forecast the steps after the end of the series",
                           description="Forecast the next `horizon` steps after the last point; "
                                       "writes forecast.csv and prediction.png.")
    p.add_argument("--model", metavar="DIR", required=True, help="the --out directory of train")
    _add_data_options(p, required_source=False)
    p.add_argument("--out", metavar="DIR", help="where forecast.csv and prediction.png go (default --model)")
    add_threads_option(p)
    p.set_defaults(run=_run_predict)


def _data_args(args) -> dict:
    return {"series": args.series, "csv_path": args.csv_path, "time_col": args.time_col,
            "value_cols": args.value_cols, "exog_cols": args.exog_cols, "period": args.period}


def _run_train(args) -> int:
    options = {k: getattr(args, k) for k in (
        "horizon", "window", "strategy", "test_size", "cell", "hidden_size", "num_layers", "epochs",
        "batch_size", "lr", "patience", "log_scale", "level", "calendar", "seasonal_diff", "base",
        "seed", "max_minutes", "baselines", "resume", "overwrite")}
    result = train(args.out, **_data_args(args), **options,
                   log=lambda msg: print(msg, file=sys.stderr))
    _print_result(result)
    return 0


def _run_eval(args) -> int:
    result = evaluate(args.model, **_data_args(args), test_size=args.test_size,
                      baselines=args.baselines, out_dir=args.out)
    _print_result(result)
    return 0


def _print_result(result) -> None:
    print(f"{result['series']}: {len(result['origins'])} forecasts of {result['horizon']} steps "
          f"over the last {result['test_size']} points")
    print(format_table(result["methods"]))
    print(f"wrote {result['eval_json']}" + (
        f", {result['plot']}" if result.get("plot") else ""))


def _run_predict(args) -> int:
    result = predict(args.model, **_data_args(args), out_dir=args.out)
    print("time," + ",".join(result["columns"]))
    for t, row in zip(result["times"], result["forecast"]):
        print(t + "," + ",".join(f"{v:.6g}" for v in row))
    print(f"wrote {result['csv']}" + (f", {result['plot']}" if result.get("plot") else ""),
          file=sys.stderr)
    return 0
