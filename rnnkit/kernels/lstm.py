"""LSTM fast path: one direction's whole time loop (reference: ``rnnkit/cells/lstm.py``).

Forward, per step ``t`` (``prev`` is ``t - 1``, or ``t + 1`` in the reverse direction)::

    ST    = W_hh @ h_prev^T                          # (4H, B)  BLAS, into a workspace
    S     = (GI[t] + ST^T + b_hh) * [1/2, 1/2, 1, 1/2]   # fused; halves the i, f, o columns
    A[t]  = tanh(S)                                  # (B, 4H)  one NumPy call for all gates
    i, f, o = (1 + A_i) / 2, (1 + A_f) / 2, (1 + A_o) / 2   # = sigmoid(a): in place, fused
    g     = A_g
    c_t   = f * c_prev + i * g                       # fused with the line above
    TC[t] = tanh(c_t)
    h_t   = o * TC[t]                                # also kept transposed for the next ST

(``W_hh @ h^T`` rather than ``h @ W_hh^T``: the same products, in the orientation
OpenBLAS runs 10-40% faster for a small batch; the backward GEMM is fastest as written.)

float32 runs the same equations in fewer passes (``_forward_loop_float32``)::

    S     = h_prev @ W_hh^T                          # (B, 4H)  BLAS, rows contiguous
    i, f, g, o, c_t, TC[t], h_t  = one compiled pass over S, GI[t], b_hh, c_prev

with the rational tanh and sigmoid of ``rnnkit/kernels/_activations.py``, which LLVM
vectorises; reading ``W_hh @ h^T`` column by column would not vectorise, hence the other
orientation. Small float32 batches (``_loop.runs_packed``) run that loop, and the backward
one, wholly compiled, the product by the packed kernel of ``rnnkit/kernels/_gemm.py``
(``W_hh^T`` and ``W_hh`` packed once per call): no BLAS or Python call per step.
float64 keeps ``np.tanh`` (the PyTorch comparisons run in float64).

Backward, per step in reverse order, given ``dh`` (from step t+1 plus ``d_out[t]``) and ``dc``::

    dc      = dc + dh * o * (1 - tc^2)
    DG[t]   = [dc g i(1-i), dc c_prev f(1-f), dc i (1-g^2), dh tc o(1-o)]   # fused, one pass
    dc_prev = dc * f
    dh_prev = DG[t] @ W_hh                           # (B, H)  BLAS

then ``dW_hh = DG^T @ H_prev`` as one GEMM over all ``T * B`` rows.
Padded steps (``lengths``) pass the state and its gradient through unchanged.
"""

from __future__ import annotations

import numpy as np

from rnnkit.kernels import _gemm, _loop, _workers
from rnnkit.kernels import _workspace as workspace
from rnnkit.kernels._activations import sigmoid32, sigmoid_of, tanh32, tanh_of
from rnnkit.kernels._jit import njit
from rnnkit.kernels._products import matmul
from rnnkit.kernels._loop import (copy_pays, outputs, padding, step_rows, steps,
                                  transposed_weights)


# The fused loops index one batch row at a time through 1-D views, and their constants
# carry the arrays' dtype (``half``): both let LLVM vectorise them (about 5x faster).
@njit
def _preactivation(S, ST, gi, b_hh, half):
    """S = gi + ST^T + b_hh, halved in the sigmoid gates' columns (i, f, o).
    ST (4H, B) = W_hh @ h_prev^T, the GEMM orientation BLAS runs fastest at small B."""
    B, G = S.shape
    H = G // 4
    for b in range(B):
        s, g, st = S[b], gi[b], ST[:, b]
        for j in range(2 * H):
            s[j] = half * (st[j] + g[j] + b_hh[j])
        for j in range(2 * H, 3 * H):
            s[j] = st[j] + g[j] + b_hh[j]
        for j in range(3 * H, G):
            s[j] = half * (st[j] + g[j] + b_hh[j])


@njit
def _cell_update(A, c_prev, c, half):
    """Turns tanh(a/2) into sigmoid(a) for i, f, o in place; c = f * c_prev + i * g."""
    B, G = A.shape
    H = G // 4
    for b in range(B):
        a, cp, cb = A[b], c_prev[b], c[b]
        a_i, a_f, a_g, a_o = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
        for k in range(H):
            i = half + half * a_i[k]
            f = half + half * a_f[k]
            a_i[k] = i
            a_f[k] = f
            a_o[k] = half + half * a_o[k]
            cb[k] = f * cp[k] + i * a_g[k]


@njit
def _hidden(A, tc, h, hT, h_prev, c, c_prev, padded):
    """h = o * tanh(c), written as h (B, H) and as hT (H, B) for the next step's GEMM;
    padded rows keep h_prev and c_prev."""
    B, G = A.shape
    H = G // 4
    for b in range(B):
        a_o, tcb, hb = A[b, 3 * H:], tc[b], h[b]
        if padded[b]:
            hb[:] = h_prev[b]
            c[b] = c_prev[b]
        else:
            for k in range(H):
                hb[k] = a_o[k] * tcb[k]
        hT[:, b] = hb


@njit
def _gates_backward(dh_mm, carry, d_out, dc, A, tc, c_prev, DG, padded, j0, j1):
    """DG = dL/d(gates) of one step for hidden units j0..j1-1, from dh = dh_mm + carry +
    d_out; dc becomes dc_prev. Padded rows pass dh (carry += dh_mm) and dc through and get
    zero gate gradients."""
    B, G = A.shape
    H = G // 4
    n = j1 - j0
    for b in range(B):
        a, dg = A[b], DG[b]
        mm, cb, dob, dcb = dh_mm[b, j0:j1], carry[b, j0:j1], d_out[b, j0:j1], dc[b, j0:j1]
        a_i, a_f = a[j0:j1], a[H + j0:H + j1]
        a_g, a_o = a[2 * H + j0:2 * H + j1], a[3 * H + j0:3 * H + j1]
        dg_i, dg_f = dg[j0:j1], dg[H + j0:H + j1]
        dg_g, dg_o = dg[2 * H + j0:2 * H + j1], dg[3 * H + j0:3 * H + j1]
        if padded[b]:
            for k in range(n):
                cb[k] = mm[k] + cb[k]
                dg_i[k] = dg_f[k] = dg_g[k] = dg_o[k] = 0
            continue
        tcb, cpb = tc[b, j0:j1], c_prev[b, j0:j1]
        for k in range(n):
            i, f, g, o, t = a_i[k], a_f[k], a_g[k], a_o[k], tcb[k]
            d_h = mm[k] + cb[k] + dob[k]
            d_c = dcb[k] + d_h * (o - o * t * t)                 # dc + dh o (1 - tc^2)
            dg_i[k] = d_c * g * (i - i * i)
            dg_f[k] = d_c * cpb[k] * (f - f * f)
            dg_g[k] = d_c * (i - i * g * g)
            dg_o[k] = d_h * t * (o - o * o)
            dcb[k] = d_c * f
            cb[k] = 0


# Below this many multiply-adds per step (B * 4H * H) the whole loop runs compiled:
# a BLAS call and a NumPy ufunc each cost microseconds, more than the arithmetic.
SMALL_STEP = 1 << 14
# Also compiled: batches of at most SMALL_BATCH rows whose W_hh (4H x H) has at most
# SMALL_WEIGHTS entries (4 MB in float32, cache-resident), over calls of at least
# COPY_FROM_ROWS rows (T * B) that pay for copying W_hh^T. OpenBLAS runs those skinny
# products at a fraction of its peak; measured 2026-12-07, LSTM inference / training:
# (B, T, H) = (2, 200, 128) 7.6 -> 4.5 / 13.2 -> 7.5 ms, (2, 84, 390) 17.4 -> 10.9 /
# 35.9 -> 23.5 ms, (3, 180, 277) 23.5 -> 21.8 / 47.2 -> 44.2 ms; but (4, 100, 256) even
# and (1, 100, 1024) 67 -> 142 ms (W_hh out of cache), hence the limits.
SMALL_BATCH = 3
SMALL_WEIGHTS = 1 << 20


def runs_compiled(T, B, H) -> bool:
    """Whether a direction's loop runs wholly compiled (see SMALL_STEP, SMALL_BATCH)."""
    G = 4 * H
    return B * G * H <= SMALL_STEP or (
        B <= SMALL_BATCH and G * H <= SMALL_WEIGHTS and copy_pays(T * B))


def which_loop(T, B, H, dtype) -> str:
    """A direction's loop: "small" (plain compiled loops: tiny steps, and float64's small
    batches), "packed" (the float32 shapes of ``_loop.runs_packed``, compiled around the
    packed product, on ``_workers.count`` cores) or "blas" (a BLAS call per step)."""
    if B * 4 * H * H <= SMALL_STEP:
        return "small"
    if _loop.runs_packed(dtype, T, B, 4 * H * H, _workers.count(B, H, 4)):
        return "packed"
    return "small" if runs_compiled(T, B, H) else "blas"


def loop_kind(T, B, H, dtype) -> str:
    """"workers" (packed, on more than one core), "compiled" (small, or packed on one) or
    "blas" (a BLAS call per step): ``LSTMKernel.fast_loop_kind``."""
    loop = which_loop(T, B, H, dtype)
    if loop == "blas":
        return "blas"
    return "workers" if loop == "packed" and _workers.count(B, H, 4) > 1 else "compiled"


@njit
def _forward_loop_small(GI, W_hh_T, b_hh, HS, CS, A, TC, padded, reverse):
    """The forward loop of ``forward_sequence`` in one compiled call (tiny B * H);
    A and TC have T rows, or 1 row when nothing is kept for backward."""
    T, B, G = GI.shape
    H = G // 4
    S = np.empty(G, GI.dtype)
    for step in range(T):
        t, new, prev = step_rows(step, T, reverse)
        a, tc = A[min(t, A.shape[0] - 1)], TC[min(t, TC.shape[0] - 1)]
        c, c_prev = CS[new % CS.shape[0]], CS[prev % CS.shape[0]]
        for b in range(B):
            if padded[t, b]:
                HS[new, b] = HS[prev, b]
                c[b] = c_prev[b]
                continue
            for j in range(G):
                S[j] = GI[t, b, j] + b_hh[j]
            for k in range(H):                                   # S += h_prev @ W_hh^T
                h_k = HS[prev, b, k]
                for j in range(G):
                    S[j] += h_k * W_hh_T[k, j]
            for k in range(H):
                i = sigmoid_of(S[k])
                f = sigmoid_of(S[H + k])
                g = tanh_of(S[2 * H + k])
                o = sigmoid_of(S[3 * H + k])
                a[b, k], a[b, H + k], a[b, 2 * H + k], a[b, 3 * H + k] = i, f, g, o
                c[b, k] = f * c_prev[b, k] + i * g
                tc[b, k] = tanh_of(c[b, k])
                HS[new, b, k] = o * tc[b, k]


@njit
def _backward_loop_small(d_out, dh, dc, W_hh, CS, A, TC, DG, padded, reverse):
    """The backward loop of ``backward_sequence`` in one compiled call (tiny B * H)."""
    T, B, G = A.shape
    H = G // 4
    for step in range(T):
        t, _, prev = step_rows(T - 1 - step, T, reverse)
        for b in range(B):
            if padded[t, b]:
                DG[t, b] = 0.0                                   # dh, dc pass through
                continue
            for k in range(H):
                i = A[t, b, k]
                f = A[t, b, H + k]
                g = A[t, b, 2 * H + k]
                o = A[t, b, 3 * H + k]
                tc = TC[t, b, k]
                d_h = dh[b, k] + d_out[t, b, k]
                d_c = dc[b, k] + d_h * o * (1 - tc * tc)
                DG[t, b, k] = d_c * g * i * (1 - i)
                DG[t, b, H + k] = d_c * CS[prev, b, k] * f * (1 - f)
                DG[t, b, 2 * H + k] = d_c * i * (1 - g * g)
                DG[t, b, 3 * H + k] = d_h * tc * o * (1 - o)
                dc[b, k] = d_c * f
                dh[b, k] = 0.0
            for j in range(G):                                   # dh = DG[t] @ W_hh
                d_j = DG[t, b, j]
                for k in range(H):
                    dh[b, k] += d_j * W_hh[j, k]


def forward_sequence(GI, state, W_hh, b_hh, reverse, padded, keep):
    """One direction. GI (T, B, 4H) = X @ W_ih^T + b_ih; state (h0, c0) each (B, H);
    padded (T, B) bool or None. Returns out (T, B, H), (h_T, c_T), cache (None unless keep)."""
    T, B, G = GI.shape
    H = G // 4
    dtype = GI.dtype
    h0, c0 = state
    HS = workspace.empty((T + 1, B, H), dtype)                   # h0 and every h_t
    CS = workspace.empty((T + 1 if keep else 2, B, H), dtype)    # c0 and every c_t
    A = workspace.empty((T if keep else 1, B, G), dtype)         # gate activations i, f, g, o
    TC = workspace.empty((T if keep else 1, B, H), dtype)        # tanh(c_t)
    bias = np.zeros(G, dtype) if b_hh is None else b_hh
    first = T if reverse else 0
    HS[first] = h0
    CS[first % len(CS)] = c0
    rows_padded = padding(padded, T, B)
    loop = which_loop(T, B, H, dtype)
    if loop == "packed":
        _workers.run_shares(_forward_loop_packed,
                            _workers.packed_rows(W_hh, 4, _workers.count(B, H, 4)),
                            (GI,), (bias, HS, CS, A, TC, rows_padded, reverse))
    elif loop == "small":
        _forward_loop_small(GI, np.ascontiguousarray(W_hh.T), bias, HS, CS, A, TC,
                            rows_padded, reverse)
    elif dtype == np.float32:
        _forward_loop_float32(GI, transposed_weights(W_hh, T * B), bias, HS, CS, A, TC,
                              rows_padded, reverse)
    else:
        _forward_loop_blas(GI, np.ascontiguousarray(W_hh), bias, HS, CS, A, TC, rows_padded,
                           reverse)
    last = 0 if reverse else T
    final = (HS[last].copy(), CS[last % len(CS)].copy())
    out = outputs(HS, reverse, padded, keep)
    cache = (HS, CS, A, TC) if keep else None
    return out, final, cache


def _forward_loop_blas(GI, W_hh, bias, HS, CS, A, TC, padded, reverse):
    """The forward loop with one BLAS call per step; A, TC have T rows or 1 (not kept)."""
    T, B, G = GI.shape
    S = np.empty((B, G), GI.dtype)                               # pre-activations
    ST = np.empty((G, B), GI.dtype)                              # W_hh @ h_prev^T
    hT = HS[T if reverse else 0].T.copy()        # (H, B) h_prev; a copy: at H = 1, .T is a view
    half = GI.dtype.type(0.5)
    for t, new, prev in steps(T, reverse):
        a, tc = A[min(t, len(A) - 1)], TC[min(t, len(TC) - 1)]
        c, c_prev = CS[new % len(CS)], CS[prev % len(CS)]
        np.matmul(W_hh, hT, out=ST)                              # (4H, B)
        _preactivation(S, ST, GI[t], bias, half)                 # (B, 4H)
        np.tanh(S, out=a)
        _cell_update(a, c_prev, c, half)
        np.tanh(c, out=tc)
        _hidden(a, tc, HS[new], hT, HS[prev], c, c_prev, padded[t])


@njit
def _step_float32(S, gi, b_hh, c_prev, A, c, tc, h, h_prev, padded, j0, j1):
    """One float32 step for hidden units j0..j1-1 after their product S (B, 4 (j1 - j0)) =
    h_prev @ W_hh^T in the columns of those units' i, f, g, o gates, one pass per batch row:
    A = [sigmoid, sigmoid, tanh, sigmoid](S + gi + b_hh); c = f c_prev + i g; tc = tanh(c);
    h = o tc. Padded rows keep h_prev and c_prev."""
    B = S.shape[0]
    H = h.shape[1]
    n = j1 - j0
    for b in range(B):
        s, g, a = S[b], gi[b], A[b]
        cp, cb, tcb, hb = c_prev[b, j0:j1], c[b, j0:j1], tc[b, j0:j1], h[b, j0:j1]
        if padded[b]:
            hb[:] = h_prev[b, j0:j1]
            cb[:] = cp
            tcb[:] = 0                                           # never read; not left unset
            for q in range(4):
                a[q * H + j0:q * H + j1] = 0
            continue
        for q in range(4):                                       # i, f, g, o
            s_q = s[q * n:(q + 1) * n]
            g_q, b_q = g[q * H + j0:q * H + j1], b_hh[q * H + j0:q * H + j1]
            a_q = a[q * H + j0:q * H + j1]
            if q == 2:
                for k in range(n):
                    a_q[k] = tanh32(s_q[k] + g_q[k] + b_q[k])
            else:
                for k in range(n):
                    a_q[k] = sigmoid32(s_q[k] + g_q[k] + b_q[k])
        a_i, a_f = a[j0:j1], a[H + j0:H + j1]
        a_g, a_o = a[2 * H + j0:2 * H + j1], a[3 * H + j0:3 * H + j1]
        for k in range(n):
            c_k = a_f[k] * cp[k] + a_i[k] * a_g[k]
            cb[k] = c_k
            t = tanh32(c_k)
            tcb[k] = t
            hb[k] = a_o[k] * t


def _forward_loop_float32(GI, W_hh_T, bias, HS, CS, A, TC, padded, reverse):
    """The float32 forward loop: one BLAS call and one compiled pass per step."""
    T, B, G = GI.shape
    S = np.empty((B, G), GI.dtype)                               # h_prev @ W_hh^T
    for t, new, prev in steps(T, reverse):
        np.matmul(HS[prev], W_hh_T, out=S)
        _step_float32(S, GI[t], bias, CS[prev % len(CS)], A[min(t, len(A) - 1)],
                      CS[new % len(CS)], TC[min(t, len(TC) - 1)], HS[new], HS[prev], padded[t],
                      0, S.shape[1] // 4)


@njit
def _forward_loop_packed(GI, P, bias, HS, CS, A, TC, padded, reverse, j0, j1, done, worker):
    """One worker's float32 forward loop in one compiled call, for hidden units j0..j1-1
    (``_workers.run_shares``): per step the packed product S = h_prev @ W_hh^T of those
    units' gate columns (P), the one-pass step, and the barrier (every worker's units of
    h_t are written)."""
    T, B = GI.shape[0], GI.shape[1]
    S = np.empty((B, 4 * (j1 - j0)), GI.dtype)
    for step in range(T):
        t, new, prev = step_rows(step, T, reverse)
        _gemm.matmul(HS[prev], P, S)
        _step_float32(S, GI[t], bias, CS[prev % CS.shape[0]], A[min(t, A.shape[0] - 1)],
                      CS[new % CS.shape[0]], TC[min(t, TC.shape[0] - 1)], HS[new], HS[prev],
                      padded[t], j0, j1)
        _workers.arrive_and_wait(done, worker, step)


def backward_sequence(d_out, d_state, cache, W_hh, reverse, padded):
    """BPTT through one direction. d_out (T, B, H); d_state (dh_T, dc_T).

    Returns DG (T, B, 4H) (the gradient of both GI and the hidden projection),
    the gradient of (h0, c0), and dW_hh (4H, H).
    """
    HS, CS, A, TC = cache
    T, B, G = A.shape
    H = G // 4
    d_out = np.ascontiguousarray(d_out)
    dc = d_state[1].copy()
    DG = workspace.empty((T, B, G), A.dtype)
    rows_padded = padding(padded, T, B)
    loop = which_loop(T, B, H, A.dtype)
    if loop == "packed":
        dh_mm = np.zeros((B, H), A.dtype)
        carry = d_state[0].copy()
        _workers.run_shares(_backward_loop_packed,
                            _workers.packed_columns(W_hh, _workers.count(B, H, 4)),
                            (d_out, carry, dh_mm, dc), (CS, A, TC, DG, rows_padded, reverse))
        dh = dh_mm + carry
    elif loop == "small":
        dh = d_state[0].copy()
        _backward_loop_small(d_out, dh, dc, W_hh, CS, A, TC, DG, rows_padded, reverse)
    else:
        dh = _backward_loop_blas(d_out, d_state[0], dc, W_hh, CS, A, TC, DG, rows_padded, reverse)
    H_prev = HS[1:] if reverse else HS[:T]                       # (T, B, H)
    dW_hh = matmul(DG.reshape(T * B, G).T, H_prev.reshape(T * B, H))  # (4H, H)
    return DG, (dh, dc), dW_hh


@njit
def _backward_loop_packed(d_out, carry, dh_mm, dc, P, CS, A, TC, DG, padded, reverse, j0, j1,
                          done, worker):
    """One worker's float32 backward loop in one compiled call, for hidden units j0..j1-1
    (``_workers.run_shares``): per step their gate gradients, the barrier (every worker's
    part of DG[t] is written),
    then their part of the packed product dh_mm[:, j0:j1] = DG[t] @ W_hh[:, j0:j1] (P)."""
    T = A.shape[0]
    for step in range(T):
        t, _, prev = step_rows(T - 1 - step, T, reverse)
        _gates_backward(dh_mm, carry, d_out[t], dc, A[t], TC[t], CS[prev], DG[t], padded[t],
                        j0, j1)
        _workers.arrive_and_wait(done, worker, step)
        _gemm.matmul(DG[t], P, dh_mm[:, j0:j1])


def _backward_loop_blas(d_out, dh_T, dc, W_hh, CS, A, TC, DG, padded, reverse):
    """The backward loop with one BLAS call per step; updates dc, returns dh0."""
    T = A.shape[0]
    carry = dh_T.copy()                                          # dh not yet through W_hh
    dh_mm = np.zeros_like(carry)                                 # DG[t+1] @ W_hh
    for t, new, prev in reversed(steps(T, reverse)):
        _gates_backward(dh_mm, carry, d_out[t], dc, A[t], TC[t], CS[prev], DG[t], padded[t],
                        0, dh_mm.shape[1])
        np.matmul(DG[t], W_hh, out=dh_mm)                        # (B, H)
    return dh_mm + carry
