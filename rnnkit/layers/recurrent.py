"""Sequence layers: a cell unrolled over time, stacked and optionally bidirectional.

Layout: **time-major** ``(T, B, D)`` everywhere inside (``batch_first=True`` only
transposes at the boundary). Parameters are named as in ``torch.nn.RNN/GRU/LSTM``:
``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` and the same
with ``_reverse`` for the backward direction; layer ``k > 0`` takes the concatenated
outputs of both directions of layer ``k - 1``, so its ``weight_ih`` is ``(G, H * dirs)``.

Forward over one direction (the cell's equations are in ``rnnkit/cells``)::

    GI = X @ W_ih^T + b_ih                      # (T, B, G) one GEMM for all steps
    for t in 0..T-1 (T-1..0 for the reverse direction):
        s_t = cell(GI[t], s_{t-1})               # s = (h,) or (h, c)
        where t >= length_b:  s_t = s_{t-1},  out_t = 0   # padding: state frozen / not started

Backward (BPTT) runs the steps in the opposite order, then hoists the weight
gradients out of the loop::

    dW_ih += DGI^T @ X,   dW_hh += DGH^T @ H_prev,   dX = DGI @ W_ih   # (T*B)-row GEMMs

With variable lengths the masking makes padded steps pass the state (and its
gradient) through unchanged and contribute nothing, which is exactly what
``pack_padded_sequence`` computes: the forward direction ends at each sequence's
last valid step, the reverse direction starts there from ``h0``.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from rnnkit._validation import (
    check_dtype,
    check_float_array,
    check_lengths,
    check_positive_int,
    check_probability,
    require_forward,
)
from rnnkit import kernels
from rnnkit.cells.base import uniform_init
from rnnkit.cells.gru import GRUKernel
from rnnkit.cells.lstm import LSTMKernel
from rnnkit.cells.rnn import RNNKernel
from rnnkit.module import Module, is_grad_enabled


def run_direction(kernel, GI, state, W_hh, b_hh, reverse, mask, keep=True):
    """Unroll one direction with the reference step functions. GI (T, B, G);
    mask (T, B, 1) bool or None; ``keep`` is ignored (the caches are the step caches).

    Returns out (T, B, H), the final state tuple, and the per-step caches in time order.
    """
    T, B = GI.shape[:2]
    H = state[0].shape[1]
    out = np.empty((T, B, H), dtype=GI.dtype)
    caches = [None] * T
    for t in range(T - 1, -1, -1) if reverse else range(T):
        new_state, caches[t] = kernel.step_forward(GI[t], state, W_hh, b_hh)
        if mask is None:
            out[t] = new_state[0]
        else:
            m = mask[t]                                            # (B, 1)
            new_state = tuple(np.where(m, s_new, s) for s_new, s in zip(new_state, state))
            out[t] = np.where(m, new_state[0], 0)
        state = new_state
    return out, state, caches


def backprop_direction(kernel, d_out, d_state, caches, W_hh, reverse, mask):
    """BPTT through one direction. d_out (T, B, H); d_state: gradient of the final state.

    Returns DGI, DGH (T, B, G) and the gradient of the initial state.
    """
    T = d_out.shape[0]
    DGI = DGH = None
    for t in range(T) if reverse else range(T - 1, -1, -1):
        if mask is None:
            d_new = (d_state[0] + d_out[t],) + d_state[1:]
            dgi, dgh, d_state = kernel.step_backward(d_new, caches[t], W_hh)
        else:
            m = mask[t]
            d_total = (d_state[0] + np.where(m, d_out[t], 0),) + d_state[1:]
            d_new = tuple(np.where(m, d, 0) for d in d_total)
            dgi, dgh, d_prev = kernel.step_backward(d_new, caches[t], W_hh)
            # padded step: the state was passed through, and so is its gradient
            d_state = tuple(p + np.where(m, 0, d) for p, d in zip(d_prev, d_total))
        if DGI is None:
            DGI = np.empty((T,) + dgi.shape, dgi.dtype)
            DGH = DGI if dgh is dgi else np.empty_like(DGI)
        DGI[t] = dgi
        if DGH is not DGI:
            DGH[t] = dgh
    return DGI, DGH, d_state


class RecurrentLayer(Module):
    """Shared machinery of :class:`RNN`, :class:`GRU` and :class:`LSTM`.

    ``fast_path`` (default True) runs each direction with the kernel's compiled
    ``forward_sequence / backward_sequence`` (``rnnkit/kernels``); False runs the
    readable reference loop above over ``step_forward / step_backward``. Both compute
    the same equations and are tested against each other.
    """

    fast_path = True

    def __init__(self, kernel, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False,
                 dtype=np.float32, seed=None):
        self.kernel = kernel
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.num_layers = check_positive_int(num_layers, "num_layers")
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = check_probability(dropout, "dropout")
        self.bidirectional = bool(bidirectional)
        self.num_directions = 2 if self.bidirectional else 1
        self.dtype = check_dtype(dtype)
        rng = np.random.default_rng(seed)
        G = kernel.num_gates * self.hidden_size
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else self.hidden_size * self.num_directions
            for direction in range(self.num_directions):
                sfx = self._suffix(layer, direction)
                H = self.hidden_size
                setattr(self, "weight_ih" + sfx, uniform_init(rng, (G, layer_input), H, self.dtype))
                setattr(self, "weight_hh" + sfx, uniform_init(rng, (G, H), H, self.dtype))
                if self.bias:
                    setattr(self, "bias_ih" + sfx, uniform_init(rng, (G,), H, self.dtype))
                    setattr(self, "bias_hh" + sfx, uniform_init(rng, (G,), H, self.dtype))
        # Dropout between layers draws from its own generator, seeded from the same seed.
        self.dropout_rng = np.random.default_rng(rng.integers(2**63))
        self._cache = None

    @staticmethod
    def _suffix(layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction else "")

    def _weights(self, layer, direction):
        sfx = self._suffix(layer, direction)
        W_ih = getattr(self, "weight_ih" + sfx)
        W_hh = getattr(self, "weight_hh" + sfx)
        b_ih = getattr(self, "bias_ih" + sfx, None)
        b_hh = getattr(self, "bias_hh" + sfx, None)
        return W_ih, W_hh, b_ih, b_hh

    # -- input checks ----------------------------------------------------------
    def _check_input(self, x):
        D = self.input_size
        doc = f"(B, T, input_size={D})" if self.batch_first else f"(T, B, input_size={D})"
        check_float_array(x, "x", (None, None, D), self.dtype, doc)
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"x must have shape {doc} with T >= 1 and B >= 1, got {x.shape}")
        return np.ascontiguousarray(x.transpose(1, 0, 2)) if self.batch_first else x

    def _check_state(self, hx, batch):
        """Returns a list over (layer, direction) of state tuples."""
        H, LD = self.hidden_size, self.num_layers * self.num_directions
        names = ("h0", "c0")[: self.kernel.num_states]
        if hx is None:
            parts = [np.zeros((LD, batch, H), self.dtype) for _ in names]
        else:
            if self.kernel.num_states == 1:
                parts = [hx]
            elif isinstance(hx, tuple) and len(hx) == 2:
                parts = list(hx)
            else:
                raise TypeError(
                    f"h0 must be a tuple (h0, c0) of arrays of shape "
                    f"(num_layers * num_directions={LD}, B={batch}, hidden_size={H})"
                )
            for name, part in zip(names, parts):
                check_float_array(part, name, (LD, batch, H), self.dtype,
                                  f"(num_layers * num_directions={LD}, B={batch}, hidden_size={H})")
        return [tuple(p[i] for p in parts) for i in range(LD)]

    def _pack_state(self, states):
        """List of state tuples over (layer, direction) -> h_n or (h_n, c_n)."""
        stacked = tuple(np.stack([s[k] for s in states]) for k in range(self.kernel.num_states))
        return stacked[0] if self.kernel.num_states == 1 else stacked

    # -- forward / backward -----------------------------------------------------
    def forward(self, x, h0=None, lengths=None):
        """Run the whole sequence.

        x: (T, B, input_size), or (B, T, input_size) if batch_first.
        h0: (num_layers * num_directions, B, hidden_size), a tuple (h0, c0) for LSTM; zeros if None.
        lengths: (B,) ints in [1, T], or None when every sequence has length T.

        Returns ``out`` (T, B, num_directions * hidden_size) (batch-first if
        ``batch_first``), zero past each sequence's length, and ``h_n`` shaped like h0.
        """
        x = self._check_input(x)
        T, B = x.shape[:2]
        init_states = self._check_state(h0, B)
        mask = None
        if lengths is not None:
            lengths = check_lengths(lengths, B, T)
            if lengths.min() < T:
                mask = (np.arange(T)[:, None] < lengths[None, :])[:, :, None]   # (T, B, 1)

        keep = is_grad_enabled()
        fast = self.fast_path and getattr(self.kernel, "has_fast_path", False) and kernels.available()
        layer_input, final_states, layer_caches = x, [], []
        for layer in range(self.num_layers):
            drop_mask = None
            if layer > 0 and self.dropout > 0 and self.training:
                keep = 1.0 - self.dropout
                drop_mask = (self.dropout_rng.random(layer_input.shape) < keep) / np.asarray(keep, self.dtype)
                drop_mask = drop_mask.astype(self.dtype)
                layer_input = layer_input * drop_mask
            T, B, D_in = layer_input.shape
            outs, step_caches = [], []
            for direction in range(self.num_directions):
                W_ih, W_hh, b_ih, b_hh = self._weights(layer, direction)
                GI = (layer_input.reshape(T * B, D_in) @ W_ih.data.T).reshape(T, B, -1)  # (T, B, G)
                if b_ih is not None:
                    GI += b_ih.data
                run = self.kernel.forward_sequence if fast else partial(run_direction, self.kernel)
                out, final, caches = run(
                    GI, init_states[layer * self.num_directions + direction], W_hh.data,
                    None if b_hh is None else b_hh.data, direction == 1, mask, keep)
                outs.append(out)
                final_states.append(final)
                step_caches.append(caches)
            layer_out = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=2)
            layer_caches.append((layer_input, drop_mask, step_caches))
            layer_input = layer_out

        self._cache = (layer_caches, mask, B, fast) if keep else None
        out = layer_input.transpose(1, 0, 2) if self.batch_first else layer_input
        return out, self._pack_state(final_states)

    def backward(self, d_out, d_h_n=None):
        """BPTT through the last forward; accumulates parameter gradients.

        d_out: gradient w.r.t. ``out`` (same shape). d_h_n: gradient w.r.t. ``h_n``
        (a tuple for LSTM; either part may be None), or None.
        Returns ``(dx, dh0)`` shaped like ``x`` and ``h0``.
        """
        require_forward(self._cache, type(self).__name__)
        layer_caches, mask, B, fast = self._cache
        T = layer_caches[0][0].shape[0]
        H, dirs, LD = self.hidden_size, self.num_directions, self.num_layers * self.num_directions
        out_doc = (f"(B={B}, T={T}, {dirs * H})" if self.batch_first else f"(T={T}, B={B}, {dirs * H})")
        out_shape = (B, T, dirs * H) if self.batch_first else (T, B, dirs * H)
        check_float_array(d_out, "d_out", out_shape, self.dtype, out_doc)
        d_final = self._check_final_grad(d_h_n, B)
        d_layer_out = np.ascontiguousarray(d_out.transpose(1, 0, 2)) if self.batch_first else d_out

        d_init = [None] * LD
        for layer in range(self.num_layers - 1, -1, -1):
            layer_input, drop_mask, step_caches = layer_caches[layer]
            D_in = layer_input.shape[2]
            X = layer_input.reshape(T * B, D_in)
            d_input = None
            for direction in range(dirs):
                idx = layer * dirs + direction
                W_ih, W_hh, b_ih, b_hh = self._weights(layer, direction)
                caches = step_caches[direction]
                d_out_dir = d_layer_out[:, :, direction * H:(direction + 1) * H]
                if fast:
                    DGI, DGH, d_init[idx], dW_hh = self.kernel.backward_sequence(
                        d_out_dir, d_final[idx], caches, W_hh.data, direction == 1, mask)
                else:
                    DGI, DGH, d_init[idx] = backprop_direction(
                        self.kernel, d_out_dir, d_final[idx], caches, W_hh.data,
                        direction == 1, mask)
                    dW_hh = self.kernel.weight_hh_grad(DGH, caches)
                G = DGI.shape[2]
                dgi = DGI.reshape(T * B, G)
                W_ih.grad += dgi.T @ X                                  # (G, D_in)
                W_hh.grad += dW_hh                                      # (G, H)
                if b_ih is not None:
                    db_ih = dgi.sum(0)
                    b_ih.grad += db_ih
                    b_hh.grad += db_ih if DGH is DGI else DGH.reshape(T * B, G).sum(0)
                d_dir = (dgi @ W_ih.data).reshape(T, B, D_in)
                d_input = d_dir if d_input is None else d_input + d_dir
            if drop_mask is not None:
                d_input *= drop_mask
            d_layer_out = d_input

        self._cache = None  # like torch: the graph is freed by backward
        dx = d_layer_out.transpose(1, 0, 2) if self.batch_first else d_layer_out
        return dx, self._pack_state(d_init)

    def _check_final_grad(self, d_h_n, batch):
        H, LD = self.hidden_size, self.num_layers * self.num_directions
        doc = f"(num_layers * num_directions={LD}, B={batch}, hidden_size={H})"
        n = self.kernel.num_states
        if d_h_n is None:
            parts = [None] * n
        elif n == 1:
            parts = [d_h_n]
        elif isinstance(d_h_n, tuple) and len(d_h_n) == 2:
            parts = list(d_h_n)
        else:
            raise TypeError(f"d_h_n must be a tuple (d_h_n, d_c_n) of arrays of shape {doc}")
        names = ("d_h_n", "d_c_n")
        full = []
        for name, part in zip(names, parts):
            if part is None:
                full.append(np.zeros((LD, batch, H), self.dtype))
            else:
                full.append(check_float_array(part, name, (LD, batch, H), self.dtype, doc))
        return [tuple(p[i] for p in full) for i in range(LD)]

    def __repr__(self):
        return (f"{type(self).__name__}({self.input_size}, {self.hidden_size}, "
                f"num_layers={self.num_layers}, bidirectional={self.bidirectional}, "
                f"dtype={self.dtype.name})")


class RNN(RecurrentLayer):
    """Elman RNN over a sequence: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``.

    Constructor arguments are PyTorch's (``input_size, hidden_size, num_layers=1,
    nonlinearity='tanh', bias=True, batch_first=False, dropout=0.0,
    bidirectional=False``) plus ``dtype`` (default float32) and ``seed``.
    See :meth:`RecurrentLayer.forward` and :meth:`RecurrentLayer.backward`.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, dtype=np.float32, seed=None):
        self.nonlinearity = nonlinearity
        super().__init__(RNNKernel(nonlinearity), input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, dtype, seed)


class GRU(RecurrentLayer):
    """GRU over a sequence (gate order r, z, n; equations in ``rnnkit/cells/gru.py``).

    ``reset_after=True`` (default) is PyTorch's/cuDNN's form, ``False`` Cho et al. (2014).
    Other arguments as :class:`RNN`.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, reset_after=True, dtype=np.float32, seed=None):
        self.reset_after = bool(reset_after)
        super().__init__(GRUKernel(reset_after), input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, dtype, seed)


class LSTM(RecurrentLayer):
    """LSTM over a sequence (gate order i, f, g, o; equations in ``rnnkit/cells/lstm.py``).

    ``h0`` and ``h_n`` are tuples ``(h, c)``, each
    ``(num_layers * num_directions, B, hidden_size)``. Other arguments as :class:`RNN`.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=np.float32, seed=None):
        super().__init__(LSTMKernel(), input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, dtype, seed)
