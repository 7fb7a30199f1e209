"""Forecasting benchmark: the RNN against seasonal naive, Holt-Winters and ARIMA.

For every default series (sunspots, co2, airpassengers, taylor) this trains the
forecaster with the series' settings (``rnnkit.apps.forecast.SERIES_DEFAULTS``,
the same as ``rnnkit forecast train --series NAME``), then scores it and the
baselines on the same holdout from the same rolling origins (forecasts of
``horizon`` steps tiling the last ``test_size`` points, each seeing only the
truth before its origin). Metrics: MASE (scale: in-sample seasonal-naive MAE of
the train part) and sMAPE. ARIMA runs only on the short series (where it is quick).

Goal (issue 17): on every series, the RNN (mean MASE over seeds) and its seed ensemble
(the mean of the seeds' forecasts) have a lower MASE than every baseline; the settings
are chosen on validation windows before the holdout (``bench/forecast_select.py``).

Prints a markdown table (MASE / sMAPE per method and series), the goal check, and
one JSON line. Training is bounded by ``--max-minutes`` per series and run.

Usage::

    nice -n 10 python bench/forecast.py                       # all series, their default strategy
    nice -n 10 python bench/forecast.py --seeds 0 1 2         # means over three seeds
    nice -n 10 python bench/forecast.py --series taylor --strategy direct recursive
    nice -n 10 python bench/forecast.py --out runs/forecast   # keep checkpoints and PNGs
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rnnkit.apps import forecast  # noqa: E402
from rnnkit.forecasting.evaluate import METHODS as SCORED  # noqa: E402
from rnnkit.forecasting.series import DEFAULT_SERIES  # noqa: E402

METHODS = ("rnn", "rnn_ensemble") + SCORED[1:]           # the app's, with the seed ensemble


def run_one(name, strategy, seed, max_minutes, out_root) -> dict:
    """Train and score one series; ``strategy`` None takes the series' default."""
    start = time.perf_counter()
    out = Path(out_root) / f"{name}-{strategy or 'default'}-seed{seed}"
    result = forecast.train(out, series=name, strategy=strategy, seed=seed,
                            max_minutes=max_minutes, log=lambda msg: print(msg, file=sys.stderr))
    return {"series": name, "strategy": result["strategy"], "seed": seed,
            "horizon": result["horizon"], "window": result["window"],
            "test_size": result["test_size"], "origins": len(result["origins"]),
            "epochs": result["summary"]["epoch"], "stop_reason": result["summary"]["stop_reason"],
            "train_seconds": round(result["summary"]["elapsed_s"], 1),
            "total_seconds": round(time.perf_counter() - start, 1),
            "methods": {m: {"mase": round(v["mase"], 4), "smape": round(v["smape"], 3)}
                        for m, v in result["methods"].items()},
            "_rnn_forecast": result["forecasts"]["rnn"], "_truth": result["truth"],
            "_scale": result["mase_scale"]}


def add_ensembles(means, rows) -> None:
    """Score the seed ensemble (the mean of the seeds' RNN forecasts) of each mean row, as
    the method ``rnn_ensemble``; drop the arrays from the rows."""
    from rnnkit.forecasting import metrics
    for mean in means:
        group = [r for r in rows if (r["series"], r["strategy"]) == (mean["series"], mean["strategy"])]
        ensemble = np.mean([r["_rnn_forecast"] for r in group], axis=0)       # (B, H, C)
        truth, scale = group[0]["_truth"], group[0]["_scale"]
        mean["methods"]["rnn_ensemble"] = {"mase": round(metrics.mase(truth, ensemble, scale), 4),
                                           "smape": round(metrics.smape(truth, ensemble), 3)}
    for r in rows:
        for key in ("_rnn_forecast", "_truth", "_scale"):
            r.pop(key)


def mean_rows(rows) -> list:
    """One row per (series, strategy): MASE and sMAPE averaged over the seeds, with the
    RNN's per-seed values kept (baselines are deterministic)."""
    groups = {}
    for r in rows:
        groups.setdefault((r["series"], r["strategy"]), []).append(r)
    out = []
    for (series, strategy), group in groups.items():
        row = dict(group[0], seeds=[g["seed"] for g in group])
        for key in ("seed", "epochs", "stop_reason", "train_seconds", "total_seconds",
                    "_rnn_forecast", "_truth", "_scale"):
            row.pop(key)                                  # per run: see "rows"
        row["methods"] = {m: {k: round(sum(g["methods"][m][k] for g in group) / len(group), 4)
                              for k in ("mase", "smape")} for m in group[0]["methods"]}
        row["rnn_per_seed"] = [g["methods"]["rnn"] for g in group]
        out.append(row)
    return out


def table(rows) -> str:
    head = "| series (strategy) | H | " + " | ".join(f"{m} MASE / sMAPE" for m in METHODS) + " |"
    lines = [head, "|---|---:|" + "---:|" * len(METHODS)]
    for r in rows:
        best = min(v["mase"] for v in r["methods"].values())
        cells = []
        for m in METHODS:
            v = r["methods"].get(m)
            if v is None:
                cells.append("—")
                continue
            text = f"{v['mase']:.3f} / {v['smape']:.2f}%"
            cells.append(f"**{text}**" if v["mase"] == best else text)
        lines.append(f"| {r['series']} ({r['strategy']}) | {r['horizon']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def goals(rows) -> dict:
    """Per row (issue 17): do the RNN (the mean over seeds) and its seed ensemble have a lower
    MASE than every baseline (seasonal naive, Holt-Winters and ARIMA in both forms where
    they run)?"""
    checks = {}
    for r in rows:
        m = r["methods"]
        best = min(v["mase"] for k, v in m.items() if k not in ("rnn", "rnn_ensemble"))
        key = f"{r['series']}/{r['strategy']}"
        checks[f"{key}: RNN lowest MASE"] = m["rnn"]["mase"] < best
        if "rnn_ensemble" in m:
            checks[f"{key}: seed ensemble lowest MASE"] = m["rnn_ensemble"]["mase"] < best
    return checks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", nargs="+", choices=DEFAULT_SERIES, default=list(DEFAULT_SERIES))
    parser.add_argument("--strategy", nargs="+", choices=("default", "direct", "recursive"),
                        default=["default"],
                        help="default: each series' setting (recursive for sunspots, else direct)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0],
                        help="train once per seed; the table shows means (default: 0)")
    parser.add_argument("--max-minutes", type=float, default=3.0,
                        help="training time limit per series and strategy (default 3)")
    parser.add_argument("--out", help="keep the runs here (default: a temporary directory)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        out_root = Path(args.out) if args.out else Path(tmp)
        rows = [run_one(name, None if strategy == "default" else strategy, seed,
                        args.max_minutes, out_root)
                for name in args.series for strategy in args.strategy for seed in args.seeds]
    means = mean_rows(rows)
    add_ensembles(means, rows)
    print(f"MASE / sMAPE, mean over seeds {args.seeds} (the RNN's per-seed values are in the JSON)\n")
    print(table(means))
    checks = goals(means)
    print()
    for name, ok in checks.items():
        print(f"- {name}: {'yes' if ok else 'NO'}")
    per_seed = {f"{r['series']}/{r['strategy']}/seed{r['seed']}": ok
                for r in rows for ok in [all(goals([r]).values())]}
    print(f"- goals met per seed: {sum(per_seed.values())} of {len(per_seed)} runs"
          + "".join(f"\n  - missed: {k}" for k, ok in per_seed.items() if not ok))
    print("\n" + json.dumps({"benchmark": "rnnkit.forecast", "seeds": args.seeds,
                             "max_minutes": args.max_minutes, "goals": checks,
                             "goals_per_seed": per_seed, "means": means, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
