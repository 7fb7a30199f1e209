"""WordClassifier: token ids -> small-init embeddings -> dropout -> SequenceClassifier.

The ``sentiment`` app's model (see docs/classification.md for why it beats the plain
:class:`~rnnkit.models.SequenceClassifier` on small text corpora).
"""

from __future__ import annotations

import numpy as np

from rnnkit.errors import InputError
from rnnkit.layers import Dropout, Embedding
from rnnkit.models._common import child_seeds, seed_to_json
from rnnkit.models.classifier import SequenceClassifier
from rnnkit.module import Module


class WordClassifier(Module):
    """Token ids -> embedding -> dropout -> :class:`~rnnkit.models.SequenceClassifier`.

    ``SequenceClassifier`` embeds token ids too, but without dropout on the
    embeddings; on a small corpus (MR's 9.5k sentences) the embeddings are most of
    the parameters and overfit first, so this model drops embedding entries
    (``embed_dropout``) and starts them small (``N(0, embed_init_std^2)``, as
    Keras' small uniform init, rather than ``N(0, 1)``)::

        e  = E[ids]                                   # (T, B, embed_size)
        e' = dropout(e)                               # training mode only
        y  = SequenceClassifier(e', lengths)          # (B, num_classes)

    Other arguments are :class:`~rnnkit.models.SequenceClassifier`'s.
    """

    def __init__(self, num_classes, vocab_size, embed_size=128, embed_dropout=0.5,
                 embed_init_std=0.1, hidden_size=128, num_layers=1, cell="lstm",
                 bidirectional=True, dropout=0.5, pooling="max", dtype=np.float32, seed=None):
        if not 0.0 <= embed_dropout < 1.0:
            raise InputError(f"embed_dropout must be a float in [0, 1), got {embed_dropout!r}")
        if not embed_init_std > 0:
            raise InputError(f"embed_init_std must be positive, got {embed_init_std!r}")
        self.embed_dropout_p, self.embed_init_std = float(embed_dropout), float(embed_init_std)
        self.seed = seed_to_json(seed)
        seeds = child_seeds(seed, 3)
        self.embedding = Embedding(vocab_size, embed_size, dtype=dtype, seed=seeds[0])
        self.embedding.weight.data *= self.embed_init_std
        self.embed_dropout = Dropout(self.embed_dropout_p, seed=seeds[1])
        self.classifier = SequenceClassifier(num_classes, input_size=embed_size,
                                             hidden_size=hidden_size, num_layers=num_layers,
                                             cell=cell, bidirectional=bidirectional,
                                             dropout=dropout, pooling=pooling, dtype=dtype,
                                             seed=seeds[2])

    def config(self) -> dict:
        inner = self.classifier.config()
        return {"num_classes": inner["num_classes"], "vocab_size": self.embedding.num_embeddings,
                "embed_size": self.embedding.embedding_dim, "embed_dropout": self.embed_dropout_p,
                "embed_init_std": self.embed_init_std,
                **{k: inner[k] for k in ("hidden_size", "num_layers", "cell", "bidirectional",
                                         "dropout", "pooling", "dtype")},
                "seed": self.seed}

    def forward(self, ids, lengths=None):
        """ids (T, B) int, lengths (B,) -> logits (B, num_classes)."""
        e = self.embed_dropout.forward(self.embedding.forward(ids))       # (T, B, E)
        return self.classifier.forward(e, lengths)

    def backward(self, dy):
        de = self.classifier.backward(dy)                                 # (T, B, E)
        self.embedding.backward(self.embed_dropout.backward(de))
        return None
