"""What the Trainer costs on top of the bare training step, and what a checkpoint costs.

A character-level LSTM language model (one-hot input, V=65, 2 layers of 256, B=32, T=64,
float32, Adam, clipping at 5) is trained on random tokens two ways, interleaved:

* ``bare``:    the hand-written loop (forward, cross-entropy, backward, clip, step) with
               the state carried between chunks, nothing else;
* ``trainer``: ``Trainer.fit`` for the same number of steps (logging every 10 steps,
               no validation, no checkpoint, no progress bar).

Also timed: one ``save_checkpoint`` and one ``restore`` of the trainer (checkpoint size
given). Prints a markdown table, then one JSON line.

Usage::

    python bench/training_overhead.py            # 30 steps per run, 3 rounds
    python bench/training_overhead.py --quick    # 10 steps, 1 round
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np

import rnnkit
from rnnkit.models import LanguageModel
from rnnkit.optim import Adam, clip_grad_norm
from rnnkit.training import TokenStream, Trainer

V, H, L, B, T = 65, 256, 2, 32, 64


def make(seed=0):
    model = LanguageModel(V, None, H, L, "lstm", seed=seed)
    return model, Adam(model.parameters(), lr=2e-3)


def bare_run(data, steps):
    model, opt = make()
    ce = rnnkit.CrossEntropyLoss()
    state = None
    start = time.perf_counter()
    for i in range(steps):
        batch = data.batch(0, i % data.num_batches)
        model.zero_grad()
        logits, state = model.forward(batch.inputs, state)
        ce.forward(logits, batch.targets)
        model.backward(ce.backward())
        clip_grad_norm(model.parameters(), 5.0)
        opt.step()
    return time.perf_counter() - start


def trainer_run(data, steps):
    model, opt = make()
    trainer = Trainer(model, opt, data, max_steps=steps, clip_grad_norm=5.0, progress=False)
    start = time.perf_counter()
    trainer.fit()
    return time.perf_counter() - start, trainer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    steps, rounds = (10, 1) if args.quick else (args.steps, args.rounds)
    tokens = np.random.default_rng(0).integers(0, V, B * (T * steps + 1))
    data = TokenStream(tokens, batch_size=B, seq_len=T)
    bare_run(data, 2)                                      # warm-up
    bare, trained = [], []
    for _ in range(rounds):
        bare.append(bare_run(data, steps))
        seconds, trainer = trainer_run(data, steps)
        trained.append(seconds)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "checkpoint.npz")
        start = time.perf_counter()
        trainer.save_checkpoint(path)
        save_s = time.perf_counter() - start
        size_mb = os.path.getsize(path) / 2**20
        model, opt = make(seed=1)
        fresh = Trainer(model, opt, data, max_steps=steps, progress=False)
        start = time.perf_counter()
        fresh.restore(path)
        restore_s = time.perf_counter() - start
    tokens_per_step = B * T
    bare_tps = tokens_per_step * steps / statistics.median(bare)
    trainer_tps = tokens_per_step * steps / statistics.median(trained)
    overhead = statistics.median(trained) / statistics.median(bare) - 1
    print(f"char LSTM LM, V={V}, {L}x{H}, B={B}, T={T}, float32, {steps} steps x {rounds} rounds "
          f"(median)\n")
    print("| loop | tokens/s | ms/step |")
    print("|---|---:|---:|")
    for name, tps in (("bare", bare_tps), ("Trainer", trainer_tps)):
        print(f"| {name} | {tps:,.0f} | {1000 * tokens_per_step / tps:.1f} |")
    print(f"\nTrainer overhead: {100 * overhead:+.1f}%; checkpoint {size_mb:.1f} MiB: "
          f"save {1000 * save_s:.0f} ms, restore {1000 * restore_s:.0f} ms\n")
    print(json.dumps({"bench": "training_overhead", "bare_tokens_per_s": round(bare_tps),
                      "trainer_tokens_per_s": round(trainer_tps), "overhead": round(overhead, 4),
                      "checkpoint_mib": round(size_mb, 2), "save_ms": round(1000 * save_s, 1),
                      "restore_ms": round(1000 * restore_s, 1), "steps": steps, "rounds": rounds}))


if __name__ == "__main__":
    main()
