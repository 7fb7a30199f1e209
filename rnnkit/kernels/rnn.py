"""Elman RNN fast path: one direction's whole time loop (reference: ``rnnkit/cells/rnn.py``).

Forward, per step ``t`` (``prev`` is ``t - 1``, or ``t + 1`` in the reverse direction)::

    S    = h_prev @ W_hh^T                 # (B, H)  BLAS, into a workspace
    S    = GI[t] + S + b_hh                # fused
    h_t  = act(S)                          # np.tanh / np.maximum(S, 0); padded rows keep h_prev

Backward, per step in reverse order, ``dh = (DG[t+1] @ W_hh) + carry + d_out[t]``::

    DG[t] = dh * act'(h_t)                 # tanh' = 1 - h^2, relu' = [h > 0]; fused
    then DG[t] @ W_hh (BLAS) feeds the step before;  dW_hh = DG^T @ H_prev (one GEMM).

``carry`` holds the gradient that padded steps pass through unchanged.
"""

from __future__ import annotations

import numpy as np

from rnnkit.kernels import _workspace as workspace
from rnnkit.kernels._jit import njit
from rnnkit.kernels._loop import outputs, padding, steps
from rnnkit.kernels._products import matmul


@njit
def _preactivation(S, gi, b_hh):
    """S += gi + b_hh."""
    B, H = S.shape
    for b in range(B):
        s, g = S[b], gi[b]
        for k in range(H):
            s[k] = s[k] + g[k] + b_hh[k]


@njit
def _activation_backward(dh_mm, carry, d_out, h, DG, padded, relu):
    """DG = (dh_mm + carry + d_out) * act'(h); padded rows: DG = 0, carry += dh_mm."""
    B, H = h.shape
    for b in range(B):
        mm, cb, dob, hb, dg = dh_mm[b], carry[b], d_out[b], h[b], DG[b]
        if padded[b]:
            for k in range(H):
                cb[k] = mm[k] + cb[k]
                dg[k] = 0
            continue
        for k in range(H):
            d_h = mm[k] + cb[k] + dob[k]
            if relu:
                dg[k] = d_h if hb[k] > 0 else 0
            else:
                dg[k] = d_h - d_h * hb[k] * hb[k]                # dh (1 - h^2)
            cb[k] = 0


def forward_sequence(GI, state, W_hh, b_hh, reverse, padded, keep, relu):
    """One direction. GI (T, B, H) = X @ W_ih^T + b_ih; state (h0,) (B, H);
    padded (T, B) bool or None. Returns out (T, B, H), (h_T,), cache (None unless keep)."""
    T, B, H = GI.shape
    dtype = GI.dtype
    (h0,) = state
    HS = workspace.empty((T + 1, B, H), dtype)                   # h0 and every h_t
    S = np.empty((B, H), dtype)
    bias = np.zeros(H, dtype) if b_hh is None else b_hh
    W_hh_T = np.ascontiguousarray(W_hh.T)                        # (H, H)
    HS[T if reverse else 0] = h0
    for t, new, prev in steps(T, reverse):
        np.matmul(HS[prev], W_hh_T, out=S)                       # (B, H)
        _preactivation(S, GI[t], bias)
        if relu:
            np.maximum(S, 0, out=HS[new])
        else:
            np.tanh(S, out=HS[new])
        if padded is not None:
            np.copyto(HS[new], HS[prev], where=padded[t][:, None])
    final = (HS[0 if reverse else T].copy(),)
    out = outputs(HS, reverse, padded, keep)
    return out, final, (HS if keep else None)


def backward_sequence(d_out, d_state, HS, W_hh, reverse, padded, relu):
    """BPTT through one direction. d_out (T, B, H); d_state (dh_T,).

    Returns DG (T, B, H) (the gradient of both GI and the hidden projection),
    the gradient of (h0,), and dW_hh (H, H).
    """
    T = HS.shape[0] - 1
    B, H = HS.shape[1:]
    d_out = np.ascontiguousarray(d_out)
    padded = padding(padded, T, B)
    DG = workspace.empty((T, B, H), HS.dtype)
    carry = d_state[0].copy()                                    # dh not yet through W_hh
    dh_mm = np.zeros_like(carry)                                 # DG[t+1] @ W_hh
    for t, new, prev in reversed(steps(T, reverse)):
        _activation_backward(dh_mm, carry, d_out[t], HS[new], DG[t], padded[t], relu)
        np.matmul(DG[t], W_hh, out=dh_mm)                        # (B, H)
    H_prev = HS[1:] if reverse else HS[:T]                       # (T, B, H)
    dW_hh = matmul(DG.reshape(T * B, H).T, H_prev.reshape(T * B, H))  # (H, H)
    return DG, (dh_mm + carry,), dW_hh
