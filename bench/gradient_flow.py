"""The vanishing-gradient picture, measured: ||dL/dh_t|| of RNN (tanh), GRU and LSTM on the
adding problem, at initialisation and after training (rnnkit.inspect.vanishing_study).

Each cell: one layer of ``--hidden`` units and a Linear readout of the last state, float64,
PyTorch's initialisation, seeded; Adam (lr 1e-3, norm clipped at 1) for ``--steps`` batches
of 32 fresh sequences of length ``--length``. The flow is measured on one fixed batch of 256
sequences, for each sequence's own squared error at the last step, with the hand-written
BPTT of ``rnnkit.inspect.trace.state_gradients``; the MSE of the same batch says whether the
model learned the task (predicting 1 always gives 1/6 = 0.167).

Usage::

    python bench/gradient_flow.py --length 100 --steps 4000 --plot docs/inspect/gradient_flow.png
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DISTANCES = (0, 1, 5, 10, 25, 50, 99)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=100, help="sequence length T (default 100)")
    parser.add_argument("--hidden", type=int, default=64, help="units (default 64)")
    parser.add_argument("--steps", type=int, default=4000, help="training steps (default 4000)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--plot", metavar="PNG", help="write the figure here")
    args = parser.parse_args(argv)

    from rnnkit.apps._threads import blas_threads
    from rnnkit.inspect import vanishing_study
    from rnnkit.inspect.plots import plot_vanishing_study

    start = time.perf_counter()
    with blas_threads(1):
        study = vanishing_study(length=args.length, hidden_size=args.hidden, steps=args.steps,
                                seed=args.seed, log=print)
    seconds = time.perf_counter() - start
    distances = [d for d in DISTANCES if d < args.length]
    print(f"\n||dL/dh_t|| relative to distance 0; T={args.length}, H={args.hidden}, "
          f"{args.steps} steps, seed {args.seed}, {seconds:.0f} s in all")
    print("| cell | when | MSE | " + " | ".join(f"d={d}" for d in distances) + " |")
    print("|---|---|---:|" + "---:|" * len(distances))
    record = {"length": args.length, "hidden": args.hidden, "steps": args.steps,
              "seed": args.seed, "seconds": round(seconds, 1), "cells": {}}
    for cell, entry in study.items():
        record["cells"][cell] = {}
        for key in ("init", "trained"):
            by_distance = entry[key][::-1]
            ratios = [by_distance[d] / by_distance[0] for d in distances]
            mse = entry[f"mse_{key}"]
            print(f"| {cell.upper()} | {key} | {mse:.4f} | "
                  + " | ".join(f"{r:.1e}" for r in ratios) + " |")
            record["cells"][cell][key] = {"mse": mse, "ratios": dict(zip(map(str, distances), ratios))}
    if args.plot:
        plot_vanishing_study(study, args.plot, title=f"adding problem, T = {args.length}, "
                                                     f"{args.hidden} units, {args.steps} steps")
        print(f"wrote {args.plot}")
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
