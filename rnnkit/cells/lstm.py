"""LSTM cell: one time step forward and backward.

Gate order in the stacked weights is ``i, f, g, o`` (input, forget, cell candidate,
output), as in PyTorch: ``W_ih (4H, D)``, ``W_hh (4H, H)``, ``b_ih, b_hh (4H,)``.

Forward, in the order the code computes it::

    gi    = x @ W_ih^T + b_ih                    # (B, 4H)  hoisted out of the time loop
    gates = gi + h_prev @ W_hh^T + b_hh          # (B, 4H)
    i, f, o = sigmoid(gates_i), sigmoid(gates_f), sigmoid(gates_o)
    g     = tanh(gates_g)
    c     = f * c_prev + i * g                   # (B, H)
    tc    = tanh(c)
    h     = o * tc                               # (B, H)

Backward, given dL/dh and dL/dc (the latter from step t+1)::

    do      = dh * tc
    dc      = dc + dh * o * (1 - tc^2)
    di, dg, df = dc * g, dc * i, dc * c_prev
    dc_prev = dc * f
    dgates  = [di i(1-i), df f(1-f), dg (1-g^2), do o(1-o)]   # dgi = dgh = dgates
    dh_prev = dgates @ W_hh
"""

from __future__ import annotations

import numpy as np

from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.kernel import RecurrentKernel, hidden_grads, hidden_grads_summed
from rnnkit.cells.gru import sigmoid


def gate_activations(gates, H):
    """``i, f, g, o`` from the stacked pre-activations ``gates (B, 4H)``."""
    return (sigmoid(gates[:, :H]), sigmoid(gates[:, H : 2 * H]),
            np.tanh(gates[:, 2 * H : 3 * H]), sigmoid(gates[:, 3 * H :]))


def gates_backward(dc, do, c_prev, i, f, g, o):
    """From dL/dc (all of it) and dL/do: ``dgates (B, 4H)`` and ``dc_prev = dc * f``."""
    di = dc * g
    dg = dc * i
    df = dc * c_prev
    dgates = np.concatenate(
        [di * i * (1 - i), df * f * (1 - f), dg * (1 - g * g), do * o * (1 - o)], axis=1
    )                                                              # (B, 4H)
    return dgates, dc * f


class LSTMKernel(RecurrentKernel):
    """Pure step functions of the LSTM; ``state`` is the pair ``(h, c)``."""

    num_gates = 4
    state_names = ("h", "c")
    has_fast_path = True     # rnnkit/kernels/lstm.py
    shared_gate_grads = True
    gate_names = ("input", "forget", "output")

    def step_forward(self, gi, state, params):
        h_prev, c_prev = state
        H = h_prev.shape[1]
        gates = gi + h_prev @ params["weight_hh"].T                # (B, 4H)
        if "bias_hh" in params:
            gates += params["bias_hh"]
        i, f, g, o = gate_activations(gates, H)
        c = f * c_prev + i * g
        tc = np.tanh(c)
        h = o * tc
        return (h, c), (h_prev, c_prev, i, f, g, o, tc)

    def step_backward(self, d_state, cache, params):
        dh, dc = d_state
        h_prev, c_prev, i, f, g, o, tc = cache
        do = dh * tc
        dc = dc + dh * o * (1 - tc * tc)
        dgates, dc_prev = gates_backward(dc, do, c_prev, i, f, g, o)   # (B, 4H)
        dh_prev = dgates @ params["weight_hh"]
        return dgates, (dh_prev, dc_prev), hidden_grads(dgates, h_prev, params)

    def step_gates(self, cache):
        _, _, i, f, _, o, _ = cache
        return i, f, o

    # -- fast path: a whole direction per call, same equations (rnnkit/kernels/lstm.py) --
    def fast_loop_kind(self, T, B, H, dtype) -> str:
        from rnnkit.kernels import lstm
        return lstm.loop_kind(T, B, H, dtype)

    def fast_forward_sequence(self, GI, state, params, reverse, padded, keep):
        from rnnkit.kernels import lstm
        return lstm.forward_sequence(GI, state, params["weight_hh"], params.get("bias_hh"),
                                     reverse, padded, keep)

    def fast_backward_sequence(self, d_out, d_state, cache, params, reverse, padded):
        from rnnkit.kernels import lstm
        DG, d_state0, dW_hh = lstm.backward_sequence(d_out, d_state, cache, params["weight_hh"],
                                                     reverse, padded)
        return DG, d_state0, hidden_grads_summed(DG, dW_hh, params)


class LSTMCell(RecurrentCell):
    """One LSTM step; see the module docstring for the equations.

    Parameters match ``torch.nn.LSTMCell`` (gate order i, f, g, o).
    ``forward(x (B, D), (h, c) = zeros) -> (h', c')``, each ``(B, H)``;
    ``backward((dh', dc')) -> (dx (B, D), (dh, dc))``.
    """

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32, seed=None):
        super().__init__(LSTMKernel(), input_size, hidden_size, bias, dtype, seed)
