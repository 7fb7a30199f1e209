"""The ``torch.nn`` twin of a :class:`~rnnkit.models.PianoRollModel` (torch is imported
lazily, only here).

``to_torch(model)`` builds the same network from PyTorch's own modules and copies the
weights, so it computes the same per-step NLL, loss and gradients (to ~1e-15 in float64,
tests/test_piano_roll.py). In the order the twin's ``step_nll`` runs::

    x      = v shifted one step later, zeros first                    # (T, B, P)
    h      = nn.GRU/LSTM/RNN(x)                                       # (T, B, H), padded input
    bernoulli:  nll = BCEWithLogits(head(h), v, reduction='none').sum(-1)
    nade:       a_i = to_hidden(h) + sum_{j<i} v_j W[:, j]            # (T, B, P, Hn) at once
                nll = sum_i BCEWithLogits(to_visible(h)_i + V[i] . sigmoid(a_i), v_i)
    loss   = sum over t < lengths[b] of nll / sum(lengths)

The recurrent layer runs over the padded rolls as they are: it is unidirectional, so what
comes after a piece's end cannot reach its valid steps, and those steps are masked out of
the loss. Parameter names are rnnkit's. Dropout masks are torch's own, so the two agree
exactly in eval mode or without dropout.
"""

from __future__ import annotations

import functools

from rnnkit.models._common import torch_twin
from rnnkit.models.piano_roll import PianoRollModel


def to_torch(model: PianoRollModel):
    """A ``torch.nn.Module`` with copies of ``model``'s weights (dtype kept):
    ``twin.step_nll(rolls, lengths) -> (T, B)`` and ``twin.loss(batch)``, taking what the
    rnnkit model takes (NumPy arrays or tensors)."""
    return torch_twin(model, PianoRollModel, _twin_class())


@functools.cache
def _twin_class():
    """The twin's class, defined on first use so that importing this module needs no torch."""
    import torch
    from torch import nn
    from torch.nn.functional import binary_cross_entropy_with_logits as bce

    layers = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}

    class TorchNADE(nn.Module):
        def __init__(self, num_visible, num_hidden):
            super().__init__()
            self.W = nn.Parameter(torch.zeros(num_hidden, num_visible))         # (Hn, P)
            self.V = nn.Parameter(torch.zeros(num_visible, num_hidden))         # (P, Hn)

        def forward(self, v, b_v, b_h):
            """nll (...,) of v (..., P) given biases b_v (..., P), b_h (..., Hn)."""
            steps = v[..., :, None] * self.W.T                                  # (..., P, Hn)
            a = b_h[..., None, :] + torch.cumsum(steps, dim=-2) - steps         # sum over j < i
            logits = b_v + (torch.sigmoid(a) * self.V).sum(-1)                  # (..., P)
            return bce(logits, v, reduction="none").sum(-1)

    class TorchPianoRollModel(nn.Module):
        """PianoRollModel from torch.nn modules; ``rnnkit_config`` is the model's ``config()``."""

        def __init__(self, config):
            super().__init__()
            self.rnnkit_config = c = dict(config)
            P, H, L = c["num_pitches"], c["hidden_size"], c["num_layers"]
            self.rnn = layers[c["cell"]](P, H, num_layers=L, dropout=c["dropout"] if L > 1 else 0.0)
            self.output_dropout = nn.Dropout(c["dropout"])
            if c["output"] == "bernoulli":
                self.head = nn.Linear(H, P)
            else:
                self.to_visible = nn.Linear(H, P)
                self.to_hidden = nn.Linear(H, c["nade_hidden"])
                self.nade = TorchNADE(P, c["nade_hidden"])

        def step_nll(self, rolls, lengths=None):
            device = next(self.parameters()).device
            v = torch.as_tensor(rolls, device=device)                          # (T, B, P)
            T, B, _ = v.shape
            lengths = torch.full((B,), T) if lengths is None else torch.as_tensor(lengths)
            x = torch.cat([torch.zeros_like(v[:1]), v[:-1]])                    # (T, B, P)
            h = self.output_dropout(self.rnn(x)[0])                             # (T, B, H)
            if self.rnnkit_config["output"] == "bernoulli":
                nll = bce(self.head(h), v, reduction="none").sum(-1)            # (T, B)
            else:
                nll = self.nade(v, self.to_visible(h), self.to_hidden(h))       # (T, B)
            valid = torch.arange(T, device=device)[:, None] < lengths.to(device)[None, :]
            return torch.where(valid, nll, torch.zeros_like(nll))

        def loss(self, batch):
            """Mean NLL per valid step of a batch, as PianoRollModel.loss."""
            lengths = torch.as_tensor(batch.lengths)
            return self.step_nll(batch.inputs, lengths).sum() / lengths.sum()

    return TorchPianoRollModel
