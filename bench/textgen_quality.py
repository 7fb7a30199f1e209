"""Quality at equal wall time: a char-level 2-layer LSTM in rnnkit and in PyTorch, tinyshakespeare.

The issue's goal: validation loss <= 1.50 nats/char within 45 minutes on this
machine (2 cores), and lower than the PyTorch twin trained for the same time.

Both sides, one after the other in this process, get the same:

    data       tinyshakespeare input.txt, first 90% train / last 10% validation
               (rnnkit.data.corpus.split_text: the cut moves to the next line start);
               the character vocabulary of the whole file (65 characters)
    model      Embedding(65, 64) -> LSTM(64, 512, 2 layers) -> Linear(512, 65), float32;
               PyTorch starts from rnnkit's initial weights (names match, copied)
    training   truncated BPTT: 32 parallel streams, 100-character windows, state
               carried between windows; Adam lr 2e-3, clip the global gradient norm
               at 5; no dropout; --minutes of wall time each, counted per side
    threads    --threads (default 2) for both: torch.set_num_threads, and rnnkit's own
               workers (rnnkit.kernels.set_threads; with more than one, rnnkit holds
               NumPy's BLAS to one thread and splits the products itself, and with one,
               BLAS gets --threads). On a machine whose cores other jobs share, use
               --threads 1: there two threads made a step up to 15x slower in torch and
               25-35x slower in NumPy (measured)
    score      cross-entropy in nats/char of the final weights on the whole validation
               text, read as 16 streams in 256-character chunks with the state carried
               (not counted in the training time)

Usage::

    python bench/textgen_quality.py --minutes 45   # the issue's budget, per side
    nice -n 10 python bench/textgen_quality.py --minutes 5 # a shorter check

Prints a markdown table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO / ".." / "shared" / "data" / "tinyshakespeare" / "input.txt"
GOAL_NATS = 1.50
GOAL_MINUTES = 45
CONFIG = dict(embed_size=64, hidden_size=512, num_layers=2, batch_size=32, seq_len=100,
              lr=2e-3, clip=5.0, seed=0)
EVAL = dict(batch_size=16, seq_len=256)


def load_data(path):
    from rnnkit.data import Vocabulary
    from rnnkit.data.corpus import load_text, split_text
    text = load_text(path)
    train_text, val_text = split_text(text)
    vocab = Vocabulary.build(text)
    return vocab, vocab.encode(train_text), vocab.encode(val_text)


# -------------------------------------------------------------------------- rnnkit


def rnnkit_model(vocab_size):
    from rnnkit.models import LanguageModel
    c = CONFIG
    return LanguageModel(vocab_size, embed_size=c["embed_size"], hidden_size=c["hidden_size"],
                         num_layers=c["num_layers"], cell="lstm", seed=c["seed"])


def warm_up_rnnkit(vocab_size, train_ids) -> None:
    """One untimed step of a throwaway model, so one-time compilation (the LSTM kernels
    may be JIT-compiled) is not charged to the timed run."""
    from rnnkit.losses import CrossEntropyLoss
    model, loss = rnnkit_model(vocab_size), CrossEntropyLoss()
    ids = train_ids[:2 * 9].reshape(9, 2)                       # (T+1, B)
    logits, _ = model.forward(ids[:-1])
    loss.forward(logits, ids[1:])
    model.backward(loss.backward())


def train_rnnkit(model, train_ids, minutes: float, steps=None):
    from rnnkit.optim import Adam
    from rnnkit.training import TokenStream, Trainer

    c = CONFIG
    data = TokenStream(train_ids, batch_size=c["batch_size"], seq_len=c["seq_len"])
    losses = []
    trainer = Trainer(model, Adam(model.parameters(), lr=c["lr"]), data,
                      clip_grad_norm=c["clip"], max_minutes=minutes, max_steps=steps,
                      log_every=50, progress=False,
                      on_step=lambda _, record: losses.append(record["train_loss"]))
    summary = trainer.fit()
    return {"steps": summary["step"], "seconds": summary["elapsed_s"],
            "tokens": summary["tokens_seen"], "train_loss": losses[-1] if losses else float("nan")}


def eval_rnnkit(model, val_ids) -> float:
    from rnnkit.training import LanguageModeling, TokenStream
    model.eval()
    stream = TokenStream(val_ids, batch_size=EVAL["batch_size"], seq_len=EVAL["seq_len"])
    return LanguageModeling().evaluate(model, stream)["loss"]


# -------------------------------------------------------------------------- torch


def torch_twin(vocab_size, initial):
    """rnnkit's model as torch.nn modules (rnnkit.models.language_model_interop), with the
    weights ``initial``."""
    from rnnkit.models.language_model_interop import to_torch
    model = rnnkit_model(vocab_size)
    model.load_state_dict(initial)
    return to_torch(model)


def torch_training(vocab, train_ids, initial):
    """The torch twin with its optimizer and data, and ``step(step) -> (loss, tokens)``,
    one training step on batch ``step`` of the stream."""
    import torch
    from rnnkit.training import TokenStream

    c = CONFIG
    model = torch_twin(len(vocab), initial)
    optimizer = torch.optim.Adam(model.parameters(), lr=c["lr"])
    loss_fn = torch.nn.CrossEntropyLoss()
    data = TokenStream(train_ids, batch_size=c["batch_size"], seq_len=c["seq_len"])
    carried = {"state": None}
    model.train()

    def step(number):
        index = number % data.num_batches
        if index == 0:
            carried["state"] = None               # a new epoch starts the streams afresh
        batch = data.batch(0, index)
        x = torch.from_numpy(batch.inputs)
        y = torch.from_numpy(batch.targets)
        logits, state = model(x, carried["state"])
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), c["clip"])
        optimizer.step()
        carried["state"] = tuple(s.detach() for s in state)  # truncated BPTT: cut at the window
        return loss, batch.num_tokens
    return model, step


def train_torch(vocab, train_ids, initial, minutes: float, steps=None):
    model, train_step = torch_training(vocab, train_ids, initial)
    step, tokens, recent = 0, 0, []
    start = time.perf_counter()
    while time.perf_counter() - start < 60 * minutes and (steps is None or step < steps):
        loss, batch_tokens = train_step(step)
        step += 1
        tokens += batch_tokens
        recent = (recent + [loss.item()])[-50:]
    return model, {"steps": step, "seconds": time.perf_counter() - start, "tokens": tokens,
                   "train_loss": float(np.mean(recent)) if recent else float("nan")}


def eval_torch(model, val_ids) -> float:
    import torch
    from rnnkit.training import TokenStream
    stream = TokenStream(val_ids, batch_size=EVAL["batch_size"], seq_len=EVAL["seq_len"])
    model.eval()
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for i in range(stream.num_batches):
            batch = stream.batch(0, i)
            logits, state = model(torch.from_numpy(batch.inputs), state)
            y = torch.from_numpy(batch.targets)
            total += float(torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum"))
            count += y.numel()
    return total / count


# -------------------------------------------------------------------------- report


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="?", default=str(DEFAULT_DATA),
                        help="tinyshakespeare input.txt (default: ../shared/data/... from the repo)")
    parser.add_argument("--minutes", type=float, default=GOAL_MINUTES,
                        help=f"training wall time per side (default {GOAL_MINUTES})")
    parser.add_argument("--steps", type=int, default=None,
                        help="also stop each side at this many steps (for a quick check)")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads for torch and for NumPy's BLAS (default 2)")
    parser.add_argument("--val-chars", type=int, default=None,
                        help="score on the first N validation characters only (quick checks)")
    parser.add_argument("--only", choices=("rnnkit", "torch"), default=None,
                        help="run one side only")
    args = parser.parse_args(argv)

    import torch
    from threadpoolctl import threadpool_limits

    from rnnkit import kernels as rnnkit_kernels
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads, user_api="blas")
    rnnkit_kernels.set_threads(args.threads)
    vocab, train_ids, val_ids = load_data(args.data)
    val_ids = val_ids[:args.val_chars]
    print(f"tinyshakespeare: {len(train_ids):,} train / {len(val_ids):,} validation characters, "
          f"{len(vocab)} symbols; {args.minutes:g} min per side, {args.threads} thread(s)", flush=True)
    results = {}
    rn_model = rnnkit_model(len(vocab))
    initial = rn_model.state_dict()             # the torch twin starts from these weights
    if args.only != "torch":
        warm_up_rnnkit(len(vocab), train_ids)
        rn = train_rnnkit(rn_model, train_ids, args.minutes, args.steps)
        rn["val_nats"] = eval_rnnkit(rn_model, val_ids)
        results["rnnkit"] = rn
        print(f"rnnkit: {rn}", flush=True)
    if args.only != "rnnkit":
        th_model, th = train_torch(vocab, train_ids, initial, args.minutes, args.steps)
        th["val_nats"] = eval_torch(th_model, val_ids)
        results["torch"] = th
        print(f"torch:  {th}", flush=True)

    print()
    print(f"| library | minutes | steps | chars/s | train loss (last <=50 steps) | val nats/char | val bits/char |")
    print(f"|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        label = "rnnkit (NumPy)" if name == "rnnkit" else f"torch {torch.__version__}"
        print(f"| {label} | {r['seconds'] / 60:.1f} | {r['steps']} | {r['tokens'] / r['seconds']:,.0f} | "
              f"{r['train_loss']:.3f} | {r['val_nats']:.3f} | {r['val_nats'] / math.log(2):.3f} |")
    goal = None
    if "rnnkit" in results:
        goal = results["rnnkit"]["val_nats"] <= GOAL_NATS
        print(f"\ngoal: <= {GOAL_NATS} nats/char within {GOAL_MINUTES} min -> rnnkit reached "
              f"{results['rnnkit']['val_nats']:.3f} in {args.minutes:g} min: "
              f"{'met' if goal and args.minutes <= GOAL_MINUTES else 'not met'}")
        if "torch" in results:
            print(f"rnnkit {'below' if results['rnnkit']['val_nats'] < results['torch']['val_nats'] else 'not below'} "
                  f"the torch twin at equal time")
    record = {"bench": "textgen_quality", "minutes_per_side": args.minutes, "config": CONFIG,
              "threads": args.threads,
              "goal_nats": GOAL_NATS, "goal_minutes": GOAL_MINUTES,
              "machine": platform.machine(), "numpy": np.__version__, "torch": torch.__version__,
              **{f"{k}_{m}": (round(v, 4) if isinstance(v, float) else v)
                 for k, r in results.items() for m, v in r.items()}}
    print(json.dumps(record))
    return record


if __name__ == "__main__":
    main()
