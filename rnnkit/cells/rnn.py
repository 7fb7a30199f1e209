"""Elman RNN cell: one time step forward and backward.

Notation (row-major batches, as in PyTorch)::

    x        (B, D)   input at step t
    h_prev   (B, H)   hidden state h_{t-1}
    W_ih     (H, D)   input-to-hidden weights   (the seed's W_xh)
    W_hh     (H, H)   hidden-to-hidden weights
    b_ih, b_hh (H,)

Forward, in the order the code computes it::

    gi = x @ W_ih^T + b_ih              # (B, H)  hoisted out of the time loop by layers
    a  = gi + h_prev @ W_hh^T + b_hh    # (B, H)
    h  = act(a)                         # act = tanh or relu

Backward, given dL/dh::

    da      = dh * act'(a)              # tanh' = 1 - h^2,  relu' = [h > 0]
    dgi     = dgh = da                  # the same for the input and the hidden projection
    dh_prev = da @ W_hh                 # (B, H)
    dW_hh   = sum_t da_t^T @ h_prev_t   # the fast path: one GEMM over all steps
"""

from __future__ import annotations

import numpy as np

from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.kernel import RecurrentKernel, hidden_grads, hidden_grads_summed
from rnnkit.errors import InputError

NONLINEARITIES = ("tanh", "relu")


class RNNKernel(RecurrentKernel):
    """Pure step functions of the Elman cell; ``state`` is the 1-tuple ``(h,)``."""

    num_gates = 1
    state_names = ("h",)
    has_fast_path = True     # rnnkit/kernels/rnn.py
    shared_gate_grads = True

    def __init__(self, nonlinearity: str = "tanh"):
        if nonlinearity not in NONLINEARITIES:
            raise InputError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
        self.nonlinearity = nonlinearity

    def step_forward(self, gi, state, params):
        (h_prev,) = state
        a = gi + h_prev @ params["weight_hh"].T       # (B, H)
        if "bias_hh" in params:
            a += params["bias_hh"]
        if self.nonlinearity == "tanh":
            h = np.tanh(a)
        else:
            h = np.maximum(a, 0)
        return (h,), (h_prev, h)

    def step_backward(self, d_state, cache, params):
        (dh,) = d_state
        h_prev, h = cache
        if self.nonlinearity == "tanh":
            da = dh * (1 - h * h)
        else:
            da = dh * (h > 0)
        dh_prev = da @ params["weight_hh"]            # (B, H)
        return da, (dh_prev,), hidden_grads(da, h_prev, params)

    # -- fast path: a whole direction per call, same equations (rnnkit/kernels/rnn.py) --
    def fast_forward_sequence(self, GI, state, params, reverse, padded, keep):
        from rnnkit.kernels import rnn
        return rnn.forward_sequence(GI, state, params["weight_hh"], params.get("bias_hh"),
                                    reverse, padded, keep, self.nonlinearity == "relu")

    def fast_backward_sequence(self, d_out, d_state, cache, params, reverse, padded):
        from rnnkit.kernels import rnn
        DG, d_state0, dW_hh = rnn.backward_sequence(d_out, d_state, cache, params["weight_hh"],
                                                    reverse, padded, self.nonlinearity == "relu")
        return DG, d_state0, hidden_grads_summed(DG, dW_hh, params)


class RNNCell(RecurrentCell):
    """One step of an Elman RNN: ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``.

    Parameters match ``torch.nn.RNNCell``: ``weight_ih (H, D)``, ``weight_hh (H, H)``,
    ``bias_ih (H,)``, ``bias_hh (H,)``. ``forward(x (B, D), h (B, H) = zeros) -> h' (B, H)``;
    ``backward(dh' (B, H)) -> (dx (B, D), dh (B, H))``. Forward may be called several
    times before backward; each backward undoes the latest forward (BPTT order).
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh",
                 dtype=np.float32, seed=None):
        super().__init__(RNNKernel(nonlinearity), input_size, hidden_size, bias, dtype, seed)
        self.nonlinearity = nonlinearity
