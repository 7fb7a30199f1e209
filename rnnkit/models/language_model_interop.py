"""The ``torch.nn`` twin of a :class:`~rnnkit.models.LanguageModel` (torch is imported
lazily, only here).

``to_torch(model)`` builds the same network from PyTorch's own modules and copies the
weights, so it computes the same logits, final state and gradients (to ~1e-12 in float64,
tests/test_models.py). The twin, in the order its ``forward`` runs::

    x      = embedding(ids), or one_hot(ids) when the model has no embedding   # (T, B, D)
    h, s   = nn.LSTM/GRU/RNN(x, state)                                         # (T, B, H)
    logits = decoder(dropout(h))                                               # (T, B, V)

Parameter names are rnnkit's (``embedding.weight``, ``rnn.weight_ih_l0``, ...,
``decoder.weight``, ``decoder.bias``), which are also torch's for this stack.
"""

from __future__ import annotations

import functools

from rnnkit.models._common import torch_twin
from rnnkit.models.language_model import LanguageModel


def to_torch(model: LanguageModel):
    """A ``torch.nn.Module`` with copies of ``model``'s weights (dtype kept):
    ``twin(ids (T, B) long tensor, state=None) -> (logits (T, B, V), new_state)``."""
    return torch_twin(model, LanguageModel, _twin_class())


@functools.cache
def _twin_class():
    """The twin's class, defined on first use so that importing this module needs no torch."""
    from torch import nn

    layers = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}

    class TorchLanguageModel(nn.Module):
        """LanguageModel from torch.nn modules; ``rnnkit_config`` is the model's ``config()``."""

        def __init__(self, config):
            super().__init__()
            self.rnnkit_config = c = dict(config)
            V, E, H, L = c["vocab_size"], c["embed_size"], c["hidden_size"], c["num_layers"]
            if E is not None:
                self.embedding = nn.Embedding(V, E)
            self.rnn = layers[c["cell"]](V if E is None else E, H, num_layers=L,
                                         dropout=c["dropout"] if L > 1 else 0.0)
            self.output_dropout = nn.Dropout(c["dropout"])
            self.decoder = nn.Linear(H, V)

        def forward(self, ids, state=None):
            if self.rnnkit_config["embed_size"] is None:
                x = nn.functional.one_hot(ids, self.rnnkit_config["vocab_size"])
                x = x.to(self.decoder.weight.dtype)
            else:
                x = self.embedding(ids)
            out, state = self.rnn(x, state)
            return self.decoder(self.output_dropout(out)), state

    return TorchLanguageModel
