"""Backpropagation through time for the textbook cells, step by step (``rnnkit.textbook.bptt``).

The training half the exercise leaves out, written the way the course explains BPTT: run
the sequence forward keeping every step's values, then walk back from the last step,
carrying ``dh_next`` (and ``dc_next`` for the LSTM) into the step before. Notation and
layout as ``rnnkit/textbook.py``: ``X (t, m, i)``, states ``(m, h)``, ``[h, x] @ W``.

Output layer and loss, shared by the three cells (``Y_true`` one-hot, ``H_s`` the state
after step ``s``); it does not depend on the recurrence, so it is done for all steps at once::

    Y      = softmax(H @ Wy + by)                      # (t, m, o)
    loss   = -sum(Y_true * log Y) / m
    dlogit = (Y - Y_true) / m                          # (t, m, o)
    dWy    = sum_s H_s^T @ dlogit_s;   dby = sum dlogit
    dH     = dlogit @ Wy^T                             # (t, m, h) the loss's share of dh

RNN, for s = t-1 .. 0 (``h_x = [h_prev, x_s]``)::

    dh      = dH_s + dh_next
    da      = dh * (1 - h_s^2)                         # tanh' = 1 - tanh^2
    dWh    += h_x^T @ da;   dbh += sum da
    dh_next = (da @ Wh^T)[:, :h]                       # the h_prev part of [h_prev, x_s]

GRU (``rh_x = [r * h_prev, x_s]``)::

    dh      = dH_s + dh_next
    dh_cand = dh * z;   dz = dh * (h_cand - h_prev);   dh_prev = dh * (1 - z)
    da_h    = dh_cand * (1 - h_cand^2)
    dWh    += rh_x^T @ da_h;   dbh += sum da_h
    drh     = (da_h @ Wh^T)[:, :h]                     # gradient of r * h_prev
    dr      = drh * h_prev;    dh_prev += drh * r
    da_z    = dz * z (1 - z);  da_r = dr * r (1 - r)
    dWz    += h_x^T @ da_z;    dWr += h_x^T @ da_r;   dbz, dbr likewise
    dh_next = dh_prev + (da_z @ Wz^T + da_r @ Wr^T)[:, :h]

LSTM (``c_0 = 0``)::

    dh      = dH_s + dh_next
    do      = dh * tanh(c_s)
    dc      = dc_next + dh * o * (1 - tanh(c_s)^2)
    df      = dc * c_prev;   du = dc * c_cand;   dc_cand = dc * u
    dc_next = dc * f
    da_f, da_u, da_c, da_o = df f(1-f), du u(1-u), dc_cand (1-c_cand^2), do o(1-o)
    dW_g   += h_x^T @ da_g;  db_g += sum da_g           # for g in f, u, c, o
    dh_next = (sum_g da_g @ W_g^T)[:, :h]

Checked against finite differences in ``tests/test_textbook.py``.
"""

from __future__ import annotations

import numpy as np

from rnnkit.cells.gru import sigmoid
from rnnkit.errors import InputError
from rnnkit.functional import log_softmax
from rnnkit.textbook import (
    GRUCell,
    LSTMCell,
    RNNCell,
    _check_array,
    _check_cell,
    _check_sequence,
    _hidden,
)


def bptt(cell, X, h_0, Y_true):
    """See :func:`rnnkit.textbook.bptt`: ``(loss, grads)`` for an RNN, GRU or LSTM cell."""
    _check_cell(cell, "cell", (RNNCell, GRUCell, LSTMCell))
    X = _check_sequence(cell, X)
    t, m, _ = X.shape
    h_0 = _check_array(h_0, "h_0", (m, _hidden(cell)))
    Y_true = _check_one_hot(Y_true, (t, m, cell.Wy.shape[1]))
    if isinstance(cell, RNNCell):
        return rnn_bptt(cell, X, h_0, Y_true)
    if isinstance(cell, GRUCell):
        return gru_bptt(cell, X, h_0, Y_true)
    return lstm_bptt(cell, X, h_0, Y_true)


def rnn_bptt(cell, X, h_0, Y_true):
    t, m, _ = X.shape
    h = h_0.shape[1]
    H = np.zeros((t + 1, m, h))                                    # H[0] = h_0
    H[0] = h_0
    h_xs = []
    for s in range(t):
        h_xs.append(np.concatenate([H[s], X[s]], axis=1))          # (m, h + i)
        H[s + 1] = np.tanh(h_xs[s] @ cell.Wh + cell.bh)

    grads = _zeros(cell, ("Wh", "Wy", "bh", "by"))
    loss, dH = _output_layer(cell, H[1:], Y_true, grads)
    dh_next = np.zeros((m, h))
    for s in reversed(range(t)):
        dh = dH[s] + dh_next
        da = dh * (1 - H[s + 1] ** 2)                              # (m, h)
        grads["Wh"] += h_xs[s].T @ da
        grads["bh"] += da.sum(axis=0, keepdims=True)
        dh_next = (da @ cell.Wh.T)[:, :h]
    return loss, grads


def gru_bptt(cell, X, h_0, Y_true):
    t, m, _ = X.shape
    h = h_0.shape[1]
    H = np.zeros((t + 1, m, h))
    H[0] = h_0
    steps = []                                                     # what each step's backward needs
    for s in range(t):
        h_prev = H[s]
        h_x = np.concatenate([h_prev, X[s]], axis=1)               # (m, h + i)
        z = sigmoid(h_x @ cell.Wz + cell.bz)
        r = sigmoid(h_x @ cell.Wr + cell.br)
        rh_x = np.concatenate([r * h_prev, X[s]], axis=1)          # (m, h + i)
        h_cand = np.tanh(rh_x @ cell.Wh + cell.bh)
        H[s + 1] = (1 - z) * h_prev + z * h_cand
        steps.append((h_x, rh_x, z, r, h_cand))

    grads = _zeros(cell, ("Wz", "Wr", "Wh", "Wy", "bz", "br", "bh", "by"))
    loss, dH = _output_layer(cell, H[1:], Y_true, grads)
    dh_next = np.zeros((m, h))
    for s in reversed(range(t)):
        h_prev = H[s]
        h_x, rh_x, z, r, h_cand = steps[s]
        dh = dH[s] + dh_next
        dh_cand = dh * z
        dz = dh * (h_cand - h_prev)
        dh_prev = dh * (1 - z)
        da_h = dh_cand * (1 - h_cand ** 2)                         # (m, h)
        grads["Wh"] += rh_x.T @ da_h
        grads["bh"] += da_h.sum(axis=0, keepdims=True)
        drh = (da_h @ cell.Wh.T)[:, :h]                            # d(r * h_prev)
        dr = drh * h_prev
        dh_prev += drh * r
        da_z = dz * z * (1 - z)
        da_r = dr * r * (1 - r)
        grads["Wz"] += h_x.T @ da_z
        grads["Wr"] += h_x.T @ da_r
        grads["bz"] += da_z.sum(axis=0, keepdims=True)
        grads["br"] += da_r.sum(axis=0, keepdims=True)
        dh_next = dh_prev + (da_z @ cell.Wz.T + da_r @ cell.Wr.T)[:, :h]
    return loss, grads


def lstm_bptt(cell, X, h_0, Y_true):
    t, m, _ = X.shape
    h = h_0.shape[1]
    H = np.zeros((t + 1, m, h))
    C = np.zeros((t + 1, m, h))                                    # C[0] = c_0 = 0
    H[0] = h_0
    steps = []
    for s in range(t):
        h_x = np.concatenate([H[s], X[s]], axis=1)                 # (m, h + i)
        f = sigmoid(h_x @ cell.Wf + cell.bf)
        u = sigmoid(h_x @ cell.Wu + cell.bu)
        c_cand = np.tanh(h_x @ cell.Wc + cell.bc)
        C[s + 1] = f * C[s] + u * c_cand
        o = sigmoid(h_x @ cell.Wo + cell.bo)
        H[s + 1] = o * np.tanh(C[s + 1])
        steps.append((h_x, f, u, c_cand, o))

    grads = _zeros(cell, ("Wf", "Wu", "Wc", "Wo", "Wy", "bf", "bu", "bc", "bo", "by"))
    loss, dH = _output_layer(cell, H[1:], Y_true, grads)
    dh_next = np.zeros((m, h))
    dc_next = np.zeros((m, h))
    for s in reversed(range(t)):
        h_x, f, u, c_cand, o = steps[s]
        tanh_c = np.tanh(C[s + 1])
        dh = dH[s] + dh_next
        do = dh * tanh_c
        dc = dc_next + dh * o * (1 - tanh_c ** 2)
        df = dc * C[s]
        du = dc * c_cand
        dc_cand = dc * u
        dc_next = dc * f
        gate_grads = {"f": df * f * (1 - f), "u": du * u * (1 - u),
                      "c": dc_cand * (1 - c_cand ** 2), "o": do * o * (1 - o)}   # each (m, h)
        dh_x = np.zeros_like(h_x)                                  # (m, h + i)
        for gate, da in gate_grads.items():
            grads["W" + gate] += h_x.T @ da
            grads["b" + gate] += da.sum(axis=0, keepdims=True)
            dh_x += da @ getattr(cell, "W" + gate).T
        dh_next = dh_x[:, :h]
    return loss, grads


def _output_layer(cell, H, Y_true, grads):
    """Softmax output and cross-entropy over all steps at once: the loss, ``dWy``, ``dby``
    (written into ``grads``) and ``dH (t, m, h)``, the loss's gradient w.r.t. each state."""
    t, m, h = H.shape
    logits = H @ cell.Wy + cell.by                                 # (t, m, o)
    log_Y = log_softmax(logits)                                    # log Y without overflow
    loss = float(-(Y_true * log_Y).sum() / m)
    d_logits = (np.exp(log_Y) - Y_true) / m                        # (t, m, o)
    grads["Wy"] += H.reshape(t * m, h).T @ d_logits.reshape(t * m, -1)
    grads["by"] += d_logits.sum(axis=(0, 1))[None, :]
    return loss, d_logits @ cell.Wy.T                              # (t, m, h)


def _zeros(cell, names) -> dict:
    return {name: np.zeros_like(getattr(cell, name)) for name in names}


def _check_one_hot(Y_true, shape) -> np.ndarray:
    t, m, o = shape
    Y_true = _check_array(Y_true, "Y_true", shape, f"(t={t}, m={m}, o={o})")
    if not (np.isin(Y_true, (0.0, 1.0)).all() and (Y_true.sum(axis=-1) == 1).all()):
        raise InputError("Y_true must be one-hot over its last axis "
                         "(a single 1 per row, zeros elsewhere)")
    return Y_true
