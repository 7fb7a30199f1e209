"""GRU fast path, ``reset_after=True`` form: one direction's whole time loop
(reference: ``rnnkit/cells/gru.py``; the Cho et al. form runs the reference loop).

Forward, per step ``t`` (``prev`` is ``t - 1``, or ``t + 1`` in the reverse direction)::

    ST     = W_hh @ h_prev^T                          # (3H, B)  BLAS, into a workspace
    S_rz   = (GI_rz[t] + ST_rz^T + b_hh_rz) / 2       # fused
    GHN[t] = ST_n^T + b_hh_n                          # gh_n, kept for backward
    A_rz   = tanh(S_rz);  r, z = (1 + A_r) / 2, (1 + A_z) / 2     # = sigmoid
    S_n    = GI_n[t] + r * GHN[t]                     # fused with the line above
    n      = A_n = tanh(S_n)
    h_t    = n + z * (h_prev - n)                     # padded rows keep h_prev

float32 runs the forward in one compiled pass per step after ``S = h_prev @ W_hh^T``
(rows contiguous), with the vectorised rational tanh/sigmoid of
``rnnkit/kernels/_activations.py`` (``_step_float32``); float64 keeps ``np.tanh``. Small
float32 batches (``_loop.runs_packed``) run the whole loop, forward and backward, compiled
around the packed product of ``rnnkit/kernels/_gemm.py``.

Backward, per step in reverse order, ``dh = (DGH[t+1] @ W_hh) + carry + d_out[t]``::

    dn = dh (1 - z);  dz = dh (h_prev - n);  carry = dh z
    da_n = dn (1 - n^2);  dr = da_n GHN[t]
    DGI[t] = [dr r(1-r), dz z(1-z), da_n];   DGH[t] = [dr r(1-r), dz z(1-z), da_n r]
    then DGH[t] @ W_hh (BLAS) feeds the step before;  dW_hh = DGH^T @ H_prev (one GEMM).
"""

from __future__ import annotations

import numpy as np

from rnnkit.kernels import _gemm, _loop
from rnnkit.kernels._activations import sigmoid32, tanh32
from rnnkit.kernels._jit import njit
from rnnkit.kernels._loop import outputs, padding, step_rows, steps, transposed_weights


@njit
def _reset_update_gates(S, GHN, ST, gi, b_hh, half):
    """S_rz = (gi_rz + ST_rz^T + b_hh_rz) / 2;  GHN = ST_n^T + b_hh_n."""
    B, G = S.shape
    H = G // 3
    for b in range(B):
        s, g, st, ghn = S[b], gi[b], ST[:, b], GHN[b]
        for j in range(2 * H):
            s[j] = half * (st[j] + g[j] + b_hh[j])
        for k in range(H):
            ghn[k] = st[2 * H + k] + b_hh[2 * H + k]


@njit
def _candidate_preactivation(A, S, GHN, gi, half):
    """r, z = sigmoid from tanh(a/2), in place in A; S_n = gi_n + r * gh_n."""
    B, G = A.shape
    H = G // 3
    for b in range(B):
        a, s, g, ghn = A[b], S[b], gi[b], GHN[b]
        for j in range(2 * H):
            a[j] = half + half * a[j]
        for k in range(H):
            s[2 * H + k] = g[2 * H + k] + a[k] * ghn[k]


@njit
def _hidden(A, h_prev, h, hT, padded):
    """h = n + z (h_prev - n), also written transposed; padded rows keep h_prev."""
    B, G = A.shape
    H = G // 3
    for b in range(B):
        z, n, hp, hb = A[b, H:2 * H], A[b, 2 * H:], h_prev[b], h[b]
        if padded[b]:
            hb[:] = hp
        else:
            for k in range(H):
                hb[k] = n[k] + z[k] * (hp[k] - n[k])
        hT[:, b] = hb


@njit
def _gates_backward(dh_mm, carry, d_out, A, GHN, h_prev, DGI, DGH, padded):
    """One step of BPTT: dh = dh_mm + carry + d_out; writes DGI, DGH; carry = dh z.
    Padded rows pass dh through (carry = dh_mm + carry) and get zero gate gradients."""
    B, G = A.shape
    H = G // 3
    for b in range(B):
        a, dgi, dgh = A[b], DGI[b], DGH[b]
        r, z, n = a[:H], a[H:2 * H], a[2 * H:]
        mm, cb, dob, ghn, hp = dh_mm[b], carry[b], d_out[b], GHN[b], h_prev[b]
        if padded[b]:
            for k in range(H):
                cb[k] = mm[k] + cb[k]
            dgi[:] = 0
            dgh[:] = 0
            continue
        for k in range(H):
            d_h = mm[k] + cb[k] + dob[k]
            d_n = d_h - d_h * z[k]                               # dh (1 - z)
            d_z = d_h * (hp[k] - n[k])
            da_n = d_n - d_n * n[k] * n[k]                       # dn (1 - n^2)
            d_r = da_n * ghn[k]
            da_r = d_r * (r[k] - r[k] * r[k])
            da_z = d_z * (z[k] - z[k] * z[k])
            dgi[k] = da_r
            dgh[k] = da_r
            dgi[H + k] = da_z
            dgh[H + k] = da_z
            dgi[2 * H + k] = da_n
            dgh[2 * H + k] = da_n * r[k]
            cb[k] = d_h * z[k]


@njit
def _step_float32(S, gi, b_hh, A, GHN, h_prev, h, padded):
    """One float32 step after S = h_prev @ W_hh^T, one pass per batch row:
    r, z = sigmoid(gi_rz + S_rz + b_hh_rz); GHN = S_n + b_hh_n; n = tanh(gi_n + r GHN);
    h = n + z (h_prev - n). Padded rows keep h_prev."""
    B, G = S.shape
    H = G // 3
    for b in range(B):
        hp, hb = h_prev[b], h[b]
        if padded[b]:
            hb[:] = hp
            A[b] = 0                                             # never read; not left unset
            GHN[b] = 0
            continue
        s, g, a, ghn = S[b], gi[b], A[b], GHN[b]
        for j in range(2 * H):                                   # r, z
            a[j] = sigmoid32(s[j] + g[j] + b_hh[j])
        r, z, n = a[:H], a[H:2 * H], a[2 * H:]
        for k in range(H):
            gh = s[2 * H + k] + b_hh[2 * H + k]
            ghn[k] = gh
            n_k = tanh32(g[2 * H + k] + r[k] * gh)
            n[k] = n_k
            hb[k] = n_k + z[k] * (hp[k] - n_k)


def _forward_loop_float32(GI, W_hh_T, bias, HS, A, GHN, padded, reverse):
    """The float32 forward loop: one BLAS call and one compiled pass per step."""
    T, B, G = GI.shape
    S = np.empty((B, G), GI.dtype)                               # h_prev @ W_hh^T
    for t, new, prev in steps(T, reverse):
        np.matmul(HS[prev], W_hh_T, out=S)
        _step_float32(S, GI[t], bias, A[min(t, len(A) - 1)], GHN[min(t, len(GHN) - 1)],
                      HS[prev], HS[new], padded[t])


@njit
def _forward_loop_packed(GI, P, bias, HS, A, GHN, padded, reverse, S):
    """The float32 forward loop in one compiled call: per step the packed product
    S = h_prev @ W_hh^T (P = pack(W_hh^T), S (B, 3H)) and the one-pass step."""
    T = GI.shape[0]
    for step in range(T):
        t, new, prev = step_rows(step, T, reverse)
        _gemm.matmul(HS[prev], P, S)
        _step_float32(S, GI[t], bias, A[min(t, A.shape[0] - 1)], GHN[min(t, GHN.shape[0] - 1)],
                      HS[prev], HS[new], padded[t])


def forward_sequence(GI, state, W_hh, b_hh, reverse, padded, keep):
    """One direction. GI (T, B, 3H) = X @ W_ih^T + b_ih; state (h0,) (B, H);
    padded (T, B) bool or None. Returns out (T, B, H), (h_T,), cache (None unless keep)."""
    T, B, G = GI.shape
    H = G // 3
    dtype = GI.dtype
    (h0,) = state
    HS = np.empty((T + 1, B, H), dtype)                          # h0 and every h_t
    A = np.empty((T if keep else 1, B, G), dtype)                # r, z, n
    GHN = np.empty((T if keep else 1, B, H), dtype)              # gh_n = h_prev W_hn^T + b_hn
    bias = np.zeros(G, dtype) if b_hh is None else b_hh
    rows_padded = padding(padded, T, B)
    HS[T if reverse else 0] = h0
    if _loop.runs_packed(dtype, T, B, W_hh.size):
        _forward_loop_packed(GI, _gemm.pack(W_hh.T), bias, HS, A, GHN, rows_padded, reverse,
                             np.empty((B, G), dtype))
    elif dtype == np.float32:
        _forward_loop_float32(GI, transposed_weights(W_hh, T * B), bias, HS, A, GHN, rows_padded,
                              reverse)
    else:
        _forward_loop_blas(GI, np.ascontiguousarray(W_hh), bias, HS, A, GHN, rows_padded,
                           reverse)
    final = (HS[0 if reverse else T].copy(),)
    out = outputs(HS, reverse, padded, keep)
    cache = (HS, A, GHN) if keep else None
    return out, final, cache


def _forward_loop_blas(GI, W_hh, bias, HS, A, GHN, padded, reverse):
    """The forward loop with one BLAS call per step and np.tanh; A, GHN have T rows or 1."""
    T, B, G = GI.shape
    H = G // 3
    S = np.empty((B, G), GI.dtype)
    ST = np.empty((G, B), GI.dtype)                              # W_hh @ h_prev^T
    hT = HS[T if reverse else 0].T.copy()        # (H, B) h_prev; a copy: at H = 1, .T is a view
    half = GI.dtype.type(0.5)
    for t, new, prev in steps(T, reverse):
        a, ghn = A[min(t, len(A) - 1)], GHN[min(t, len(GHN) - 1)]
        np.matmul(W_hh, hT, out=ST)                              # (3H, B)
        _reset_update_gates(S, ghn, ST, GI[t], bias, half)
        np.tanh(S[:, :2 * H], out=a[:, :2 * H])
        _candidate_preactivation(a, S, ghn, GI[t], half)
        np.tanh(S[:, 2 * H:], out=a[:, 2 * H:])
        _hidden(a, HS[prev], HS[new], hT, padded[t])


def backward_sequence(d_out, d_state, cache, W_hh, reverse, padded):
    """BPTT through one direction. d_out (T, B, H); d_state (dh_T,).

    Returns DGI, DGH (T, B, 3H), the gradient of (h0,), and dW_hh (3H, H).
    """
    HS, A, GHN = cache
    T, B, G = A.shape
    d_out = np.ascontiguousarray(d_out)
    padded = padding(padded, T, B)
    DGI = np.empty((T, B, G), A.dtype)
    DGH = np.empty((T, B, G), A.dtype)
    carry = d_state[0].copy()                                    # dh not yet through W_hh
    dh_mm = np.zeros_like(carry)                                 # DGH[t+1] @ W_hh
    if _loop.runs_packed(A.dtype, T, B, W_hh.size):
        _backward_loop_packed(d_out, carry, dh_mm, _gemm.pack(W_hh), HS, A, GHN, DGI, DGH,
                              padded, reverse)
    else:
        for t, new, prev in reversed(steps(T, reverse)):
            _gates_backward(dh_mm, carry, d_out[t], A[t], GHN[t], HS[prev], DGI[t], DGH[t],
                            padded[t])
            np.matmul(DGH[t], W_hh, out=dh_mm)                   # (B, H)
    H_prev = HS[1:] if reverse else HS[:T]                       # (T, B, H)
    dW_hh = DGH.reshape(T * B, G).T @ H_prev.reshape(T * B, -1)  # (3H, H)
    return DGI, DGH, (dh_mm + carry,), dW_hh


@njit
def _backward_loop_packed(d_out, carry, dh_mm, P, HS, A, GHN, DGI, DGH, padded, reverse):
    """The float32 backward loop in one compiled call: per step the fused gate gradients,
    then the packed product dh_mm = DGH[t] @ W_hh (P = pack(W_hh))."""
    T = A.shape[0]
    for step in range(T):
        t, _, prev = step_rows(T - 1 - step, T, reverse)
        _gates_backward(dh_mm, carry, d_out[t], A[t], GHN[t], HS[prev], DGI[t], DGH[t],
                        padded[t])
        _gemm.matmul(DGH[t], P, dh_mm)
