"""A small training job for the data-parallel tests (tests/test_distributed.py).

Run as a plain process (the single-process reference) or under ``mpirun -n R``; the
code is the same, the Trainer shards the batches itself. Every rank writes its final
weights to ``OUT.rank<r>.npz`` (a test's own file, outside the Trainer's rank-0 rule).

    python tests/mpi_job.py lm|classifier OUT [--steps N] [--out-dir DIR] [--resume]
        [--checkpoint-every K] [--die-at-step S --die-rank R] [--dropout P] [--fail-rank R]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rnnkit import distributed                                      # noqa: E402
from rnnkit.models import LanguageModel, SequenceClassifier        # noqa: E402
from rnnkit.optim import Adam                                       # noqa: E402
from rnnkit.training import SequenceBatches, TokenStream, Trainer  # noqa: E402


def lm_job(args):
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 11, 4 * 41)                            # 4 streams of 41
    val_tokens = rng.integers(0, 11, 4 * 13)
    model = LanguageModel(11, embed_size=6, hidden_size=8, num_layers=2, cell="lstm",
                          dropout=args.dropout, dtype=np.float64, seed=3)
    train = TokenStream(tokens, batch_size=4, seq_len=5)            # 8 chunks an epoch
    val = TokenStream(val_tokens, batch_size=4, seq_len=6)
    return model, train, val


def classifier_job(args):
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 9, 15)                                 # 15 = 6 + 6 + 3
    sequences = [rng.normal(size=(n, 3)) for n in lengths]
    targets = rng.integers(0, 3, 15)
    val_sequences = [rng.normal(size=(n, 3)) for n in rng.integers(1, 9, 7)]
    val_targets = rng.integers(0, 3, 7)
    model = SequenceClassifier(3, input_size=3, hidden_size=7, cell="gru", bidirectional=True,
                               dropout=args.dropout, dtype=np.float64, seed=4)
    train = SequenceBatches(sequences, targets, batch_size=6, seed=5)
    val = SequenceBatches(val_sequences, val_targets, batch_size=4, shuffle=False)
    return model, train, val


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("job", choices=("lm", "classifier"))
    parser.add_argument("out")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--out-dir")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--checkpoint-every", type=int)
    parser.add_argument("--die-at-step", type=int)
    parser.add_argument("--die-rank", type=int, default=1)
    parser.add_argument("--fail-rank", type=int)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--hidden", type=int)
    args = parser.parse_args()
    model, train, val = (lm_job if args.job == "lm" else classifier_job)(args)
    if args.hidden is not None and distributed.world().rank == 1:     # a mismatched rank
        model = LanguageModel(11, embed_size=6, hidden_size=args.hidden, num_layers=2,
                              dtype=np.float64, seed=3)
    rank = distributed.world().rank

    def on_step(trainer, record):
        if args.die_at_step == trainer.step and rank == args.die_rank:
            os.kill(os.getpid(), signal.SIGKILL)
        if args.fail_rank == rank and trainer.step == 3:
            raise RuntimeError("a failure on one rank only")

    trainer = Trainer(model, Adam(model.parameters(), lr=0.01), train, val, clip_grad_norm=0.5,
                      max_steps=args.steps, eval_every=4, out_dir=args.out_dir,
                      checkpoint_every=args.checkpoint_every, log_every=1, on_step=on_step)
    summary = trainer.fit(resume=args.resume)
    weights = model.state_dict()
    np.savez(f"{args.out}.rank{rank}.npz", val_loss=summary["last"]["val_loss"],
             train_loss=summary["last"]["train_loss"], **weights)


if __name__ == "__main__":
    main()
