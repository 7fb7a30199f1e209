"""The ``torch.nn`` twin of an :class:`~rnnkit.models.AcousticModel` (torch is imported
lazily, only here).

``to_torch(model)`` builds the same network from PyTorch's own modules and copies the
weights, so it computes the same logits, CTC loss and gradients (to ~1e-15 in float64,
tests/test_acoustic_model.py); ``from_torch(twin)`` brings trained weights back into a new
``AcousticModel``. The twin, in the order its ``forward`` runs (``k = subsample``)::

    x'     = x, 0 at t >= lengths[b], zero-padded to T' k frames      # (T' k, B, F)
    z      = x'.view(T', k, B, F).permute(0, 2, 1, 3).reshape(T', B, k F)
    n'     = ceil(lengths / k)
    h      = nn.GRU/LSTM/RNN(pack_padded_sequence(z, n'))             # padded back to T'
    logits = head(h)                                                  # nn.Linear, (T', B, C)
    loss   = F.ctc_loss(log_softmax(logits), targets, n', S, blank, reduction='mean')

Parameter names are rnnkit's (``rnn.weight_ih_l0``, ``head.weight``, ...). Dropout masks
are torch's own, so the two agree exactly in eval mode or without dropout; the twin never
applies SpecAugment. The twin runs on any device: inputs go to the device of its weights,
lengths stay on the CPU (``pack_padded_sequence`` wants them there).
"""

from __future__ import annotations

import functools

import numpy as np

from rnnkit.models._common import torch_twin
from rnnkit.models.acoustic import AcousticModel


def to_torch(model: AcousticModel):
    """A ``torch.nn.Module`` with copies of ``model``'s weights (dtype kept):
    ``twin(x, lengths) -> (logits (T', B, C), out_lengths (B,))`` and ``twin.loss(batch)``,
    both taking what the rnnkit model takes (NumPy arrays or tensors)."""
    return torch_twin(model, AcousticModel, _twin_class())


def from_torch(twin) -> AcousticModel:
    """A new ``AcousticModel`` holding the weights of a twin made by :func:`to_torch`."""
    model = AcousticModel(**twin.rnnkit_config)
    params = dict(twin.named_parameters())
    model.load_state_dict({name: params[name].detach().cpu().numpy() for name, _ in model.named_parameters()})
    return model


@functools.cache
def _twin_class():
    """The twin's class, defined on first use so that importing this module needs no torch."""
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    layers = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}

    class TorchAcousticModel(nn.Module):
        """AcousticModel from torch.nn modules; ``rnnkit_config`` is the model's ``config()``."""

        def __init__(self, config):
            super().__init__()
            self.rnnkit_config = c = dict(config)
            L, dirs = c["num_layers"], 2 if c["bidirectional"] else 1
            self.rnn = layers[c["cell"]](c["subsample"] * c["num_features"], c["hidden_size"],
                                         num_layers=L, bidirectional=c["bidirectional"],
                                         dropout=c["dropout"] if L > 1 else 0.0)
            self.head = nn.Linear(dirs * c["hidden_size"], c["num_classes"])

        def stack_frames(self, x, lengths):
            """(T, B, F), (B,) -> (T', B, k F), ceil(lengths / k); as rnnkit's stack_frames."""
            k, (T, B, F) = self.rnnkit_config["subsample"], x.shape
            T_out = -(-T // k)
            padded = x.new_zeros(T_out * k, B, F)
            padded[:T] = x
            past = torch.arange(T_out * k, device=x.device)[:, None] >= lengths.to(x.device)[None, :]
            padded = padded.masked_fill(past[..., None], 0.0)                       # (T'k, B, F)
            z = padded.view(T_out, k, B, F).permute(0, 2, 1, 3).reshape(T_out, B, k * F)
            return z, torch.div(lengths + k - 1, k, rounding_mode="floor")

        def forward(self, x, lengths=None):
            device = self.head.weight.device
            x = torch.as_tensor(x, device=device)
            lengths = (torch.full((x.shape[1],), x.shape[0]) if lengths is None
                       else torch.as_tensor(lengths).cpu().long())
            z, out_lengths = self.stack_frames(x, lengths)
            packed = pack_padded_sequence(z, out_lengths, enforce_sorted=False)
            h, _ = pad_packed_sequence(self.rnn(packed)[0], total_length=z.shape[0])  # (T', B, dirs*H)
            return self.head(h), out_lengths

        def loss(self, batch):
            """Mean CTC loss of a Seq2SeqBatches batch, as AcousticModel.loss."""
            c = self.rnnkit_config
            logits, out_lengths = self(batch.inputs, batch.lengths)
            targets = torch.as_tensor(np.asarray(batch.targets).T, device=logits.device)   # (B, S)
            target_lengths = torch.as_tensor(batch.target_lengths)
            inside = torch.arange(targets.shape[1], device=logits.device)[None, :] < target_lengths.to(
                logits.device)[:, None]
            targets = torch.where(inside, targets, c["blank"])          # padding as a valid class id
            return nn.functional.ctc_loss(logits.log_softmax(-1), targets, out_lengths, target_lengths,
                                          blank=c["blank"], reduction="mean")

    return TorchAcousticModel
