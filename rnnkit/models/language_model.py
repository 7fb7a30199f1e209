"""A recurrent language model: token ids in, next-token logits out, state carried between calls.

Layout is time-major: ``ids (T, B)`` -> ``logits (T, B, V)``. The computation, in order::

    x_t      = E[ids_t]                 # (T, B, embed_size); one-hot rows of I_V if embed_size is None
    h_t      = RNN(x_t, h_{t-1})        # (T, B, H); lstm/gru/rnn stack, dropout between layers
    h'_t     = dropout(h_t)             # (T, B, H); only in training mode
    logits_t = h'_t W_hy^T + b_y        # (T, B, V)

``forward(ids, state)`` starts from ``state`` (zeros when None) and returns the final
state, so consecutive chunks of a long stream continue where the last one stopped
(truncated BPTT), and generation can feed one token at a time (``T = 1``) under
``rnnkit.no_grad()``. ``backward`` only reaches the ``state`` that was passed in, never
an earlier chunk: the gradient is cut at the chunk boundary by construction.

Parameters are named as the PyTorch twin ``nn.Embedding -> nn.LSTM -> nn.Linear``
(``embedding.weight``, ``rnn.weight_ih_l0``, ..., ``decoder.weight``, ``decoder.bias``),
so weights port by name.

Example::

    model = LanguageModel(vocab_size=65, embed_size=32, hidden_size=128, num_layers=2,
                          cell="lstm", dropout=0.1, seed=0)
    logits, state = model.forward(ids)                 # ids (T, B) int
    loss = ce.forward(logits, targets); model.backward(ce.backward())
    logits, state = model.forward(next_ids, state)     # continues the same streams
    same = LanguageModel(**model.config())             # rebuilt from its JSON config
"""

from __future__ import annotations

import numpy as np

from rnnkit._validation import check_dtype, check_index_array, check_positive_int, check_probability
from rnnkit.errors import InputError
from rnnkit.layers import Dropout, Embedding, Linear
from rnnkit.models._common import child_seeds, check_cell, dtype_name, make_recurrent, seed_to_json
from rnnkit.module import Module, is_grad_enabled


class LanguageModel(Module):
    """Embedding -> recurrent stack -> Linear to vocabulary logits.

    Parameters
    ----------
    vocab_size : int
        Number of token ids ``V``; ids lie in ``[0, V)``.
    embed_size : int or None
        Embedding width; ``None`` feeds one-hot vectors (char-rnn style, no embedding
        parameters).
    hidden_size : int
        Units per recurrent layer.
    num_layers : int
        Stacked recurrent layers.
    cell : a name in ``rnnkit.CELLS`` ('lstm', 'gru', 'rnn', 'lnlstm')
        'rnn' is the tanh Elman cell.
    dropout : float in [0, 1)
        Applied between recurrent layers and to the last layer's output, in training
        mode only.
    dtype : float32 or float64
    seed : int or None
        Seeds the initial weights and the dropout generators (each its own child seed).
    """

    def __init__(self, vocab_size, embed_size=None, hidden_size=128, num_layers=1, cell="lstm",
                 dropout=0.0, dtype=np.float32, seed=None):
        self.vocab_size = check_positive_int(vocab_size, "vocab_size")
        self.embed_size = None if embed_size is None else check_positive_int(embed_size, "embed_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.num_layers = check_positive_int(num_layers, "num_layers")
        self.cell = check_cell(cell)
        self.dropout = check_probability(dropout, "dropout")
        self.dtype = check_dtype(dtype)
        self.seed = seed_to_json(seed)
        seeds = child_seeds(seed, 4)
        if self.embed_size is not None:
            self.embedding = Embedding(self.vocab_size, self.embed_size, dtype=self.dtype, seed=seeds[0])
        input_size = self.vocab_size if self.embed_size is None else self.embed_size
        self.rnn = make_recurrent(self.cell, input_size, self.hidden_size, self.num_layers,
                                  self.dropout, False, self.dtype, seeds[1])
        self.output_dropout = Dropout(self.dropout, seed=seeds[2])
        self.decoder = Linear(self.hidden_size, self.vocab_size, dtype=self.dtype, seed=seeds[3])
        self._ids_shape = None

    # -- configuration ---------------------------------------------------------
    def config(self) -> dict:
        """JSON-able constructor arguments: ``LanguageModel(**model.config())`` rebuilds it."""
        return {"vocab_size": self.vocab_size, "embed_size": self.embed_size,
                "hidden_size": self.hidden_size, "num_layers": self.num_layers,
                "cell": self.cell, "dropout": self.dropout, "dtype": dtype_name(self.dtype),
                "seed": self.seed}

    def init_state(self, batch_size: int):
        """Zero state for ``batch_size`` streams: ``(L, B, H)``, a tuple ``(h, c)`` for LSTM."""
        B = check_positive_int(batch_size, "batch_size")
        zeros = lambda: np.zeros((self.num_layers, B, self.hidden_size), self.dtype)  # noqa: E731
        parts = tuple(zeros() for _ in range(self.rnn.num_states))
        return parts if len(parts) > 1 else parts[0]

    # -- forward / backward ------------------------------------------------------
    def forward(self, ids, state=None):
        """Logits for every position.

        ids : (T, B) integer array with entries in [0, vocab_size)
        state : None (zeros), or the ``new_state`` of a previous call:
            ``(num_layers, B, hidden_size)``, a tuple ``(h, c)`` for LSTM.

        Returns ``logits (T, B, vocab_size)`` and ``new_state`` (fresh arrays, safe to keep).
        """
        ids = check_index_array(ids, "ids", self.vocab_size)
        if ids.ndim != 2 or 0 in ids.shape:
            raise InputError(f"ids must have shape (T, B) with T, B >= 1, got {ids.shape}")
        if self.embed_size is None:
            x = np.eye(self.vocab_size, dtype=self.dtype)[ids]              # (T, B, V) one-hot
        else:
            x = self.embedding.forward(ids)                                  # (T, B, E)
        out, new_state = self.rnn.forward(x, state)                          # (T, B, H)
        out = self.output_dropout.forward(out)
        logits = self.decoder.forward(out)                                   # (T, B, V)
        self._ids_shape = ids.shape if is_grad_enabled() else None
        return logits, new_state

    def backward(self, dlogits, d_state=None):
        """Backpropagate ``dL/dlogits (T, B, V)``; accumulates parameter gradients.

        ``d_state`` is an optional gradient w.r.t. the returned ``new_state``.
        Returns the gradient w.r.t. the ``state`` given to :meth:`forward` (zeros
        were used when it was None); a trainer doing truncated BPTT discards it.
        """
        if self._ids_shape is None:
            raise InputError("LanguageModel.backward called before forward (no cached activations)")
        d_out = self.decoder.backward(dlogits)                               # (T, B, H)
        d_out = self.output_dropout.backward(d_out)
        dx, d_state0 = self.rnn.backward(d_out, d_state)                     # (T, B, D)
        if self.embed_size is not None:
            self.embedding.backward(dx)
        self._ids_shape = None
        return d_state0

    def __repr__(self):
        return (f"LanguageModel(vocab_size={self.vocab_size}, embed_size={self.embed_size}, "
                f"hidden_size={self.hidden_size}, num_layers={self.num_layers}, cell={self.cell!r}, "
                f"dropout={self.dropout}, dtype={self.dtype.name})")
