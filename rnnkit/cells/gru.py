"""GRU cell in both published forms: one time step forward and backward.

Gate order in the stacked weights is ``r, z, n`` (reset, update, candidate), as
in PyTorch: ``W_ih (3H, D)``, ``W_hh (3H, H)``, ``b_ih, b_hh (3H,)``.

Forward, ``reset_after=True`` (PyTorch / cuDNN), in the order the code computes it::

    gi = x @ W_ih^T + b_ih                   # (B, 3H)  hoisted out of the time loop
    gh = h_prev @ W_hh^T + b_hh              # (B, 3H)
    r  = sigmoid(gi_r + gh_r)
    z  = sigmoid(gi_z + gh_z)
    n  = tanh(gi_n + r * gh_n)               # reset applied after the matmul
    h  = (1 - z) * n + z * h_prev

Forward, ``reset_after=False`` (Cho et al. 2014)::

    gh_rz = h_prev @ W_hh[:2H]^T + b_hh[:2H]
    r, z  = sigmoid(gi_r + gh_r), sigmoid(gi_z + gh_z)
    rh    = r * h_prev
    n     = tanh(gi_n + rh @ W_hh[2H:]^T + b_hh[2H:])   # reset applied before the matmul
    h     = (1 - z) * n + z * h_prev

Backward, given dL/dh::

    dn = dh * (1 - z);  dz = dh * (h_prev - n);  dh_prev = dh * z
    da_n = dn * (1 - n^2)
    reset_after=True:   dr = da_n * gh_n;             dgh_n = da_n * r
    reset_after=False:  drh = da_n @ W_hh[2H:];  dr = drh * h_prev;  dh_prev += drh * r
                        dgh_n = da_n  (its weight gradient pairs with rh, not h_prev)
    da_r = dr * r (1 - r);  da_z = dz * z (1 - z)
    dgi = [da_r, da_z, da_n];  dgh = [da_r, da_z, dgh_n]
    dh_prev += dgh @ W_hh      (only the r, z rows when reset_after=False)
"""

from __future__ import annotations

import numpy as np

from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.kernel import RecurrentKernel, hidden_grads, hidden_grads_summed


def sigmoid(a: np.ndarray) -> np.ndarray:
    """Logistic function, written to avoid overflow in exp for large |a|."""
    return 0.5 * (1.0 + np.tanh(0.5 * a))


class GRUKernel(RecurrentKernel):
    """Pure step functions of the GRU; ``state`` is the 1-tuple ``(h,)``."""

    num_gates = 3
    state_names = ("h",)
    gate_names = ("reset", "update")

    def __init__(self, reset_after: bool = True):
        self.reset_after = bool(reset_after)

    def step_forward(self, gi, state, params):
        (h_prev,) = state
        H = h_prev.shape[1]
        W_hh, b_hh = params["weight_hh"], params.get("bias_hh")
        if self.reset_after:
            gh = h_prev @ W_hh.T                                   # (B, 3H)
            if b_hh is not None:
                gh += b_hh
            rz = sigmoid(gi[:, : 2 * H] + gh[:, : 2 * H])          # (B, 2H)
            r, z = rz[:, :H], rz[:, H:]
            gh_n = gh[:, 2 * H :]
            n = np.tanh(gi[:, 2 * H :] + r * gh_n)
            extra = gh_n
        else:
            gh_rz = h_prev @ W_hh[: 2 * H].T                       # (B, 2H)
            if b_hh is not None:
                gh_rz += b_hh[: 2 * H]
            rz = sigmoid(gi[:, : 2 * H] + gh_rz)
            r, z = rz[:, :H], rz[:, H:]
            rh = r * h_prev                                        # (B, H)
            a_n = gi[:, 2 * H :] + rh @ W_hh[2 * H :].T
            if b_hh is not None:
                a_n += b_hh[2 * H :]
            n = np.tanh(a_n)
            extra = rh
        h = n + z * (h_prev - n)
        return (h,), (h_prev, r, z, n, extra)

    def step_backward(self, d_state, cache, params):
        (dh,) = d_state
        h_prev, r, z, n, extra = cache
        H = h_prev.shape[1]
        W_hh = params["weight_hh"]
        dn = dh * (1 - z)
        dz = dh * (h_prev - n)
        dh_prev = dh * z
        da_n = dn * (1 - n * n)
        if self.reset_after:
            gh_n = extra
            dr = da_n * gh_n
            dgh_n = da_n * r
        else:
            drh = da_n @ W_hh[2 * H :]                             # (B, H)
            dr = drh * h_prev
            dh_prev += drh * r
            dgh_n = da_n
        da_r = dr * r * (1 - r)
        da_z = dz * z * (1 - z)
        dgi = np.concatenate([da_r, da_z, da_n], axis=1)           # (B, 3H)
        dgh = np.concatenate([da_r, da_z, dgh_n], axis=1)          # (B, 3H)
        if self.reset_after:
            dh_prev += dgh @ W_hh
            grads = hidden_grads(dgh, h_prev, params)
        else:
            dh_prev += dgh[:, : 2 * H] @ W_hh[: 2 * H]
            # the n rows of W_hh multiply rh = r * h_prev, not h_prev
            grads = hidden_grads(dgh, h_prev, params)
            grads["weight_hh"][2 * H :] = dgh_n.T @ extra
        return dgi, (dh_prev,), grads

    def step_gates(self, cache):
        _, r, z, _, _ = cache
        return r, z

    # -- fast path (reset_after=True only): a whole direction per call, same equations
    #    (rnnkit/kernels/gru.py); the Cho et al. form runs the reference loop.
    @property
    def has_fast_path(self) -> bool:
        return self.reset_after

    def fast_loop_kind(self, T, B, H, dtype) -> str:
        from rnnkit.kernels import gru
        return gru.loop_kind(T, B, H, dtype)

    def fast_forward_sequence(self, GI, state, params, reverse, padded, keep):
        from rnnkit.kernels import gru
        return gru.forward_sequence(GI, state, params["weight_hh"], params.get("bias_hh"),
                                    reverse, padded, keep)

    def fast_backward_sequence(self, d_out, d_state, cache, params, reverse, padded):
        from rnnkit.kernels import gru
        DGI, DGH, d_state0, dW_hh = gru.backward_sequence(d_out, d_state, cache,
                                                          params["weight_hh"], reverse, padded)
        return DGI, d_state0, hidden_grads_summed(DGH, dW_hh, params)


class GRUCell(RecurrentCell):
    """One GRU step; see the module docstring for the equations of both forms.

    Parameters match ``torch.nn.GRUCell`` (gate order r, z, n). ``reset_after=True``
    is PyTorch's and cuDNN's form; ``False`` is Cho et al. (2014).
    ``forward(x (B, D), h (B, H) = zeros) -> h' (B, H)``;
    ``backward(dh' (B, H)) -> (dx (B, D), dh (B, H))``.
    """

    def __init__(self, input_size, hidden_size, bias=True, reset_after=True,
                 dtype=np.float32, seed=None):
        super().__init__(GRUKernel(reset_after), input_size, hidden_size, bias, dtype, seed)
        self.reset_after = bool(reset_after)
