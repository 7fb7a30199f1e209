"""The bridge: the encoder's final states -> the decoder's initial states.

The encoder's final state parts (``h``, and ``c`` for an LSTM) are
``(num_layers * num_directions, B, H_e)``, layer-major as in ``torch.nn.LSTM``
(``l0 forward, l0 backward, l1 forward, ...``); the decoder starts from
``(num_layers, B, H_d)``. Layer ``l`` of the decoder starts from layer ``l`` of the encoder.

When the encoder is unidirectional and ``H_e == H_d`` the bridge is the identity
(the decoder starts exactly where the encoder stopped, as in Sutskever et al. 2014).
Otherwise each state part ``s`` has its own learned projection, shared by the layers::

    x_l  = [s_l^fwd; s_l^bwd]               # (B, num_directions * H_e)
    s0_l = tanh(x_l W_s^T + b_s)            # (B, H_d)  Linear + tanh

The cell state ``c`` gets the same Linear + tanh as ``h``: one rule for every part, and a
start ``c`` in (-1, 1) is a value an LSTM cell state can hold. Backward::

    dx_l = (ds0_l (1 - s0_l^2)) W_s;  dW_s += ..., db_s += ...    # rnnkit.Linear's backward

Parameters (projection only): ``h.weight (H_d, dirs * H_e)``, ``h.bias (H_d,)`` and the
same for ``c`` (``nn.Linear(dirs * H_e, H_d)`` each).
"""

from __future__ import annotations

import numpy as np

from rnnkit._validation import require_forward
from rnnkit.layers import Linear
from rnnkit.models._common import child_seeds
from rnnkit.module import Module, is_grad_enabled


class Bridge(Module):
    """Encoder final states -> decoder initial states (identity or Linear + tanh per part).

    ``forward(states)`` takes and returns a tuple of state parts (``(h,)`` or ``(h, c)``);
    ``backward(d_states)`` returns the gradient of the encoder's final states, a tuple too.
    """

    def __init__(self, state_names, num_layers, num_directions, encoder_size, decoder_size,
                 dtype=np.float32, seed=None):
        self.state_names = tuple(state_names)
        self.num_layers = num_layers
        self.num_directions = num_directions
        self.encoder_size = encoder_size
        self.identity = num_directions == 1 and encoder_size == decoder_size
        if not self.identity:
            for name, part_seed in zip(self.state_names, child_seeds(seed, len(self.state_names))):
                setattr(self, name, Linear(num_directions * encoder_size, decoder_size,
                                           dtype=dtype, seed=part_seed))
        self._outputs = None

    def _join_directions(self, s):
        """(L * dirs, B, H_e) -> (L, B, dirs * H_e): the directions of a layer side by side."""
        L, dirs = self.num_layers, self.num_directions
        B, H = s.shape[1:]
        return s.reshape(L, dirs, B, H).transpose(0, 2, 1, 3).reshape(L, B, dirs * H)

    def _split_directions(self, x):
        """The inverse of :meth:`_join_directions`."""
        L, dirs, H = self.num_layers, self.num_directions, self.encoder_size
        B = x.shape[1]
        return x.reshape(L, B, dirs, H).transpose(0, 2, 1, 3).reshape(L * dirs, B, H)

    def forward(self, states):
        if self.identity:
            return tuple(states)
        outputs = tuple(np.tanh(getattr(self, name).forward(self._join_directions(s)))
                        for name, s in zip(self.state_names, states))           # (L, B, H_d) each
        self._outputs = outputs if is_grad_enabled() else None
        return outputs

    def backward(self, d_states):
        if self.identity:
            return tuple(d_states)
        require_forward(self._outputs, "Bridge")
        d_final = tuple(
            self._split_directions(getattr(self, name).backward(d * (1 - s * s)))
            for name, d, s in zip(self.state_names, d_states, self._outputs))
        self._outputs = None
        return d_final

    def __repr__(self):
        return "Bridge(identity)" if self.identity else f"Bridge(Linear + tanh for {self.state_names})"
