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

from rnnkit.kernels import _gemm, _loop, _workers
from rnnkit.kernels import _workspace as workspace
from rnnkit.kernels._activations import sigmoid32, tanh32
from rnnkit.kernels._jit import njit
from rnnkit.kernels._products import matmul
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
def _gates_backward(dh_mm, carry, d_out, A, GHN, h_prev, DGI, DGH, padded, j0, j1):
    """One step of BPTT for hidden units j0..j1-1: dh = dh_mm + carry + d_out; writes their
    columns of DGI, DGH; carry = dh z. Padded rows pass dh through (carry = dh_mm + carry)
    and get zero gate gradients."""
    B, G = A.shape
    H = G // 3
    n = j1 - j0
    for b in range(B):
        a, dgi, dgh = A[b], DGI[b], DGH[b]
        r, z, nn = a[j0:j1], a[H + j0:H + j1], a[2 * H + j0:2 * H + j1]
        dgi_r, dgi_z, dgi_n = dgi[j0:j1], dgi[H + j0:H + j1], dgi[2 * H + j0:2 * H + j1]
        dgh_r, dgh_z, dgh_n = dgh[j0:j1], dgh[H + j0:H + j1], dgh[2 * H + j0:2 * H + j1]
        mm, cb, dob = dh_mm[b, j0:j1], carry[b, j0:j1], d_out[b, j0:j1]
        ghn, hp = GHN[b, j0:j1], h_prev[b, j0:j1]
        if padded[b]:
            for k in range(n):
                cb[k] = mm[k] + cb[k]
                dgi_r[k] = dgi_z[k] = dgi_n[k] = 0
                dgh_r[k] = dgh_z[k] = dgh_n[k] = 0
            continue
        for k in range(n):
            d_h = mm[k] + cb[k] + dob[k]
            d_n = d_h - d_h * z[k]                               # dh (1 - z)
            d_z = d_h * (hp[k] - nn[k])
            da_n = d_n - d_n * nn[k] * nn[k]                     # dn (1 - n^2)
            d_r = da_n * ghn[k]
            da_r = d_r * (r[k] - r[k] * r[k])
            da_z = d_z * (z[k] - z[k] * z[k])
            dgi_r[k] = da_r
            dgh_r[k] = da_r
            dgi_z[k] = da_z
            dgh_z[k] = da_z
            dgi_n[k] = da_n
            dgh_n[k] = da_n * r[k]
            cb[k] = d_h * z[k]


@njit
def _step_float32(S, gi, b_hh, A, GHN, h_prev, h, padded, j0, j1):
    """One float32 step for hidden units j0..j1-1 after their product S (B, 3 (j1 - j0)) =
    h_prev @ W_hh^T in the columns of those units' r, z, n gates, one pass per batch row:
    r, z = sigmoid(gi_rz + S_rz + b_hh_rz); GHN = S_n + b_hh_n; n = tanh(gi_n + r GHN);
    h = n + z (h_prev - n). Padded rows keep h_prev."""
    B = S.shape[0]
    H = h.shape[1]
    n = j1 - j0
    for b in range(B):
        s, g, a = S[b], gi[b], A[b]
        hp, hb, ghn = h_prev[b, j0:j1], h[b, j0:j1], GHN[b, j0:j1]
        if padded[b]:
            hb[:] = hp
            ghn[:] = 0                                           # never read; not left unset
            for q in range(3):
                a[q * H + j0:q * H + j1] = 0
            continue
        for q in range(2):                                       # r, z
            s_q = s[q * n:(q + 1) * n]
            g_q, b_q = g[q * H + j0:q * H + j1], b_hh[q * H + j0:q * H + j1]
            a_q = a[q * H + j0:q * H + j1]
            for k in range(n):
                a_q[k] = sigmoid32(s_q[k] + g_q[k] + b_q[k])
        r, z, nn = a[j0:j1], a[H + j0:H + j1], a[2 * H + j0:2 * H + j1]
        s_n, g_n, b_n = s[2 * n:3 * n], g[2 * H + j0:2 * H + j1], b_hh[2 * H + j0:2 * H + j1]
        for k in range(n):
            gh = s_n[k] + b_n[k]
            ghn[k] = gh
            n_k = tanh32(g_n[k] + r[k] * gh)
            nn[k] = n_k
            hb[k] = n_k + z[k] * (hp[k] - n_k)


def _forward_loop_float32(GI, W_hh_T, bias, HS, A, GHN, padded, reverse):
    """The float32 forward loop: one BLAS call and one compiled pass per step."""
    T, B, G = GI.shape
    S = np.empty((B, G), GI.dtype)                               # h_prev @ W_hh^T
    for t, new, prev in steps(T, reverse):
        np.matmul(HS[prev], W_hh_T, out=S)
        _step_float32(S, GI[t], bias, A[min(t, len(A) - 1)], GHN[min(t, len(GHN) - 1)],
                      HS[prev], HS[new], padded[t], 0, S.shape[1] // 3)


@njit
def _forward_loop_packed(GI, P, bias, HS, A, GHN, padded, reverse, j0, j1, done, worker):
    """One worker's float32 forward loop in one compiled call, for hidden units j0..j1-1
    (``_workers.run_shares``): per step the packed product S = h_prev @ W_hh^T of those
    units' gate columns (P), the one-pass step, and the barrier (every worker's units of
    h_t are written)."""
    T, B = GI.shape[0], GI.shape[1]
    S = np.empty((B, 3 * (j1 - j0)), GI.dtype)
    for step in range(T):
        t, new, prev = step_rows(step, T, reverse)
        _gemm.matmul(HS[prev], P, S)
        _step_float32(S, GI[t], bias, A[min(t, A.shape[0] - 1)], GHN[min(t, GHN.shape[0] - 1)],
                      HS[prev], HS[new], padded[t], j0, j1)
        _workers.arrive_and_wait(done, worker, step)


def loop_kind(T, B, H, dtype) -> str:
    """"workers" (packed, on more than one core), "compiled" (packed on one) or "blas" (a
    BLAS call per step): ``GRUKernel.fast_loop_kind``."""
    workers = _workers.count(B, H, 3)
    if not _loop.runs_packed(dtype, T, B, 3 * H * H, workers):
        return "blas"
    return "workers" if workers > 1 else "compiled"


def forward_sequence(GI, state, W_hh, b_hh, reverse, padded, keep):
    """One direction. GI (T, B, 3H) = X @ W_ih^T + b_ih; state (h0,) (B, H);
    padded (T, B) bool or None. Returns out (T, B, H), (h_T,), cache (None unless keep)."""
    T, B, G = GI.shape
    H = G // 3
    dtype = GI.dtype
    (h0,) = state
    HS = workspace.empty((T + 1, B, H), dtype)                   # h0 and every h_t
    A = workspace.empty((T if keep else 1, B, G), dtype)         # r, z, n
    GHN = workspace.empty((T if keep else 1, B, H), dtype)       # gh_n = h_prev W_hn^T + b_hn
    bias = np.zeros(G, dtype) if b_hh is None else b_hh
    rows_padded = padding(padded, T, B)
    HS[T if reverse else 0] = h0
    workers = _workers.count(B, H, 3)
    if _loop.runs_packed(dtype, T, B, W_hh.size, workers):
        _workers.run_shares(_forward_loop_packed, _workers.packed_rows(W_hh, 3, workers),
                            (GI,), (bias, HS, A, GHN, rows_padded, reverse))
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
    DGI = workspace.empty((T, B, G), A.dtype)
    DGH = workspace.empty((T, B, G), A.dtype)
    carry = d_state[0].copy()                                    # dh not yet through W_hh
    dh_mm = np.zeros_like(carry)                                 # DGH[t+1] @ W_hh
    workers = _workers.count(B, G // 3, 3)
    if _loop.runs_packed(A.dtype, T, B, W_hh.size, workers):
        _workers.run_shares(_backward_loop_packed, _workers.packed_columns(W_hh, workers),
                            (d_out, carry, dh_mm), (HS, A, GHN, DGI, DGH, padded, reverse))
    else:
        for t, new, prev in reversed(steps(T, reverse)):
            _gates_backward(dh_mm, carry, d_out[t], A[t], GHN[t], HS[prev], DGI[t], DGH[t],
                            padded[t], 0, dh_mm.shape[1])
            np.matmul(DGH[t], W_hh, out=dh_mm)                   # (B, H)
    H_prev = HS[1:] if reverse else HS[:T]                       # (T, B, H)
    dW_hh = matmul(DGH.reshape(T * B, G).T, H_prev.reshape(T * B, -1))  # (3H, H)
    return DGI, DGH, (dh_mm + carry,), dW_hh


@njit
def _backward_loop_packed(d_out, carry, dh_mm, P, HS, A, GHN, DGI, DGH, padded, reverse, j0, j1,
                          done, worker):
    """One worker's float32 backward loop in one compiled call, for hidden units j0..j1-1
    (``_workers.run_shares``): per step their gate gradients, the barrier (every worker's
    part of DGH[t] is written),
    then their part of the packed product dh_mm[:, j0:j1] = DGH[t] @ W_hh[:, j0:j1] (P)."""
    T = A.shape[0]
    for step in range(T):
        t, _, prev = step_rows(T - 1 - step, T, reverse)
        _gates_backward(dh_mm, carry, d_out[t], A[t], GHN[t], HS[prev], DGI[t], DGH[t],
                        padded[t], j0, j1)
        _workers.arrive_and_wait(done, worker, step)
        _gemm.matmul(DGH[t], P, dh_mm[:, j0:j1])
