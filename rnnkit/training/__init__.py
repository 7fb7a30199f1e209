"""Training: loaders, objectives, the Trainer loop, and checkpoints that resume exactly.

Two kinds of data, one loop:

* **Language modelling over a long token stream** with truncated BPTT
  (:class:`TokenStream`): ``B`` parallel streams in chunks of ``seq_len``; the hidden
  state at the end of one chunk starts the next one but the gradient stops there.
* **Supervised mini-batches** of variable-length sequences (:class:`SequenceBatches`):
  padded, with ``lengths``, shuffled per epoch by a seeded generator.
* **Sequence pairs** (:class:`Seq2SeqBatches`, translation and CTC): targets are
  sequences of their own lengths (``targets (S, B)``, ``target_lengths``); the model
  computes its loss itself (:class:`ModelLoss`).

The :class:`Trainer` runs the loop: any ``rnnkit.optim`` optimizer, clipping by global
norm, a learning-rate schedule, validation every N steps, early stopping, best-weight
tracking, a JSONL metrics log, a tqdm bar (quiet off a TTY or in CI), a loss-curve PNG,
and checkpoints that resume bit for bit (:meth:`Trainer.fit(resume=True)
<Trainer.fit>`). :func:`load_model` rebuilds a trained model from its checkpoint.

Example (runs as is, in about a second; tests/test_training.py runs it)::

    import numpy as np
    from rnnkit.models import LanguageModel
    from rnnkit.optim import Adam, WarmupCosine
    from rnnkit.training import Trainer, TokenStream, load_model

    text = "hello world, hello rnnkit. " * 100
    vocab = sorted(set(text))
    ids = np.array([vocab.index(ch) for ch in text])
    split = int(0.9 * len(ids))
    train = TokenStream(ids[:split], batch_size=8, seq_len=16)
    val = TokenStream(ids[split:], batch_size=2, seq_len=16)

    model = LanguageModel(len(vocab), embed_size=16, hidden_size=32, cell="lstm", seed=0)
    optimizer = Adam(model.parameters(), lr=1e-2)
    trainer = Trainer(model, optimizer, train, val, max_steps=60, eval_every=20,
                      clip_grad_norm=5.0, schedule=WarmupCosine(1e-2, 10, 60),
                      out_dir="runs/hello", checkpoint_every=20, extra={"vocab": vocab})
    summary = trainer.fit()                  # trainer.fit(resume=True) continues a run
    print(summary["best_val_loss"])          # nats per character
    model, meta = load_model("runs/hello/checkpoint.npz")     # best weights, eval mode
    assert meta["extra"]["vocab"] == vocab

Classification uses the same loop::

    data = SequenceBatches(sequences, labels, batch_size=32, seed=0)   # list of (L_n, D)
    model = SequenceClassifier(num_classes=10, input_size=D, hidden_size=64, seed=0)
    Trainer(model, Adam(model.parameters(), lr=1e-3), data, val, max_epochs=5).fit()
"""

from rnnkit.checkpoint import CheckpointError
from rnnkit.training.checkpointing import checkpoint_meta, collect_rngs, load_model
from rnnkit.training.data import Batch, Seq2SeqBatches, SequenceBatches, TokenStream
from rnnkit.training.objectives import LanguageModeling, ModelLoss, Supervised
from rnnkit.training.trainer import Trainer

__all__ = ["Trainer", "TokenStream", "SequenceBatches", "Seq2SeqBatches", "Batch",
           "LanguageModeling", "Supervised", "ModelLoss",
           "load_model", "checkpoint_meta", "collect_rngs", "CheckpointError"]
