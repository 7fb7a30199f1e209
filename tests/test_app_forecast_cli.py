"""`rnnkit forecast`: train -> eval -> predict on a user CSV, and one-line errors (exit 2)."""

import csv
import json

import numpy as np
import pytest

from rnnkit.apps import forecast
from helpers import run_cli as run

TINY = ["--window", "12", "--horizon", "6", "--test-size", "12", "--hidden-size", "4", "--epochs", "2",
        "--no-baselines"]


@pytest.fixture
def monthly_csv(tmp_path):
    t = np.arange(96)
    months = np.datetime64("2010-01", "M") + t
    sales = 100 + t + 10 * np.sin(2 * np.pi * t / 12)
    path = tmp_path / "sales.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["month", "sales", "returns", "promo"])
        for m, s in zip(months, sales):
            writer.writerow([str(m), f"{s:.3f}", f"{s / 10:.3f}", int(m.astype(int) % 3 == 0)])
    return path


def test_train_eval_predict_on_a_multivariate_csv(monthly_csv, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["forecast", "train", "--csv", str(monthly_csv), "--time-column", "month",
            "--value-columns", "sales,returns", "--exog-columns", "promo", "--out", str(out), *TINY]
    status, stdout, stderr = run(argv, capsys)
    assert status == 0, stderr
    assert "period 12" in stderr and "| rnn |" in stdout
    for name in ("checkpoint.npz", "metrics.jsonl", "loss_curve.png", "eval.json", "forecast.png"):
        assert (out / name).exists(), name
    report = json.loads((out / "eval.json").read_text())
    assert report["horizon"] == 6 and report["origins"] == [84, 90]
    assert set(report["methods"]) == {"rnn"} and report["methods"]["rnn"]["mase"] > 0

    status, stdout, _ = run(["forecast", "eval", "--model", str(out), "--no-baselines"], capsys)
    assert status == 0 and f"{report['methods']['rnn']['mase']:.3f}" in stdout

    status, stdout, _ = run(["forecast", "predict", "--model", str(out)], capsys)
    assert status == 0
    lines = stdout.strip().splitlines()
    assert lines[0] == "time,sales,returns" and lines[1].startswith("2018-01,") and len(lines) == 7
    written = (out / "forecast.csv").read_text().strip().splitlines()
    assert written[0] == "time,sales,returns" and len(written) == 7


def test_library_calls_match_the_cli(monthly_csv, tmp_path):
    out = tmp_path / "lib"
    result = forecast.train(out, csv_path=str(monthly_csv), time_col="month", value_cols="sales",
                            window=12, horizon=6, test_size=12, hidden_size=4, epochs=2,
                            strategy="recursive", baselines=False, plot=False, log=lambda m: None)
    again = forecast.evaluate(out, baselines=False, plot=False)
    assert again["methods"]["rnn"]["mase"] == pytest.approx(result["methods"]["rnn"]["mase"])
    prediction = forecast.predict(out, plot=False)
    assert len(prediction["forecast"]) == 6 and prediction["times"][0] == "2018-01"


def test_help_everywhere(capsys):
    for argv in (["forecast", "--help"], ["forecast", "train", "--help"],
                 ["forecast", "eval", "--help"], ["forecast", "predict", "--help"]):
        status, stdout, _ = run(argv, capsys)
        assert status == 0 and "usage: rnnkit forecast" in stdout


@pytest.mark.parametrize("make_argv, message", [
    (lambda d, o: ["train", "--csv", str(d), "--time-column", "month", "--value-columns", "units",
                   "--out", o], "no column 'units'"),
    (lambda d, o: ["train", "--csv", str(d) + ".missing", "--time-column", "month",
                   "--value-columns", "sales", "--out", o], "no such file"),
    (lambda d, o: ["train", "--csv", str(d), "--series", "co2", "--out", o], "either --series"),
    (lambda d, o: ["train", "--csv", str(d), "--time-column", "month", "--value-columns", "sales",
                   "--window", "80", "--out", o], "need at least"),
    (lambda d, o: ["train", "--csv", str(d), "--time-column", "month", "--value-columns", "sales",
                   "--exog-columns", "promo", "--strategy", "recursive", "--out", o, *TINY],
     "use --strategy direct"),
    (lambda d, o: ["train", "--series", "co2", "--horizon", "0", "--out", o], "positive integer"),
    (lambda d, o: ["predict", "--model", o], "no model at"),
])
def test_bad_input_is_one_line_with_exit_status_2(monthly_csv, tmp_path, capsys, make_argv, message):
    status, stdout, stderr = run(["forecast", *make_argv(monthly_csv, str(tmp_path / "x"))], capsys)
    assert status == 2 and message in stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr


def test_empty_and_non_numeric_files_are_refused(tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    bad = tmp_path / "bad.csv"
    bad.write_text("t,y\n2020-01-01,1\n2020-01-02,n/a\n")
    for path, message in ((empty, "the file is empty"), (bad, "'n/a' is not a number")):
        status, _, stderr = run(["forecast", "train", "--csv", str(path), "--time-column", "t",
                                 "--value-columns", "y", "--out", str(tmp_path / "o")], capsys)
        assert status == 2 and message in stderr


def test_a_horizon_longer_than_the_holdout_names_the_flags(tmp_path, capsys):
    status, _, err = run(["forecast", "train", "--series", "airpassengers", "--horizon", "100",
                          "--out", str(tmp_path / "m")], capsys)
    assert status == 2 and err.count("\n") == 1
    assert "--horizon 100 is longer than the holdout (--test-size 24): lower --horizon, or " \
           "raise --test-size to at least 100" in err
    status, _, err = run(["forecast", "train", "--series", "airpassengers", "--test-size", "144",
                          "--out", str(tmp_path / "m")], capsys)
    assert status == 2 and "--test-size 144 leaves nothing to train on: the series has 144" in err
