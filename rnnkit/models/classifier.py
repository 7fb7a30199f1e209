"""Many-to-one models: a whole (variable-length) sequence in, one prediction out.

Layout is time-major. Inputs are either token ids ``(T, B)`` (give ``vocab_size``) or
feature vectors ``(T, B, input_size)`` (give ``input_size``), with ``lengths (B,)``
for padded batches. The computation, in order::

    x_t   = E[ids_t]  or  features_t           # (T, B, D)
    h_t   = RNN(x_t, h_{t-1})                   # (T, B, dirs * H); padded steps masked
    z     = pool(h)                             # (B, dirs * H): 'last' valid step (reverse
                                                #   half at t = 0), 'mean' or 'max' over valid steps
    z'    = dropout(z)                          # training mode only
    y     = z' W^T + b                          # (B, num_classes) logits

:class:`SequenceClassifier` returns logits for ``CrossEntropyLoss`` (or, with
``num_classes=1``, for ``BCEWithLogitsLoss``). :class:`SequenceRegressor` is the same
network with ``num_outputs`` real outputs, for ``MSELoss``.

Example::

    model = SequenceClassifier(num_classes=2, vocab_size=5000, embed_size=64,
                               hidden_size=128, bidirectional=True, pooling="mean", seed=0)
    logits = model.forward(ids, lengths=lengths)       # ids (T, B) -> (B, 2)
    loss = ce.forward(logits, labels); model.backward(ce.backward())
"""

from __future__ import annotations

import numpy as np

from rnnkit._validation import check_dtype, check_index_array, check_positive_int, check_probability
from rnnkit.errors import InputError
from rnnkit.layers import Dropout, Embedding, LastValid, Linear
from rnnkit.models._common import child_seeds, check_cell, dtype_name, make_recurrent, seed_to_json
from rnnkit.models.pooling import MaxOverTime, MeanOverTime
from rnnkit.module import Module, is_grad_enabled

POOLINGS = ("last", "mean", "max")


class SequenceClassifier(Module):
    """(Embedding ->) recurrent stack -> pooling over time -> dropout -> Linear.

    Parameters
    ----------
    num_classes : int
        Output logits per sequence.
    input_size : int, optional
        Feature width ``D`` for float inputs ``(T, B, D)``. Give exactly one of
        ``input_size`` and ``vocab_size``.
    vocab_size : int, optional
        For integer token inputs ``(T, B)``.
    embed_size : int or None
        Embedding width for token inputs; None feeds one-hot vectors.
    hidden_size, num_layers, cell, bidirectional
        As ``torch.nn.LSTM``; ``cell`` is a name in ``rnnkit.CELLS``.
    dropout : float in [0, 1)
        Between recurrent layers and on the pooled vector, training mode only.
    pooling : {'last', 'mean', 'max'}
    dtype : float32 or float64
    seed : int or None
    """

    _outputs_name = "num_classes"

    def __init__(self, num_classes, input_size=None, vocab_size=None, embed_size=None,
                 hidden_size=128, num_layers=1, cell="lstm", bidirectional=False, dropout=0.0,
                 pooling="last", dtype=np.float32, seed=None):
        self.num_outputs = check_positive_int(num_classes, self._outputs_name)
        if (input_size is None) == (vocab_size is None):
            raise InputError("give exactly one of input_size (float features) and vocab_size (token ids)")
        if input_size is not None and embed_size is not None:
            raise InputError("embed_size applies to token inputs (vocab_size), not to input_size")
        self.input_size = None if input_size is None else check_positive_int(input_size, "input_size")
        self.vocab_size = None if vocab_size is None else check_positive_int(vocab_size, "vocab_size")
        self.embed_size = None if embed_size is None else check_positive_int(embed_size, "embed_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.num_layers = check_positive_int(num_layers, "num_layers")
        self.cell = check_cell(cell)
        self.bidirectional = bool(bidirectional)
        self.dropout = check_probability(dropout, "dropout")
        if pooling not in POOLINGS:
            raise InputError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.pooling = pooling
        self.dtype = check_dtype(dtype)
        self.seed = seed_to_json(seed)
        seeds = child_seeds(seed, 4)
        if self.embed_size is not None:
            self.embedding = Embedding(self.vocab_size, self.embed_size, dtype=self.dtype, seed=seeds[0])
        rnn_input = self.input_size or self.embed_size or self.vocab_size
        self.rnn = make_recurrent(self.cell, rnn_input, self.hidden_size, self.num_layers,
                                  self.dropout, self.bidirectional, self.dtype, seeds[1])
        features = self.hidden_size * (2 if self.bidirectional else 1)
        self.pool = {"last": lambda: LastValid(bidirectional=self.bidirectional),
                     "mean": MeanOverTime, "max": MaxOverTime}[pooling]()
        self.head_dropout = Dropout(self.dropout, seed=seeds[2])
        self.head = Linear(features, self.num_outputs, dtype=self.dtype, seed=seeds[3])
        self._forwarded = False

    def config(self) -> dict:
        """JSON-able constructor arguments: ``type(model)(**model.config())`` rebuilds it."""
        return {self._outputs_name: self.num_outputs, "input_size": self.input_size,
                "vocab_size": self.vocab_size, "embed_size": self.embed_size,
                "hidden_size": self.hidden_size, "num_layers": self.num_layers, "cell": self.cell,
                "bidirectional": self.bidirectional, "dropout": self.dropout,
                "pooling": self.pooling, "dtype": dtype_name(self.dtype), "seed": self.seed}

    def _embed(self, x):
        if self.vocab_size is None:
            return x                                                   # checked by the RNN
        ids = check_index_array(x, "x", self.vocab_size)
        if ids.ndim != 2:
            raise InputError(f"x must be token ids of shape (T, B), got {ids.shape}")
        if self.embed_size is None:
            return np.eye(self.vocab_size, dtype=self.dtype)[ids]      # (T, B, V) one-hot
        return self.embedding.forward(ids)                             # (T, B, E)

    def forward(self, x, lengths=None):
        """x: ids (T, B) or features (T, B, input_size); lengths (B,) in [1, T] or None.

        Returns ``(B, num_classes)`` logits (``(B, num_outputs)`` for the regressor).
        """
        h, _ = self.rnn.forward(self._embed(x), lengths=lengths)        # (T, B, dirs*H)
        z = self.pool.forward(h, lengths)                                 # (B, dirs*H)
        z = self.head_dropout.forward(z)
        self._forwarded = is_grad_enabled()
        return self.head.forward(z)                                       # (B, C)

    def backward(self, dy):
        """Backpropagate ``dL/dlogits (B, num_classes)``; returns dL/dx for feature
        inputs and None for token ids."""
        if not self._forwarded:
            raise InputError(f"{type(self).__name__}.backward called before forward (no cached activations)")
        dz = self.head_dropout.backward(self.head.backward(dy))
        dh = self.pool.backward(dz)
        dx, _ = self.rnn.backward(dh.astype(self.dtype, copy=False))
        self._forwarded = False
        if self.vocab_size is None:
            return dx
        if self.embed_size is not None:
            self.embedding.backward(dx)
        return None

    def __repr__(self):
        source = (f"input_size={self.input_size}" if self.vocab_size is None
                  else f"vocab_size={self.vocab_size}, embed_size={self.embed_size}")
        return (f"{type(self).__name__}({self._outputs_name}={self.num_outputs}, {source}, "
                f"hidden_size={self.hidden_size}, num_layers={self.num_layers}, cell={self.cell!r}, "
                f"bidirectional={self.bidirectional}, pooling={self.pooling!r})")


class SequenceRegressor(SequenceClassifier):
    """The same network with ``num_outputs`` real-valued outputs (use ``MSELoss``).

    ``SequenceRegressor(num_outputs, input_size=..., ...)``; other arguments as
    :class:`SequenceClassifier`.
    """

    _outputs_name = "num_outputs"

    def __init__(self, num_outputs, input_size=None, vocab_size=None, embed_size=None,
                 hidden_size=128, num_layers=1, cell="lstm", bidirectional=False, dropout=0.0,
                 pooling="last", dtype=np.float32, seed=None):
        super().__init__(num_outputs, input_size, vocab_size, embed_size, hidden_size, num_layers,
                         cell, bidirectional, dropout, pooling, dtype, seed)
