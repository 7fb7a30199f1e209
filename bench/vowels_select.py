"""JapaneseVowels model selection by cross-validation on the 270 training sequences only.

The test set (370 sequences) is never read here. Each candidate configuration (the app's
defaults with a few settings changed) is trained on 4 of 5 folds and scored on the fifth,
for every fold and every seed. The folds are stratified by speaker (6 of each speaker's 30
utterances per fold) and drawn from ``100 + seed``. The table gives the mean accuracy over
the ``5 x seeds`` held-out folds and its standard error. The best candidate becomes the
app's default; ``bench/vowels.py`` then reads the test set once.

With ``val_fraction 0`` a candidate trains on all 4 folds for a fixed number of epochs (no
early stopping); otherwise ``val_fraction`` of the 4 folds is held out for early stopping, as
``rnnkit vowels train`` does.

Usage::

    nice -n 10 python bench/vowels_select.py --seeds 0 1 2                 # the built-in grid
    nice -n 10 python bench/vowels_select.py --only current max-pool-e40
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

from rnnkit.apps import vowels  # noqa: E402
from rnnkit.apps._threads import blas_threads  # noqa: E402
from rnnkit.classification import train_classifier  # noqa: E402
from rnnkit.data.scaling import StandardScaler  # noqa: E402
from rnnkit.data.speech import load_japanese_vowels  # noqa: E402

# name -> settings changed from the defaults of 2026-11 (the `current` row)
OLD_DEFAULTS = dataclasses.replace(vowels.DEFAULTS, cell="lstm", hidden_size=64, pooling="mean",
                                   dropout=0.4, epochs=60, batch_size=16, lr=3e-3,
                                   weight_decay=0.05, patience=10, val_fraction=0.1)
ALL = {"val_fraction": 0.0}                      # train on all 4 folds, fixed epochs
GRID = {
    "current": {},
    "gru": {"cell": "gru"},
    "hidden-128": {"hidden_size": 128},
    "all-e25": {**ALL, "epochs": 25},
    "all-e40": {**ALL, "epochs": 40},
    "all-e70": {**ALL, "epochs": 70},
    "all-e40-hidden-32": {**ALL, "epochs": 40, "hidden_size": 32},
    "all-e40-hidden-128": {**ALL, "epochs": 40, "hidden_size": 128},
    "all-e40-dropout-0.2": {**ALL, "epochs": 40, "dropout": 0.2},
    "all-e40-dropout-0.6": {**ALL, "epochs": 40, "dropout": 0.6},
    "all-e40-wd-0.2": {**ALL, "epochs": 40, "weight_decay": 0.2},
    "all-e40-gru": {**ALL, "epochs": 40, "cell": "gru"},
    "all-e40-max-pool": {**ALL, "epochs": 40, "pooling": "max"},
    "all-e80-lr-1e-3": {**ALL, "epochs": 80, "lr": 1e-3},
    "all-e40-2-layers": {**ALL, "epochs": 40, "num_layers": 2},
    "all-e40-batch-8": {**ALL, "epochs": 40, "batch_size": 8},
    "all-e25-max-pool": {**ALL, "epochs": 25, "pooling": "max"},
    "all-e60-max-pool": {**ALL, "epochs": 60, "pooling": "max"},
    "all-e40-max-pool-gru": {**ALL, "epochs": 40, "pooling": "max", "cell": "gru"},
    "all-e40-max-pool-dropout-0.2": {**ALL, "epochs": 40, "pooling": "max", "dropout": 0.2},
    "all-e40-max-pool-hidden-128": {**ALL, "epochs": 40, "pooling": "max", "hidden_size": 128},
    "max-pool": {"pooling": "max"},
}


def stratified_folds(labels, k: int, seed: int) -> np.ndarray:
    """``(N,)`` fold index of each example: each class dealt round-robin over ``k`` folds in a
    seeded random order."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    fold = np.empty(len(labels), dtype=int)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        fold[members] = np.arange(len(members)) % k
    return fold


def cross_validate(config, sequences, labels, seeds, k: int = 5) -> list[float]:
    """Held-out accuracy of every (seed, fold)."""
    accuracies = []
    for seed in seeds:
        fold = stratified_folds(labels, k, 100 + seed)
        for held in range(k):
            train, test = np.flatnonzero(fold != held), np.flatnonzero(fold == held)
            _, summary = train_classifier(
                StandardScaler, [sequences[i] for i in train], [labels[i] for i in train],
                dataclasses.replace(config, seed=seed), None,
                test=([sequences[i] for i in test], [labels[i] for i in test]), progress=False)
            accuracies.append(summary["test"]["accuracy"])
    return accuracies


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="default 0 1 2")
    parser.add_argument("--folds", type=int, default=5, help="default 5")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=sorted(GRID),
                        help="these candidates only (default: the whole grid)")
    args = parser.parse_args(argv)
    sequences, labels = load_japanese_vowels("train")
    labels = list(labels)
    rows = []
    print(f"| candidate | CV accuracy | s.e. | seconds |   ({args.folds} folds x seeds "
          f"{args.seeds}; 270 training sequences only)")
    print("|---|---:|---:|---:|")
    with blas_threads(1):
        for name in args.only or GRID:
            start = time.perf_counter()
            config = dataclasses.replace(OLD_DEFAULTS, **GRID[name])
            acc = cross_validate(config, sequences, labels, args.seeds, args.folds)
            row = {"name": name, "changes": GRID[name], "cv_accuracy": float(np.mean(acc)),
                   "se": float(np.std(acc, ddof=1) / np.sqrt(len(acc))), "n": len(acc),
                   "seconds": round(time.perf_counter() - start, 1)}
            rows.append(row)
            print(f"| {name} | {row['cv_accuracy']:.4f} | {row['se']:.4f} | {row['seconds']:.0f} |",
                  flush=True)
    best = max(rows, key=lambda r: r["cv_accuracy"])
    print(f"\nbest by CV: {best['name']} ({best['cv_accuracy']:.4f} +- {best['se']:.4f})")
    print(json.dumps({"bench": "vowels_select", "seeds": args.seeds, "folds": args.folds,
                      "rows": rows, "best": best["name"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
