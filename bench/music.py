"""Music benchmarks: JSB Chorales negative log-likelihood per time step with the Bernoulli and
the RNN-NADE output, against the published recurrent results; training throughput against
the PyTorch twin of the Bernoulli model.

The issue's goals (test NLL per time step, nats, summed over the 88 pitches, averaged over
every time step of the 77 test chorales — ``rnnkit.music.nll_per_step``): Bernoulli output
<= 8.40 (Chung et al. 2014: GRU 8.54, LSTM 8.67; Bai et al. 2018: GRU 8.43), RNN-NADE
<= 6.0 (Boulanger-Lewandowski et al. 2012: 5.56); training throughput >= 1.0x the twin.

Data: the JSB Chorales split of the literature (229 / 76 / 77 chorales, quarter-note
steps), ``--jsb`` (default ``../shared/data/jsb-chorales/jsb-chorales-quarter.json``
beside the repository: benchmark only, the package never reads it).

``quality``  Protocol: hyperparameters are chosen on the *validation* chorales only. For
    each configuration of ``--grid`` (``hidden:dropout[:weight_drop]``), one run with seed 0 of
    at most ``--minutes`` (early stopping on validation NLL, patience 20 epochs, the best
    weights kept); the configuration with the lowest validation NLL is then trained with
    every seed of ``--seeds`` (seed 0's run reused), and only those final models are
    scored on the test chorales, once each. Reports valid and test NLL per seed, their
    mean and spread, and the training minutes.
``throughput``  The Bernoulli model (GRU, the quality run's size) and its torch twin
    (``rnnkit.models.piano_roll_interop.to_torch``: same starting weights; nn.GRU over the
    padded batch, nn.Linear, BCE with logits) take --steps training steps each on the same
    batches of training chorales (16 a batch), alternating step by step so both see the
    same machine load, in --repeats blocks (one ratio each). Dropout off in both.

Threads: --threads (default 1) for NumPy's BLAS and torch.set_num_threads.

Usage::

    python bench/music.py quality --output bernoulli --grid 256:0.3,256:0.5 --seeds 0,1,2
    python bench/music.py quality --output nade --grid 256:0.3 --seeds 0,1,2
    python bench/music.py quality --output bernoulli --grid 512:0.5:0.5 --lr 2e-3 --seeds 0
    python bench/music.py throughput --steps 150 --repeats 3

Each prints markdown tables and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from _steps import rnnkit_step, time_alternating, torch_step
from rnnkit.apps._threads import blas_threads

GOALS = {"bernoulli": 8.40, "nade": 6.0, "throughput_ratio": 1.0}
PUBLISHED = {"bernoulli": "Chung et al. 2014: GRU 8.54, LSTM 8.67; Bai et al. 2018: GRU 8.43",
             "nade": "Boulanger-Lewandowski et al. 2012: RNN-NADE 5.56"}
DEFAULT_JSB = Path(__file__).resolve().parents[2] / "shared/data/jsb-chorales/jsb-chorales-quarter.json"


def load_now() -> float:
    return round(os.getloadavg()[0], 2)


def jsb(path) -> dict:
    from rnnkit.data.music import jsb_chorales

    return jsb_chorales(path)


# --------------------------------------------------------------------------- quality


def run_quality(path, output, grid, seeds, minutes, epochs, lr) -> dict:
    from rnnkit.music import MusicConfig, train_music

    data = jsb(path)
    print(f"JSB Chorales: {', '.join(f'{k} {len(v)} chorales ({sum(map(len, v)):,} steps)' for k, v in data.items())}",
          flush=True)

    def fit(hidden, dropout, weight_drop, seed):
        config = MusicConfig(hidden_size=hidden, dropout=dropout, weight_drop=weight_drop,
                             output=output, seed=seed, lr=lr, max_minutes=minutes, epochs=epochs,
                             patience=20)
        started = time.perf_counter()
        model, summary = train_music(data["train"], data["valid"], config, progress=False)
        run = {"hidden": hidden, "dropout": dropout, "weight_drop": weight_drop, "lr": lr,
               "seed": seed, "steps": summary["step"],
               "epochs": summary["epoch"], "stop": summary["stop_reason"],
               "minutes": round((time.perf_counter() - started) / 60, 1),
               "valid_nll": model.nll(data["valid"])}
        print(f"  {output} hidden {hidden} dropout {dropout} weight drop {weight_drop} lr {lr} "
              f"seed {seed}: valid NLL "
              f"{run['valid_nll']:.3f} after {run['epochs']} epochs ({run['stop']}, "
              f"{run['minutes']} min; load {load_now()})", flush=True)
        return model, run

    selection = {}
    for setting in grid:                                                # (hidden, dropout, weight drop)
        selection[setting] = fit(*setting, seeds[0])
    best = min(selection, key=lambda k: selection[k][1]["valid_nll"])
    print(f"chosen on validation: hidden {best[0]}, dropout {best[1]}, weight drop {best[2]}",
          flush=True)
    finals = [selection[best]] + [fit(*best, seed) for seed in seeds[1:]]
    for model, run in finals:
        run["test_nll"] = model.nll(data["test"])                       # the test set, once
    runs = [run for _, run in finals]
    tests = np.array([r["test_nll"] for r in runs])
    print("\n| output | hidden | dropout | weight drop | lr | seed | epochs | minutes | valid NLL | "
          "test NLL |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        print(f"| {output} | {r['hidden']} | {r['dropout']} | {r['weight_drop']} | {r['lr']:g} | "
              f"{r['seed']} | {r['epochs']} | "
              f"{r['minutes']} | {r['valid_nll']:.3f} | {r['test_nll']:.3f} |")
    print(f"\ntest NLL mean {tests.mean():.3f}, min {tests.min():.3f}, max {tests.max():.3f} over "
          f"{len(tests)} seeds; published: {PUBLISHED[output]}")
    print(f"goal: test NLL <= {GOALS[output]:.2f} -> mean {tests.mean():.3f}: "
          f"{'met' if tests.max() <= GOALS[output] else 'met on average' if tests.mean() <= GOALS[output] else 'not met'}")
    return {"bench": "music_quality", "output": output, "minutes": minutes,
            "selection": [r for _, r in selection.values()], "chosen": list(best), "runs": runs,
            "test_mean": float(tests.mean()), "test_min": float(tests.min()),
            "test_max": float(tests.max())}


# --------------------------------------------------------------------------- throughput


def run_throughput(path, hidden, steps, repeats) -> dict:
    import torch
    from rnnkit.models.piano_roll_interop import to_torch
    from rnnkit.music import MusicConfig, build_model
    from rnnkit.training import SequenceBatches

    config = MusicConfig(hidden_size=hidden, output="bernoulli", dropout=0.0)
    train = jsb(path)["train"]
    model = build_model(config, train[0].shape[1])
    twin = to_torch(model)
    batches = SequenceBatches([r.astype(model.dtype) for r in train], np.zeros(len(train)),
                              config.batch_size, seed=0)
    print(f"throughput: {steps} steps each in {repeats} blocks; GRU {hidden}, Bernoulli output, "
          f"batch {config.batch_size} chorales", flush=True)
    step_fns = {"rnnkit": rnnkit_step(model, config.lr, config.clip),
                "torch": torch_step(twin, config.lr, config.clip)}
    seconds, counted = time_alternating(step_fns, batches, steps, repeats,
                                        lambda batch: int(batch.lengths.sum()))
    ratios = seconds["torch"] / seconds["rnnkit"]
    result = {"steps_per_s": {k: counted.sum() / s.sum() for k, s in seconds.items()},
              "ratio_blocks": [round(float(r), 4) for r in ratios],
              "ratio_all": round(float(seconds["torch"].sum() / seconds["rnnkit"].sum()), 4)}
    print(f"\n| rnnkit time steps/s | torch {torch.__version__} time steps/s | ratio (all steps) | "
          f"per block |\n|---:|---:|---:|---|\n| {result['steps_per_s']['rnnkit']:,.0f} | "
          f"{result['steps_per_s']['torch']:,.0f} | {result['ratio_all']:.3f}x | "
          f"{', '.join(f'{r:.3f}' for r in result['ratio_blocks'])} |")
    print(f"\ngoal: throughput ratio >= {GOALS['throughput_ratio']:.1f}x -> {result['ratio_all']:.3f}x: "
          f"{'met' if result['ratio_all'] >= GOALS['throughput_ratio'] else 'not met'}")
    return {"bench": "music_throughput", "hidden": hidden, "repeats": repeats,
            "steps": max(1, steps // repeats) * repeats, "throughput": result}


# --------------------------------------------------------------------------- main


def _grid(text: str):
    """``hidden:dropout[:weight_drop],...`` -> [(hidden, dropout, weight_drop), ...]."""
    settings = []
    for item in text.split(","):
        hidden, dropout, *weight_drop = item.split(":")
        settings.append((int(hidden), float(dropout), float(weight_drop[0]) if weight_drop else 0.0))
    return settings


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("task", choices=("quality", "throughput"))
    parser.add_argument("--jsb", default=str(DEFAULT_JSB), help="jsb-chorales-quarter.json")
    parser.add_argument("--output", choices=("bernoulli", "nade"), default="bernoulli",
                        help="quality: the output layer (default bernoulli)")
    parser.add_argument("--grid", type=_grid, default=_grid("256:0.3"),
                        help="quality: hidden:dropout[:weight_drop] settings chosen among on "
                             "validation (default 256:0.3)")
    parser.add_argument("--lr", type=float, default=1e-3, help="quality: Adam's learning rate "
                        "(default 1e-3)")
    parser.add_argument("--seeds", default="0", help="quality: comma-separated seeds (default 0)")
    parser.add_argument("--minutes", type=float, default=20.0, help="quality: budget per run (default 20)")
    parser.add_argument("--epochs", type=int, default=300, help="quality: at most this many epochs")
    parser.add_argument("--hidden", type=int, default=256, help="throughput: GRU units (default 256)")
    parser.add_argument("--steps", type=int, default=150, help="throughput: steps each (default 150)")
    parser.add_argument("--repeats", type=int, default=3, help="throughput: blocks (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads (default 1)")
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    started, load_before = time.perf_counter(), load_now()
    with blas_threads(args.threads):
        if args.task == "quality":
            seeds = [int(s) for s in args.seeds.split(",")]
            record = run_quality(args.jsb, args.output, args.grid, seeds, args.minutes,
                                 args.epochs, args.lr)
        else:
            record = run_throughput(args.jsb, args.hidden, args.steps, args.repeats)
    record.update(threads=args.threads, load_before=load_before, load_after=load_now(),
                  wall_minutes=round((time.perf_counter() - started) / 60, 1),
                  machine=platform.machine(), cpus=os.cpu_count(), numpy=np.__version__,
                  torch=torch.__version__)
    print(f"\nload average {load_before} before, {record['load_after']} after; "
          f"{record['wall_minutes']} min wall in all, {args.threads} thread(s)")
    print(json.dumps(record, default=float))
    return record


if __name__ == "__main__":
    main()
