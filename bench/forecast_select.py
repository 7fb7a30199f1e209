"""Forecasting model selection on validation windows: the holdout is never read.

For each series, the last ``test_size`` points (the benchmark's holdout) are cut off first.
What is left is treated as if it were the whole series: its own last ``test_size`` points
become a validation holdout with the same rolling origins. The RNN is trained on the rest
(with its usual early-stopping split) and every method is scored there. Each candidate
setting (the series' defaults with a few settings changed) is trained with every seed;
its row gives the mean validation MASE over the seeds and the MASE of the seed ensemble
(the mean of the seeds' forecasts), beside the baselines on the same windows. The
candidate with the lowest ensemble MASE becomes the series' default; ``bench/forecast.py``
then reads the holdout once.

Usage::

    nice -n 10 python bench/forecast_select.py --seeds 0 1 2              # every default series
    nice -n 10 python bench/forecast_select.py --series wineind --only recursive direct-log
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rnnkit.apps import forecast  # noqa: E402
from rnnkit.apps._threads import blas_threads  # noqa: E402
from rnnkit.errors import InputError  # noqa: E402
from rnnkit.forecasting import metrics  # noqa: E402
from rnnkit.forecasting.evaluate import evaluate, holdout_origins  # noqa: E402
from rnnkit.forecasting.fit import train  # noqa: E402
from rnnkit.forecasting.series import DEFAULT_SERIES, TimeSeries, load_series  # noqa: E402

CANDIDATES = {
    "direct": {"strategy": "direct", "log": False},
    "direct-log": {"strategy": "direct", "log": True},
    "recursive": {"strategy": "recursive", "log": False},
    "recursive-log": {"strategy": "recursive", "log": True},
    "direct-sdiff": {"strategy": "direct", "log": False, "seasonal_diff": "period"},
    "recursive-sdiff": {"strategy": "recursive", "log": False, "seasonal_diff": "period"},
    "direct-log-sdiff": {"strategy": "direct", "log": True, "seasonal_diff": "period"},
    "recursive-log-sdiff": {"strategy": "recursive", "log": True, "seasonal_diff": "period"},
    "recursive-hidden-64": {"strategy": "recursive", "log": False, "hidden_size": 64},
    "recursive-window-36": {"strategy": "recursive", "log": False, "window": 36},
    "direct-log-sdiff-hidden-64": {"strategy": "direct", "log": True, "seasonal_diff": "period",
                                   "hidden_size": 64},
}


def without_holdout(series: TimeSeries, test_size: int) -> TimeSeries:
    """The series with its last ``test_size`` points removed."""
    return TimeSeries(series.name, series.values[:-test_size], series.columns,
                      series.times[:-test_size], series.period)


def score_candidate(series, base, changes, test_size, seeds) -> dict:
    """Validation MASE of each seed, of their ensemble, and of the baselines."""
    changes = dict(changes)
    if changes.get("seasonal_diff") == "period":
        changes["seasonal_diff"] = series.period
    per_seed, forecasts, baselines = [], [], {}
    for seed in seeds:
        config = dataclasses.replace(base, **changes, seed=seed)
        model, data, _ = train(series, None, config, test_size)
        result = evaluate(model, data, series, config, test_size, with_baselines=not baselines)
        per_seed.append(result["methods"]["rnn"]["mase"])
        forecasts.append(result["forecasts"]["rnn"])
        if not baselines:
            baselines = {m: v["mase"] for m, v in result["methods"].items() if m != "rnn"}
            truth = result["truth"]
    n_train = len(series) - test_size
    scale = metrics.mase_scale(series.values[:n_train], series.period)
    ensemble = metrics.mase(truth, np.mean(forecasts, axis=0), scale)
    return {"mean": float(np.mean(per_seed)), "seeds": per_seed, "ensemble": float(ensemble),
            "baselines": baselines}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", nargs="+", choices=DEFAULT_SERIES, default=list(DEFAULT_SERIES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="+", choices=sorted(CANDIDATES), metavar="NAME")
    args = parser.parse_args(argv)
    record = {"bench": "forecast_select", "seeds": args.seeds, "series": {}}
    with blas_threads(1):
        for name in args.series:
            full = load_series(name)
            base, test_size = forecast.settings_for(name, len(full), full.period, {})
            series = without_holdout(full, test_size)
            origins = holdout_origins(len(series), test_size, base.horizon)
            print(f"\n### {name}: validation = points {len(series) - test_size}..{len(series) - 1} "
                  f"of the {len(series)} before the holdout ({len(origins)} origins, horizon "
                  f"{base.horizon}); seeds {args.seeds}\n")
            print("| candidate | RNN mean | per seed | ensemble | seconds |")
            print("|---|---:|---|---:|---:|")
            rows = {}
            for cand in args.only or CANDIDATES:
                start = time.perf_counter()
                try:
                    row = score_candidate(series, base, CANDIDATES[cand], test_size, args.seeds)
                except InputError as exc:              # e.g. log of a series that touches 0
                    print(f"| {cand} | n/a: {exc} | | | |")
                    continue
                row["seconds"] = round(time.perf_counter() - start, 1)
                rows[cand] = row
                print(f"| {cand} | {row['mean']:.3f} | "
                      + " / ".join(f"{v:.3f}" for v in row["seeds"])
                      + f" | {row['ensemble']:.3f} | {row['seconds']:.0f} |", flush=True)
            best = min(rows, key=lambda c: rows[c]["ensemble"])
            baselines = rows[best]["baselines"]
            print("\nbaselines on the same windows (with the best candidate's log setting): "
                  + ", ".join(f"{m} {v:.3f}" for m, v in baselines.items()))
            print(f"best by validation ensemble MASE: {best}")
            record["series"][name] = {"rows": rows, "best": best}
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
