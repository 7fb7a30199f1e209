"""Forecasting model selection on validation windows: the holdout is never read.

For each series, the last ``test_size`` points (the benchmark's holdout) are cut off first.
What is left is treated as if it were the whole series: its own last ``test_size`` points
become a validation holdout with the same rolling origins. The RNN is trained on the rest
(with its usual early-stopping split) and every method is scored there. Each candidate
setting (the series' defaults with a few settings changed) is trained with every seed;
its row gives the mean validation MASE over the seeds and the MASE of the seed ensemble
(the mean of the seeds' forecasts), beside the baselines on the same windows. The
candidate with the lowest ensemble MASE becomes the series' default; ``bench/forecast.py``
then reads the holdout once. ``--blocks K`` averages over K consecutive validation blocks
(each ``test_size`` points, the earlier ones cut further back) and ``--stride 1`` starts a
forecast at every step of a block instead of every ``horizon`` steps: more windows, less
noise (the holdout's 2-4 origins did not predict the holdout, docs/forecasting.md).

Usage::

    nice -n 10 python bench/forecast_select.py --seeds 0 1 2              # every default series
    nice -n 10 python bench/forecast_select.py --series wineind --only recursive direct-log
    nice -n 10 python bench/forecast_select.py --blocks 3 --stride 1    # more windows, less noise
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
    # the network corrects a classical forecast (ForecastConfig.base)
    "direct-base-hw": {"strategy": "direct", "log": False, "base": "holt_winters"},
    "direct-base-hw-mult": {"strategy": "direct", "log": False,
                            "base": "holt_winters_multiplicative"},
    "direct-log-base-hw-mult": {"strategy": "direct", "log": True,
                                "base": "holt_winters_multiplicative"},
    "direct-base-arima": {"strategy": "direct", "log": False, "base": "arima"},
    "direct-log-base-arima-log": {"strategy": "direct", "log": True, "base": "arima_log"},
}


# Every candidate starts from the series' shape (window, horizon, holdout and, for the long
# series, batch size and patience) with the settings the candidates choose reset, so that the
# selection does not depend on the defaults it chose last time. Taylor's weekly differencing
# and its missing level normalisation are part of its shape.
NEUTRAL = {"strategy": "direct", "log": False, "seasonal_diff": 0, "hidden_size": 32,
           "base": "none"}
KEPT = {"taylor": {"seasonal_diff": 336, "level": False}}


def candidate_base(name: str, full: TimeSeries):
    """``(ForecastConfig, test_size)`` every candidate of series ``name`` changes."""
    base, test_size = forecast.settings_for(name, len(full), full.period, {})
    return dataclasses.replace(base, **{**NEUTRAL, **KEPT.get(name, {})}), test_size


def without_holdout(series: TimeSeries, test_size: int) -> TimeSeries:
    """The series with its last ``test_size`` points removed."""
    return TimeSeries(series.name, series.values[:-test_size], series.columns,
                      series.times[:-test_size], series.period)


def score_block(series, config_of, test_size, seeds, stride) -> dict:
    """One validation block (the last ``test_size`` points of ``series``): the MASE of each
    seed, of their ensemble, and of the baselines."""
    per_seed, forecasts, baselines = [], [], {}
    for seed in seeds:
        config = config_of(seed)
        model, data, _ = train(series, None, config, test_size)
        result = evaluate(model, data, series, config, test_size, stride=stride,
                          with_baselines=not baselines)
        per_seed.append(result["methods"]["rnn"]["mase"])
        forecasts.append(result["forecasts"]["rnn"])
        if not baselines:
            baselines = {m: v["mase"] for m, v in result["methods"].items() if m != "rnn"}
            truth = result["truth"]
    scale = metrics.mase_scale(series.values[:len(series) - test_size], series.period)
    return {"seeds": per_seed, "ensemble": metrics.mase(truth, np.mean(forecasts, axis=0), scale),
            "baselines": baselines}


def score_candidate(series, base, changes, test_size, seeds, blocks=1, stride=None) -> dict:
    """Validation MASE averaged over ``blocks`` consecutive blocks of ``test_size`` points
    (the last block ends where the holdout starts; each earlier one ``test_size`` before),
    forecasts starting every ``stride`` steps (default: the horizon, as on the holdout)."""
    changes = dict(changes)
    if changes.get("seasonal_diff") == "period":
        changes["seasonal_diff"] = series.period
    scores = [score_block(series if b == 0 else without_holdout(series, b * test_size),
                          lambda seed: dataclasses.replace(base, **changes, seed=seed),
                          test_size, seeds, stride) for b in range(blocks)]
    per_seed = np.mean([s["seeds"] for s in scores], axis=0)
    return {"mean": float(per_seed.mean()), "seeds": per_seed.tolist(),
            "ensemble": float(np.mean([s["ensemble"] for s in scores])),
            "baselines": {m: float(np.mean([s["baselines"][m] for s in scores]))
                          for m in scores[0]["baselines"]}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", nargs="+", choices=DEFAULT_SERIES, default=list(DEFAULT_SERIES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="+", choices=sorted(CANDIDATES), metavar="NAME")
    parser.add_argument("--blocks", type=int, default=1,
                        help="validation blocks of test_size points before the holdout, scores "
                             "averaged (default 1)")
    parser.add_argument("--stride", type=int, default=None,
                        help="steps between forecast origins in a block (default: the horizon)")
    args = parser.parse_args(argv)
    record = {"bench": "forecast_select", "seeds": args.seeds, "series": {}}
    with blas_threads(1):
        for name in args.series:
            full = load_series(name)
            base, test_size = candidate_base(name, full)
            series = without_holdout(full, test_size)
            origins = holdout_origins(len(series), test_size, base.horizon, args.stride)
            print(f"\n### {name}: {args.blocks} validation block(s) of {test_size} points ending at "
                  f"point {len(series) - 1} of the {len(series)} before the holdout "
                  f"({len(origins)} origins each, horizon {base.horizon}); seeds {args.seeds}\n")
            print("| candidate | RNN mean | per seed | ensemble | seconds |")
            print("|---|---:|---|---:|---:|")
            rows = {}
            for cand in args.only or CANDIDATES:
                start = time.perf_counter()
                try:
                    row = score_candidate(series, base, CANDIDATES[cand], test_size, args.seeds,
                                          args.blocks, args.stride)
                except InputError as exc:              # e.g. log of a series that touches 0
                    print(f"| {cand} | n/a: {exc} | | | |")
                    continue
                row["seconds"] = round(time.perf_counter() - start, 1)
                rows[cand] = row
                print(f"| {cand} | {row['mean']:.3f} | "
                      + " / ".join(f"{v:.3f}" for v in row["seeds"])
                      + f" | {row['ensemble']:.3f} | {row['seconds']:.0f} |", flush=True)
            if not rows:
                print(f"\nno candidate fits {name} with these blocks")
                continue
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
