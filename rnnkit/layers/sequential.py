"""A container that chains modules so one forward/backward runs a whole model.

Recurrent layers inside it return only their output sequence (their final
state is kept on ``self.final_states``); modules with ``takes_lengths`` (the
recurrent layers, :class:`LastValid`) receive the batch's ``lengths``.
Parameters are named ``"{index}.{name}"``, as in ``torch.nn.Sequential``.

Example — many-to-one sentiment classifier::

    model = Sequential(Embedding(V, 64), LSTM(64, 128, bidirectional=True),
                       LastValid(bidirectional=True), Linear(256, 1))
    logits = model.forward(ids, lengths=lengths)          # ids (T, B) -> (B, 1)
    loss = bce.forward(logits[:, 0], labels); model.backward(bce.backward()[:, None])
"""

from __future__ import annotations

from rnnkit.errors import InputError, InputTypeError
from rnnkit.layers.recurrent import RecurrentLayer
from rnnkit.module import Module


class Sequential(Module):
    def __init__(self, *modules):
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise InputTypeError(f"Sequential: module {i} must be an rnnkit Module, got {type(m).__name__}")
        if not modules:
            raise InputError("Sequential needs at least one module")
        self._modules_list = list(modules)
        self.final_states = []

    def __getitem__(self, index):
        return self._modules_list[index]

    def __len__(self):
        return len(self._modules_list)

    def forward(self, x, lengths=None):
        self.final_states = []
        for m in self._modules_list:
            if isinstance(m, RecurrentLayer):
                x, state = m.forward(x, lengths=lengths)
                self.final_states.append(state)
            elif getattr(m, "takes_lengths", False):
                x = m.forward(x, lengths)
            else:
                x = m.forward(x)
        return x

    def backward(self, dy):
        """Backpropagate through every module; returns the input gradient
        (None when the first module is an Embedding)."""
        for m in reversed(self._modules_list):
            if isinstance(m, RecurrentLayer):
                dy, _ = m.backward(dy)
            else:
                dy = m.backward(dy)
        return dy

    def __repr__(self):
        inner = "\n".join(f"  ({i}): {m!r}" for i, m in enumerate(self._modules_list))
        return f"Sequential(\n{inner}\n)"
