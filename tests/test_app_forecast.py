"""Forecasting library: default data, CSV loading, windows and scaling, metrics,
baselines, the Forecaster's gradients (finite differences, PyTorch) and a tiny training run."""

import numpy as np
import pytest

from helpers import GRAD_TOL, check_module_gradients
from rnnkit.forecasting import baselines, metrics
from rnnkit.forecasting.fit import ForecastConfig, check_length, forecast, prepare, train, window_starts
from rnnkit.forecasting.model import Forecaster
from rnnkit.forecasting.series import TimeSeries, infer_period, load_series, read_csv
from rnnkit.forecasting.windows import (
    calendar_features, direct_windows, extend_times, recursive_windows,
    seasonal_difference, seasonal_undifference,
)

# --------------------------------------------------------------------------- default data


def test_pmdarima_series_are_read_from_the_wheel():
    air = load_series("airpassengers")
    assert air.values.shape == (144, 1) and air.period == 12
    assert air.values[:3, 0].tolist() == [112, 118, 132] and air.values[-1, 0] == 432
    assert str(air.times[0]) == "1949-01" and str(air.times[-1]) == "1960-12"
    taylor = load_series("taylor")
    assert taylor.values.shape == (4032, 1) and taylor.period == 336
    assert taylor.values[:2, 0].tolist() == [22262, 21756] and taylor.values[-1, 0] == 23132
    assert str(taylor.times[0]) == "2000-06-05T00:00" and str(taylor.times[-1]) == "2000-08-27T23:30"
    wine = load_series("wineind")
    assert wine.values.shape == (176, 1) and wine.period == 12
    assert wine.values[:2, 0].tolist() == [15136, 16733] and wine.values[-1, 0] == 23356
    assert str(wine.times[0]) == "1980-01" and str(wine.times[-1]) == "1994-08"
    lynx = load_series("lynx")
    assert lynx.values.shape == (114, 1) and lynx.period == 10
    assert lynx.values[:2, 0].tolist() == [269, 321] and lynx.values[-1, 0] == 3396
    assert str(lynx.times[0]) == "1821" and str(lynx.times[-1]) == "1934"


def test_statsmodels_series_load_with_gaps_filled():
    sun = load_series("sunspots")
    assert sun.values.shape == (309, 1) and sun.values[0, 0] == 5.0 and str(sun.times[0]) == "1700"
    co2 = load_series("co2")
    assert co2.values.shape == (2284, 1) and np.isfinite(co2.values).all()
    assert co2.values[0, 0] == pytest.approx(316.1) and co2.period == 52
    with pytest.raises(ValueError, match="series must be one of"):
        load_series("bitcoin")


# --------------------------------------------------------------------------- user CSV


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_multivariate_with_exog_and_inferred_period(tmp_path):
    path = write(tmp_path, "month,a,b,temp\n2020-01,1,10,5\n2020-02,2,20,6\n2020-03,3,30,7\n")
    ts, exog = read_csv(path, "month", "a,b", exog_cols=["temp"])
    assert ts.values.tolist() == [[1, 10], [2, 20], [3, 30]] and ts.columns == ("a", "b")
    assert exog[:, 0].tolist() == [5, 6, 7] and ts.period == 12 and ts.has_dates
    ts, _ = read_csv(write(tmp_path, "year,v\n1700,1\n1701,2\n"), "year", ["v"])
    assert ts.times.tolist() == [1700.0, 1701.0] and ts.period == 1


@pytest.mark.parametrize("text, match", [
    ("", "the file is empty"),
    ("t,v\n", "header but no data rows"),
    ("t,v\n1,2\n", "no column 'y'; the header has \\['t', 'v'\\]"),
    ("t,y\n1,2\n2,abc\n", "line 3, column 'y': 'abc' is not a number"),
    ("t,y\n1,2\n2,\n", "missing value"),
    ("t,y\n2,2\n1,3\n", "strictly increasing"),
    ("t,y\n1,2\n2\n", "line 3 has 1 fields"),
])
def test_csv_errors_name_the_problem(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        read_csv(write(tmp_path, text), "t", ["y"])


def test_duplicate_column_names_are_refused(tmp_path):
    path = write(tmp_path, "t,y,note,y\n1,2,a,3\n2,3,b,4\n", name="dup.csv")
    with pytest.raises(ValueError, match=r"dup\.csv: column 'y' appears more than once in the header"):
        read_csv(path, "t", ["y"])


@pytest.mark.parametrize("dates, gap", [
    (["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"],
     "2020-01-03 \\(line 4\\) to 2020-01-06 \\(line 5\\) is 3 days, the usual step is 1 day"),
    (["2020-01", "2020-02", "2020-04", "2020-05"],
     "2020-02 \\(line 3\\) to 2020-04 \\(line 4\\) is 2 months, the usual step is 1 month"),
    (["2020-01-31", "2020-02-29", "2020-04-30", "2020-05-31"],
     "2020-02-29 \\(line 3\\) to 2020-04-30 \\(line 4\\) is 2 months, the usual step is 1 month"),
    (["2020-01-01 00:00", "2020-01-01 00:30", "2020-01-01 01:00", "2020-01-01 02:00"],
     "01:00 \\(line 4\\) to 2020-01-01T02:00 \\(line 5\\) is 1 hour, the usual step is 30 minutes"),
], ids=["daily", "monthly", "month-ends", "half-hourly"])
def test_dates_with_a_gap_are_refused_naming_the_first_gap(tmp_path, dates, gap):
    rows = "".join(f"{d},{i}\n" for i, d in enumerate(dates))
    with pytest.raises(ValueError, match=f"data.csv: column 't' is not equally spaced: .*{gap}; "
                                         f"fill the missing rows"):
        read_csv(write(tmp_path, "t,y\n" + rows), "t", ["y"])


@pytest.mark.parametrize("dates, period", [
    (["2020-01-01", "2020-02-01", "2020-03-01", "2020-04-01"], 12),      # month starts
    (["2020-01-31", "2020-02-29", "2020-03-31", "2020-04-30"], 12),      # month ends
    (["2020-01-01", "2020-04-01", "2020-07-01", "2020-10-01"], 4),       # quarters
    (["2020-01-05", "2020-01-12", "2020-01-19", "2020-01-26"], 52),      # weeks
])
def test_calendar_steps_count_as_equally_spaced(tmp_path, dates, period):
    rows = "".join(f"{d},{i}\n" for i, d in enumerate(dates))
    assert read_csv(write(tmp_path, "t,y\n" + rows), "t", ["y"])[0].period == period


def test_period_inference_from_the_time_step():
    half_hours = np.datetime64("2000-01-01T00:00") + 30 * np.arange(5)
    assert infer_period(half_hours) == 48
    assert infer_period(np.datetime64("2000-01-01") + np.arange(5)) == 7
    assert infer_period(np.datetime64("2000-01", "M") + np.arange(5)) == 12
    assert infer_period(np.arange(5.0)) == 1


def test_too_short_for_window_plus_horizon():
    config = ForecastConfig(window=24, horizon=12)
    with pytest.raises(ValueError, match="window=24 and horizon=12 need at least"):
        check_length(60, config, test_size=12)
    check_length(120, config, test_size=12)


# --------------------------------------------------------------------------- windows


def ramp_series(n=40, columns=1):
    values = np.arange(n, dtype=np.float64)[:, None] * np.arange(1, columns + 1)
    times = np.datetime64("2001-01", "M") + np.arange(n)
    return TimeSeries("ramp", values, tuple(f"c{i}" for i in range(columns)), times, period=12)


def test_scaler_is_fitted_on_the_train_part_only():
    ts = ramp_series()
    data = prepare(ts, None, ForecastConfig(calendar=False), n_train=20)
    assert data.scaler.mean_[0] == pytest.approx(9.5)            # mean of 0..19, not of 0..39
    assert data.scaler.inverse(data.levels) == pytest.approx(ts.values)
    with pytest.raises(ValueError, match="strictly positive"):             # the ramp starts at 0
        prepare(ts, None, ForecastConfig(calendar=False, log=True), n_train=20)


def test_direct_windows_are_level_normalised_at_the_origin():
    z = np.arange(10.0)[:, None] * [1.0, 10.0]                   # (N=10, C=2)
    none = np.zeros((10, 0))
    X, Y, ref = direct_windows(z, none, np.zeros((11, 0)), [4, 6], window=3, horizon=2)
    assert X.shape == (3, 2, 2) and Y.shape == (2, 4)
    assert ref.tolist() == [[3, 30], [5, 50]]
    assert X[:, 0, 0].tolist() == [-2, -1, 0]                    # z[1:4] - z[3]
    assert Y[0].tolist() == [1, 10, 2, 20]                       # z[4:6] - z[3], flattened (H*C)
    X, Y, ref = direct_windows(z, none, np.zeros((11, 0)), [4], 3, 2, level=False)
    assert X[:, 0, 0].tolist() == [1, 2, 3] and ref.tolist() == [[0, 0]]


def test_recursive_windows_target_the_next_step_and_use_cal_of_that_step():
    z = np.arange(10.0)[:, None]
    cal = np.arange(11.0)[:, None] * 100
    X, Y, ref = recursive_windows(z, np.zeros((10, 0)), cal, [2], window=3)
    assert X[:, 0, 0].tolist() == [0, 1, 2] and ref.tolist() == [[2]]      # z[2:5] - z[2]
    assert X[:, 0, 1].tolist() == [300, 400, 500]                          # cal_{t+1}
    assert Y[:, 0, 0].tolist() == [1, 2, 3]                                # z[3:6] - z[2]


def test_calendar_features_follow_the_time_step():
    half_hours = np.datetime64("2000-06-05T00:00") + 30 * np.arange(4)     # a Monday
    cal, names = calendar_features(half_hours)
    assert names == ["time_of_day_sin", "time_of_day_cos", "day_of_week_sin", "day_of_week_cos"]
    assert cal[0, :2] == pytest.approx([0, 1]) and cal[0, 2:] == pytest.approx([0, 1])
    assert cal[1, 0] == pytest.approx(np.sin(2 * np.pi / 48))
    months = np.datetime64("2001-01", "M") + np.arange(13)
    cal, names = calendar_features(months)
    assert names == ["month_of_year_sin", "month_of_year_cos"] and cal[12] == pytest.approx(cal[0])
    assert calendar_features(np.arange(5.0))[0].shape == (5, 0)
    assert str(extend_times(months, 2)[-1]) == "2002-03"


def test_seasonal_difference_round_trip_beyond_one_season():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((30, 2))
    d = seasonal_difference(z, 4)
    origins = np.array([10, 20])
    d_future = d[origins[:, None] + np.arange(9)]                          # (B, H=9 > lag, C)
    z_hat = seasonal_undifference(d_future, z, origins, 4)
    assert z_hat == pytest.approx(z[origins[:, None] + np.arange(9)])


def test_window_starts_keep_validation_targets_after_the_cut():
    config = ForecastConfig(window=5, horizon=3, val_fraction=0.2)
    fit, val = window_starts(config, n_train=50)
    assert fit[0] == 5 and fit[-1] + 3 <= 40 and val[0] == 40 and val[-1] + 3 == 50


# --------------------------------------------------------------------------- metrics, baselines


def test_mase_and_smape_by_hand():
    y_train = np.array([[1.0], [3.0], [2.0], [4.0]])
    scale = metrics.mase_scale(y_train, period=1)                          # mean(2, 1, 2)
    assert scale[0] == pytest.approx(5 / 3)
    truth, fc = np.array([[[2.0], [4.0]]]), np.array([[[3.0], [4.0]]])
    assert metrics.mase(truth, fc, scale) == pytest.approx(0.5 / (5 / 3))
    assert metrics.smape(truth, fc) == pytest.approx(100 * (2 * 1 / 5) / 2)
    assert metrics.smape(np.zeros((1, 1, 1)), np.zeros((1, 1, 1))) == 0.0


def test_seasonal_naive_repeats_the_last_season():
    y = np.tile(np.array([1.0, 5.0, 3.0]), 6)[:, None]                    # period 3
    fc = baselines.seasonal_naive(y, [9, 12], horizon=5, period=3)
    assert fc[:, :, 0].tolist() == [[1, 5, 3, 1, 5]] * 2
    truth = y[np.array([9, 12])[:, None] + np.arange(5)]
    assert metrics.mase(truth, fc, metrics.mase_scale(y[:9] + np.arange(9)[:, None], 3)) == 0.0


def test_holt_winters_and_arima_fit_a_trend_with_seasonality():
    t = np.arange(60.0)
    y = (10 + 0.5 * t + 3 * np.sin(2 * np.pi * t / 6))[:, None]
    origins = np.array([48, 54])
    truth = y[origins[:, None] + np.arange(6)]
    scale = metrics.mase_scale(y[:48], 6)
    hw = baselines.holt_winters(y, 48, origins, 6, 6)
    assert hw.shape == (2, 6, 1) and metrics.mase(truth, hw, scale) < 0.1
    trend = (10 + 0.5 * t)[:, None] + np.random.default_rng(0).normal(0, 0.1, (60, 1))
    ar = baselines.arima(trend, 48, origins, 6, period=1)                   # ARIMA(2,1,1)
    assert metrics.mase(trend[origins[:, None] + np.arange(6)], ar, metrics.mase_scale(trend[:48], 1)) < 1.5
    assert baselines.arima(np.ones((baselines.ARIMA_MAX_POINTS + 1, 1)), 500, [500], 6, 1) is None


# --------------------------------------------------------------------------- the model


@pytest.mark.parametrize("strategy, cell", [("direct", "lstm"), ("recursive", "gru")])
def test_forecaster_gradients_match_finite_differences(strategy, cell):
    horizon = 3 if strategy == "direct" else 1
    model = Forecaster(3, 2, horizon=horizon, strategy=strategy, cell=cell, hidden_size=4,
                       num_layers=2, dtype=np.float64, seed=1)
    x = np.random.default_rng(2).standard_normal((5, 2, 3))
    err, _ = check_module_gradients(lambda: model.forward(x), lambda w: {"x": model.backward(w)},
                                    {"x": x}, model.parameters())
    assert err < GRAD_TOL


def test_forecaster_matches_torch_lstm_plus_linear():
    torch = pytest.importorskip("torch")
    from rnnkit.interop import to_torch

    model = Forecaster(3, 2, horizon=4, hidden_size=5, dtype=np.float64, seed=3)
    rnn = to_torch(model.rnn)                                    # zero gradients copied
    head = torch.nn.Linear(5, 8, dtype=torch.float64)
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(model.head.weight.data))
        head.bias.copy_(torch.from_numpy(model.head.bias.data))
    x = np.random.default_rng(4).standard_normal((6, 2, 3))
    dy = np.random.default_rng(5).standard_normal((2, 8))
    y = model.forward(x)
    dx = model.backward(dy)
    xt = torch.tensor(x, requires_grad=True)
    yt = head(rnn(xt)[0][-1])                                    # many-to-one: last step
    (yt * torch.from_numpy(dy)).sum().backward()
    assert np.abs(yt.detach().numpy() - y).max() < 1e-12
    assert np.abs(xt.grad.numpy() - dx).max() < 1e-12
    assert np.abs(head.weight.grad.numpy() - model.head.weight.grad).max() < 1e-12
    ours = dict(model.rnn.named_parameters())
    for name, p in rnn.named_parameters():
        assert np.abs(p.grad.numpy() - ours[name].grad).max() < 1e-12, name


def test_forecaster_refuses_bad_arguments():
    with pytest.raises(ValueError, match="strategy must be one of"):
        Forecaster(2, 1, strategy="seq2seq")
    with pytest.raises(ValueError, match="horizon must be 1"):
        Forecaster(2, 1, horizon=3, strategy="recursive")
    with pytest.raises(ValueError, match=r"x must have shape \(T, B, input_size=2\)"):
        Forecaster(2, 1).forward(np.zeros((3, 1, 5), np.float32))


# --------------------------------------------------------------------------- training


def noisy_seasonal(n=150, period=10, columns=1, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    base = 5 + 0.05 * t + np.sin(2 * np.pi * t / period)
    values = base[:, None] * np.arange(1, columns + 1) + 0.05 * rng.standard_normal((n, columns))
    return TimeSeries("toy", values, tuple(f"c{i}" for i in range(columns)),
                      np.arange(n, dtype=np.float64), period=period)


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_training_beats_seasonal_naive_on_a_trending_seasonal_series(strategy):
    ts = noisy_seasonal(columns=2)
    config = ForecastConfig(window=20, horizon=5, strategy=strategy, hidden_size=16, epochs=25,
                            patience=25, lr=1e-2, calendar=False, seed=0)
    model, data, _ = train(ts, None, config, test_size=20)
    origins = np.arange(130, 146, 5)
    truth = ts.values[origins[:, None] + np.arange(5)]
    scale = metrics.mase_scale(ts.values[:130], 10)
    rnn = metrics.mase(truth, forecast(model, data, origins, config), scale)
    naive = metrics.mase(truth, baselines.seasonal_naive(ts.values, origins, 5, 10), scale)
    assert naive > 0.5 and rnn < 0.7 * naive
    future = forecast(model, data, [len(ts)], config)                      # past the end
    assert future.shape == (1, 5, 2) and np.isfinite(future).all()


def test_exogenous_columns_feed_the_direct_strategy_only():
    ts = noisy_seasonal()
    exog = np.cos(np.arange(len(ts)))[:, None]
    config = ForecastConfig(window=12, horizon=4, hidden_size=4, epochs=2, calendar=False)
    model, data, _ = train(ts, exog, config, test_size=20)
    assert model.input_size == 2 and data.exog_scaler is not None
    with pytest.raises(ValueError, match="use --strategy direct"):
        train(ts, exog, ForecastConfig(window=12, horizon=4, strategy="recursive"), test_size=20)


def test_training_is_deterministic_given_the_seed():
    ts = noisy_seasonal(n=80)
    config = ForecastConfig(window=10, horizon=3, hidden_size=4, epochs=3, calendar=False, seed=7)
    a = train(ts, None, config, test_size=10)[0].state_dict()
    b = train(ts, None, config, test_size=10)[0].state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_a_zero_network_on_seasonal_differences_is_the_seasonal_naive_forecast(strategy):
    ts = noisy_seasonal(n=120, period=10)
    config = ForecastConfig(window=12, horizon=15, strategy=strategy, hidden_size=4, epochs=1,
                            seasonal_diff=10, level=False, calendar=False)
    model, data, _ = train(ts, None, config, test_size=30)
    for p in model.head.parameters():
        p.data[...] = 0                                          # the network predicts d = 0
    origins = np.array([90, 105])
    expected = baselines.seasonal_naive(ts.values, origins, 15, 10)        # H=15 > m=10
    assert forecast(model, data, origins, config) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("log", [False, True])
def test_baselines_run_in_both_forms_whatever_the_network_uses(log):
    from rnnkit.forecasting.evaluate import evaluate

    ts = noisy_seasonal(n=120, period=10)
    config = ForecastConfig(window=12, horizon=5, hidden_size=4, epochs=1, calendar=False, log=log)
    model, data, _ = train(ts, None, config, test_size=20)
    methods = evaluate(model, data, ts, config, test_size=20)["methods"]
    assert set(methods) == {"rnn", "seasonal_naive", "holt_winters", "holt_winters_multiplicative",
                            "arima", "arima_log"}
    origins = np.arange(100, 116, 5)
    truth = ts.values[origins[:, None] + np.arange(5)]
    scale = metrics.mase_scale(ts.values[:100], 10)
    for name, multiplicative in (("holt_winters", False), ("holt_winters_multiplicative", True)):
        expected = baselines.holt_winters(ts.values, 100, origins, 5, 10, multiplicative)
        assert methods[name]["mase"] == pytest.approx(metrics.mase(truth, expected, scale), abs=1e-12)
    # a series with a zero has no log forms
    values = ts.values.copy()
    values[3] = 0.0
    zero = TimeSeries("toy", values, ts.columns, ts.times, ts.period)
    plain = ForecastConfig(window=12, horizon=5, hidden_size=4, epochs=1, calendar=False)
    model, data, _ = train(zero, None, plain, test_size=20)
    assert set(evaluate(model, data, zero, plain, test_size=20)["methods"]) == {
        "rnn", "seasonal_naive", "holt_winters", "arima"}


@pytest.mark.parametrize("base, log", [("holt_winters", False), ("holt_winters_multiplicative", True),
                                       ("arima_log", False)])
def test_a_zero_network_on_a_base_is_the_base_forecast_and_learns_its_residual(base, log):
    """With ``base`` the target is z - b, so a network that outputs 0 forecasts exactly the
    base method (fitted on the points before the holdout, applied at every origin)."""
    ts = noisy_seasonal(n=120, period=10)
    config = ForecastConfig(window=12, horizon=5, hidden_size=4, epochs=1, calendar=False,
                            base=base, log=log)
    model, data, _ = train(ts, None, config, test_size=20)
    origins = np.array([40, 100, 115])
    method, multiplicative = base.split("_multiplicative")[0].split("_log")[0], base != "holt_winters"
    run = baselines.holt_winters if method == "holt_winters" else baselines.arima
    expected = run(ts.values, 100, origins, 5, 10, multiplicative)           # (B, H, C)
    from rnnkit.forecasting.fit import make_batch
    _, Y = make_batch(data, origins[:2], config, dtype=np.float64)
    z_next = data.levels[origins[:2, None] + np.arange(5)]                   # (2, H, C)
    assert Y.reshape(2, 5, 1) == pytest.approx(z_next - data.scaler.transform(expected[:2]))
    for p in model.head.parameters():
        p.data[...] = 0
    assert forecast(model, data, origins, config) == pytest.approx(expected, rel=1e-9)


def test_a_base_is_refused_where_it_cannot_run():
    with pytest.raises(ValueError, match="base must be one of"):
        ForecastConfig(base="ets")
    with pytest.raises(ValueError, match="needs strategy 'direct' without seasonal_diff"):
        ForecastConfig(base="holt_winters", strategy="recursive")
    with pytest.raises(ValueError, match="needs strategy 'direct' without seasonal_diff"):
        ForecastConfig(base="arima", seasonal_diff=12)
    ts = noisy_seasonal(n=120, period=10)
    values = ts.values.copy()
    values[3] = 0.0
    zero = TimeSeries("toy", values, ts.columns, ts.times, ts.period)
    with pytest.raises(ValueError, match=r"needs every value > 0; use 'holt_winters'"):
        train(zero, None, ForecastConfig(window=12, horizon=5, base="holt_winters_multiplicative",
                                         calendar=False), test_size=20)
    long = TimeSeries("long", np.ones((700, 1)), ("c",), np.arange(700.0), period=10)
    with pytest.raises(ValueError, match="at most 600 points"):
        train(long, None, ForecastConfig(window=12, horizon=5, base="arima", calendar=False),
              test_size=20)
