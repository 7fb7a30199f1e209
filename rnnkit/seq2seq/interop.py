"""The ``torch.nn`` twin of a :class:`~rnnkit.seq2seq.Seq2Seq` (torch is imported lazily, only here).

``to_torch(model)`` builds the same encoder-decoder from PyTorch's own modules and
copies the weights, so it computes the same logits and loss (equal to ~1e-15 in
float64, tests/test_seq2seq_model.py); ``from_torch(twin)`` brings trained weights
back into a new ``Seq2Seq``. The twin, in the order its ``forward`` runs::

    enc, final = nn.LSTM/GRU/RNN(embedding(src), packed by src_lengths)   # (S, B, dirs * H_e)
    s0         = tanh(bridge[part](final, directions side by side))      # or final itself
    for t:  x = [embedding(y_{t-1}); h~_{t-1}]                           # input feeding
            s = nn.LSTMCell/GRUCell/RNNCell stack (dropout between)
            e = v(tanh(W_q h + W_k enc)) | (W_a enc) . h | enc . h     # additive | general | dot
            a = softmax over s < length;  c = sum_s a_s enc_s
            h~ = tanh(W_c [c; h])                                      # or h (attention 'none')
    logits = projection(dropout(h~))                                   # (T, B, V)

Parameter names are rnnkit's (:func:`torch_name`), except that the attention matrices
are ``nn.Linear`` layers: ``score.W_q`` -> ``score.W_q.weight``, ``attention_output.b_c``
-> ``attention_output.W_c.bias``; ``score.v`` (A,) is ``nn.Linear(A, 1).weight`` (1, A).
Dropout masks are torch's own, so the two agree exactly in eval mode or without dropout.
"""

from __future__ import annotations

import functools

import numpy as np

from rnnkit.errors import InputError, InputTypeError
from rnnkit.seq2seq.model import Seq2Seq, shift_right

_LINEAR_WEIGHTS = ("W_q", "W_k", "W_a", "v", "W_c")


def torch_name(name: str) -> str:
    """rnnkit's parameter name -> the twin's."""
    head, _, last = name.rpartition(".")
    if last in _LINEAR_WEIGHTS:
        return f"{head}.{last}.weight"
    return f"{head}.W_c.bias" if last == "b_c" else name


def to_torch(model: Seq2Seq):
    """A ``torch.nn.Module`` computing ``model``'s logits and loss from copies of its
    weights (dtype kept): ``twin(src, src_lengths, tgt_in) -> logits (T, B, V)`` and
    ``twin.loss(batch)``, both taking what the rnnkit model takes (NumPy arrays)."""
    import torch

    if not isinstance(model, Seq2Seq):
        raise InputTypeError(f"to_torch expects a Seq2Seq, got {type(model).__name__}")
    if model.cell not in ("lstm", "gru", "rnn"):
        raise InputError(f"cell {model.cell!r} has no torch.nn twin (lstm, gru and rnn have)")
    twin = _twin_class()(model.config(), not model.bridge.identity)
    twin.to(torch.float64 if model.dtype == np.float64 else torch.float32)
    _copy(model.state_dict(), twin)
    return twin


def from_torch(twin) -> Seq2Seq:
    """A new ``Seq2Seq`` holding the weights of a twin made by :func:`to_torch`."""
    model = Seq2Seq(**twin.rnnkit_config)
    params = dict(twin.named_parameters())
    model.load_state_dict({name: params[torch_name(name)].detach().cpu().numpy().reshape(p.shape)
                           for name, p in model.named_parameters()})
    return model


def _copy(state: dict, twin) -> None:
    import torch

    params = dict(twin.named_parameters())
    if sorted(params) != sorted(map(torch_name, state)):
        raise InputError("the torch twin's parameters do not match the model's")   # a bug here
    with torch.no_grad():
        for name, value in state.items():
            target = params[torch_name(name)]
            target.copy_(torch.from_numpy(np.ascontiguousarray(value)).reshape(target.shape))


@functools.cache
def _twin_class():
    """The twin's class, defined on first use so that importing this module needs no torch."""
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    layers = {"lstm": (nn.LSTM, nn.LSTMCell), "gru": (nn.GRU, nn.GRUCell), "rnn": (nn.RNN, nn.RNNCell)}

    class TorchSeq2Seq(nn.Module):
        """Seq2Seq from torch.nn modules; ``rnnkit_config`` is the model's ``config()``."""

        def __init__(self, config, project_bridge):
            super().__init__()
            self.rnnkit_config = c = dict(config)
            E, H, H_e, L = c["embed_size"], c["hidden_size"], c["encoder_hidden_size"], c["num_layers"]
            Layer, Cell = layers[c["cell"]]
            self.lstm, self.attention = c["cell"] == "lstm", c["attention"]
            dirs = 2 if c["bidirectional"] else 1
            self.src_embedding = nn.Embedding(c["src_vocab_size"], E, padding_idx=c["pad_id"])
            self.encoder = Layer(E, H_e, num_layers=L, bidirectional=c["bidirectional"],
                                 dropout=c["dropout"] if L > 1 else 0.0)
            if project_bridge:
                parts = ("h", "c") if self.lstm else ("h",)
                self.bridge = nn.ModuleDict({s: nn.Linear(dirs * H_e, H) for s in parts})
            self.decoder = dec = nn.Module()
            dec.embedding = nn.Embedding(c["tgt_vocab_size"], E, padding_idx=c["pad_id"])
            dec.cells = nn.ModuleList([Cell(E + H * c["input_feeding"] if layer == 0 else H, H)
                                       for layer in range(L)])
            if self.attention != "none":
                dec.attention = nn.Module()
                dec.attention.score = score = nn.Module()
                if self.attention == "additive":
                    A = c["attention_size"] or H
                    score.W_q, score.W_k = nn.Linear(H, A, bias=False), nn.Linear(dirs * H_e, A, bias=False)
                    score.v = nn.Linear(A, 1, bias=False)
                elif self.attention == "general":
                    score.W_a = nn.Linear(dirs * H_e, H, bias=False)
                dec.attention_output = nn.Module()
                dec.attention_output.W_c = nn.Linear(dirs * H_e + H, H)
            dec.projection = nn.Linear(H, c["tgt_vocab_size"])
            self.dropout = nn.Dropout(c["dropout"])
            self.criterion = nn.CrossEntropyLoss(ignore_index=-100, label_smoothing=c["label_smoothing"])

        def encode(self, src, lengths):
            """(S, B) ids, (B,) lengths -> enc (S, B, dirs * H_e), per layer the start state."""
            c, (S, B) = self.rnnkit_config, src.shape
            L, dirs = c["num_layers"], 2 if c["bidirectional"] else 1
            packed = pack_padded_sequence(self.src_embedding(src), lengths, enforce_sorted=False)
            enc_packed, final = self.encoder(packed)
            enc, _ = pad_packed_sequence(enc_packed, total_length=S)
            final = final if self.lstm else (final,)
            if hasattr(self, "bridge"):
                join = lambda s: s.view(L, dirs, B, -1).permute(0, 2, 1, 3).reshape(L, B, -1)  # noqa: E731
                final = tuple(torch.tanh(self.bridge[n](join(s))) for n, s in zip(("h", "c"), final))
            return enc, [tuple(s[layer] for s in final) for layer in range(L)]

        def forward(self, src, src_lengths, tgt_in, project=True):
            src, lengths = torch.as_tensor(src), torch.as_tensor(src_lengths)
            enc, states = self.encode(src, lengths)
            dec, B = self.decoder, src.shape[1]
            padded = torch.arange(src.shape[0])[:, None] >= lengths[None, :]           # (S, B)
            if self.attention != "none":
                score = dec.attention.score
                keys = {"additive": lambda: score.W_k(enc), "general": lambda: score.W_a(enc),
                        "dot": lambda: enc}[self.attention]()
            emb = dec.embedding(torch.as_tensor(tgt_in))                                # (T, B, E)
            feed, outs = emb.new_zeros(B, self.rnnkit_config["hidden_size"]), []
            for t in range(len(emb)):
                x = torch.cat([emb[t], feed], 1) if self.rnnkit_config["input_feeding"] else emb[t]
                new = []
                for layer, cell in enumerate(dec.cells):
                    x = self.dropout(x) if layer > 0 else x
                    new.append(cell(x, states[layer]) if self.lstm else (cell(x, states[layer][0]),))
                    x = new[-1][0]
                states = new
                if self.attention == "none":
                    h_tilde = x
                else:
                    e = (score.v(torch.tanh(keys + score.W_q(x)))[..., 0] if self.attention == "additive"
                         else (keys * x).sum(-1))                                       # (S, B)
                    a = torch.softmax(e.masked_fill(padded, float("-inf")), dim=0)
                    context = (a[:, :, None] * enc).sum(0)                              # (B, H_e)
                    h_tilde = torch.tanh(dec.attention_output.W_c(torch.cat([context, x], 1)))
                outs.append(h_tilde)
                feed = h_tilde
            h_tilde = torch.stack(outs)                                                 # (T, B, H)
            return self.project(h_tilde) if project else h_tilde                        # (T, B, V)

        def project(self, h_tilde):
            return self.decoder.projection(self.dropout(h_tilde))

        def loss(self, batch, valid_only=False):
            """Mean cross-entropy per target token of a Seq2SeqBatches batch, as Seq2Seq.loss.
            ``valid_only``: logits only at the real target positions, as Seq2Seq.loss computes
            them (same loss and gradients; the default projects every padded position too,
            as a model written the usual torch way does)."""
            c = self.rnnkit_config
            tgt_in, valid = shift_right(batch.targets, batch.target_lengths, c["bos_id"], c["pad_id"])
            if not valid_only:
                logits = self(batch.inputs, batch.lengths, tgt_in)
                targets = torch.as_tensor(np.where(valid, batch.targets, -100))
                return self.criterion(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
            h_tilde = self(batch.inputs, batch.lengths, tgt_in, project=False)          # (T, B, H)
            mask = torch.as_tensor(valid)
            logits = self.project(h_tilde[mask])                                        # (N, V)
            return self.criterion(logits, torch.as_tensor(batch.targets)[mask])

    return TorchSeq2Seq
