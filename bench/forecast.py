"""Forecasting benchmark: the RNN against seasonal naive, Holt-Winters and ARIMA.

For every default series (sunspots, co2, airpassengers, taylor) this trains the
forecaster with the series' settings (``rnnkit.apps.forecast.SERIES_DEFAULTS``,
the same as ``rnnkit forecast train --series NAME``), then scores it and the
baselines on the same holdout from the same rolling origins (forecasts of
``horizon`` steps tiling the last ``test_size`` points, each seeing only the
truth before its origin). Metrics: MASE (scale: in-sample seasonal-naive MAE of
the train part) and sMAPE. ARIMA runs only on the short series (where it is quick).

Goal (issue 5 d): beat seasonal naive on every series, and Holt-Winters on Taylor.

Prints a markdown table (MASE / sMAPE per method and series), the goal check, and
one JSON line. Training is bounded by ``--max-minutes`` per series and run.

Usage::

    nice -n 10 python bench/forecast.py                       # all series, direct strategy
    nice -n 10 python bench/forecast.py --series taylor --strategy recursive
    nice -n 10 python bench/forecast.py --out runs/forecast   # keep checkpoints and PNGs
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rnnkit.apps import forecast  # noqa: E402
from rnnkit.forecasting.series import DEFAULT_SERIES  # noqa: E402

METHODS = ("rnn", "seasonal_naive", "holt_winters", "arima")


def run_one(name, strategy, seed, max_minutes, out_root) -> dict:
    start = time.perf_counter()
    out = Path(out_root) / f"{name}-{strategy}-seed{seed}"
    result = forecast.train(out, series=name, strategy=strategy, seed=seed,
                            max_minutes=max_minutes, log=lambda msg: print(msg, file=sys.stderr))
    return {"series": name, "strategy": strategy, "seed": seed,
            "horizon": result["horizon"], "window": result["window"],
            "test_size": result["test_size"], "origins": len(result["origins"]),
            "epochs": result["summary"]["epoch"], "stop_reason": result["summary"]["stop_reason"],
            "train_seconds": round(result["summary"]["elapsed_s"], 1),
            "total_seconds": round(time.perf_counter() - start, 1),
            "methods": {m: {"mase": round(v["mase"], 4), "smape": round(v["smape"], 3)}
                        for m, v in result["methods"].items()}}


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
    """Per row: does the RNN beat seasonal naive (and Holt-Winters on taylor) on MASE and sMAPE?"""
    checks = {}
    for r in rows:
        rnn, m = r["methods"]["rnn"], r["methods"]
        key = f"{r['series']}/{r['strategy']}"
        checks[f"{key} beats seasonal naive"] = (rnn["mase"] < m["seasonal_naive"]["mase"]
                                                 and rnn["smape"] < m["seasonal_naive"]["smape"])
        if r["series"] == "taylor":
            checks[f"{key} beats Holt-Winters"] = (rnn["mase"] < m["holt_winters"]["mase"]
                                                   and rnn["smape"] < m["holt_winters"]["smape"])
    return checks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", nargs="+", choices=DEFAULT_SERIES, default=list(DEFAULT_SERIES))
    parser.add_argument("--strategy", nargs="+", choices=("direct", "recursive"), default=["direct"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-minutes", type=float, default=3.0,
                        help="training time limit per series and strategy (default 3)")
    parser.add_argument("--out", help="keep the runs here (default: a temporary directory)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        out_root = Path(args.out) if args.out else Path(tmp)
        rows = [run_one(name, strategy, args.seed, args.max_minutes, out_root)
                for name in args.series for strategy in args.strategy]
    print(table(rows))
    checks = goals(rows)
    print()
    for name, ok in checks.items():
        print(f"- {name}: {'yes' if ok else 'NO'}")
    print("\n" + json.dumps({"benchmark": "rnnkit.forecast", "seed": args.seed,
                             "max_minutes": args.max_minutes, "goals": checks, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
