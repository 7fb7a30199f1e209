"""WordClassifier: token ids -> embeddings (small random or pretrained, optionally frozen)
-> dropout -> SequenceClassifier.

The ``sentiment`` app's model (see docs/classification.md for why it beats the plain
:class:`~rnnkit.models.SequenceClassifier` on small text corpora).
"""

from __future__ import annotations


import numpy as np

from rnnkit._validation import check_probability
from rnnkit.errors import InputError
from rnnkit.layers import Dropout, Embedding
from rnnkit.layers.weight_drop import backward_through, dropped_weights, weight_masks
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
        e' = dropout(e) * word_mask                   # training mode only
        y  = SequenceClassifier(e', lengths)          # (B, num_classes)

    ``word_mask (T, B, 1)`` drops whole words (``word_dropout``, each token's vector
    zeroed with that probability, the others scaled by ``1 / (1 - word_dropout)``): with
    pretrained vectors, dropping single entries of a 50-d vector leaves the word half
    there, dropping the word makes the model read the sentence without it.

    ``weight_drop`` (DropConnect on the recurrent weights, as AWD-LSTM, Merity et al.
    2018; the same as :class:`~rnnkit.models.PianoRollModel`'s): in training, each batch
    reads ``W_hh * m / (1 - weight_drop)`` with a fresh 0/1 mask ``m`` per recurrent
    weight matrix, the same mask in the forward and the backward pass, so that
    ``dL/dW_hh = dL/dW'_hh * m / (1 - weight_drop)``.

    ``freeze_embeddings=True`` keeps the table ``E`` as it is (e.g. pretrained vectors
    copied into ``model.embedding.weight.data``): ``backward`` gives it no gradient and
    :meth:`parameters` leaves it out, so no optimizer updates or decays it; the
    checkpoint still holds it (``state_dict`` and ``named_parameters`` list every array).

    Other arguments are :class:`~rnnkit.models.SequenceClassifier`'s.
    """

    def __init__(self, num_classes, vocab_size, embed_size=128, embed_dropout=0.5,
                 embed_init_std=0.1, hidden_size=128, num_layers=1, cell="lstm",
                 bidirectional=True, dropout=0.5, pooling="max", freeze_embeddings=False,
                 word_dropout=0.0, weight_drop=0.0, dtype=np.float32, seed=None):
        if not 0.0 <= embed_dropout < 1.0:
            raise InputError(f"embed_dropout must be a float in [0, 1), got {embed_dropout!r}")
        if not embed_init_std > 0:
            raise InputError(f"embed_init_std must be positive, got {embed_init_std!r}")
        if not isinstance(freeze_embeddings, (bool, np.bool_)):
            raise InputError(f"freeze_embeddings must be True or False, got {freeze_embeddings!r}")
        self.embed_dropout_p, self.embed_init_std = float(embed_dropout), float(embed_init_std)
        self.freeze_embeddings = bool(freeze_embeddings)
        self.word_dropout_p = check_probability(word_dropout, "word_dropout")
        self.weight_drop = check_probability(weight_drop, "weight_drop")
        self.seed = seed_to_json(seed)
        seeds = child_seeds(seed, 5)
        self.weight_drop_rng = np.random.default_rng(seeds[4])
        self._masks = None
        self.embedding = Embedding(vocab_size, embed_size, dtype=dtype, seed=seeds[0])
        self.embedding.weight.data *= self.embed_init_std
        self.embed_dropout = Dropout(self.embed_dropout_p, seed=seeds[1])
        self.word_dropout = Dropout(self.word_dropout_p, seed=seeds[3])
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
                "freeze_embeddings": self.freeze_embeddings, "word_dropout": self.word_dropout_p,
                "weight_drop": self.weight_drop, "seed": self.seed}

    def parameters(self):
        """The parameters training updates: all but the embedding table when it is frozen."""
        params = super().parameters()
        if self.freeze_embeddings:
            params = [p for p in params if p is not self.embedding.weight]
        return params

    def forward(self, ids, lengths=None):
        """ids (T, B) int, lengths (B,) -> logits (B, num_classes)."""
        e = self.embed_dropout.forward(self.embedding.forward(ids))       # (T, B, E)
        word_mask = self.word_dropout.forward(np.ones(e.shape[:2] + (1,), e.dtype))  # (T, B, 1)
        masks = self._weight_masks()
        with dropped_weights(self._recurrent_weights(), masks):
            logits = self.classifier.forward(e * word_mask, lengths)     # (B, C)
        self._masks = masks
        return logits

    def backward(self, dy):
        masks, self._masks = self._masks, None
        de = backward_through(self._recurrent_weights(), masks,
                              lambda: self.classifier.backward(dy))      # (T, B, E)
        de = de * self.word_dropout.backward(np.ones(de.shape[:2] + (1,), de.dtype))
        if not self.freeze_embeddings:
            self.embedding.backward(self.embed_dropout.backward(de))
        return None

    # -- weight drop --------------------------------------------------------------------
    def _recurrent_weights(self) -> list:
        return [p for name, p in self.classifier.rnn.named_parameters()
                if name.startswith("weight_hh")]

    def _weight_masks(self):
        return weight_masks(self._recurrent_weights(), self.weight_drop, self.weight_drop_rng,
                            self.training)
