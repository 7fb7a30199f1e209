"""Sequence layers: a cell's kernel unrolled over time, stacked and optionally bidirectional.

Layout: **time-major** ``(T, B, D)`` everywhere inside (``batch_first=True`` only
transposes at the boundary). Parameters are the ones the kernel declares, suffixed as in
``torch.nn.RNN/GRU/LSTM``: ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``,
``bias_hh_l{k}`` and the same with ``_reverse`` for the backward direction; layer
``k > 0`` takes the concatenated outputs of both directions of layer ``k - 1``, so its
``weight_ih`` is ``(G, H * dirs)``. The kernel protocol: ``rnnkit/cells/kernel.py``.

Forward over one direction (the cells' equations are in ``rnnkit/cells``)::

    GI = X @ W_ih^T + b_ih                      # (T, B, G) one GEMM for all steps
    for t in 0..T-1 (T-1..0 for the reverse direction):
        s_t = cell(GI[t], s_{t-1})               # s = (h,) or (h, c)
        where t >= length_b:  s_t = s_{t-1},  out_t = 0   # padding: state frozen / not started

Backward (BPTT) runs the steps in the opposite order; the kernel returns ``DGI`` and
the recurrent parameters' gradients (the fast path hoists ``dW_hh = DGH^T @ H_prev``
out of the loop), and the input side is again one GEMM over all ``T * B`` rows::

    dW_ih += DGI^T @ X,   dX = DGI @ W_ih

With variable lengths, padded steps pass the state (and its gradient) through
unchanged and contribute nothing, which is exactly what ``pack_padded_sequence``
computes: the forward direction ends at each sequence's last valid step, the reverse
direction starts there from ``h0``.
"""

from __future__ import annotations

import contextlib

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
from rnnkit.cells.gru import GRUKernel
from rnnkit.cells.kernel import accumulate_grads, create_parameters
from rnnkit.cells.lstm import LSTMKernel
from rnnkit.cells.rnn import RNNKernel
from rnnkit.errors import InputError, InputTypeError
from rnnkit.kernels._products import blas_steps, hold_blas
from rnnkit.module import Module, is_grad_enabled


def padding_mask(lengths, T: int):
    """(T, B) bool, True at the steps past each sequence's end; None when nothing is padded.
    The one form the padding takes below the layer boundary."""
    if lengths is None or lengths.min() == T:
        return None
    return np.arange(T)[:, None] >= lengths[None, :]


class RecurrentLayer(Module):
    """A sequence layer around any :class:`rnnkit.cells.kernel.RecurrentKernel`.

    The kernel declares its parameters; the layer creates them for every layer and
    direction (named ``{name}_l{k}`` and ``{name}_l{k}_reverse``, as in ``torch.nn``),
    runs the input projection once per layer and direction, the time loop per
    direction, and adds the gradients the kernel returns to each ``Parameter.grad``.

    ``fast_path`` (default True) runs each direction with the kernel's compiled
    ``fast_forward_sequence / fast_backward_sequence`` (``rnnkit/kernels``) when it
    has them; False runs the readable reference loop over ``step_forward /
    step_backward``. Both compute the same equations and are tested against each other.
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
        H = self.hidden_size
        self._parameter_names = []                  # per (layer, direction): {kernel name: attribute}
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else H * self.num_directions
            for direction in range(self.num_directions):
                specs = kernel.parameters(layer_input, H, self.bias)
                self._parameter_names.append(create_parameters(
                    self, specs, rng, H, self.dtype, self._suffix(layer, direction)))
        # Dropout between layers draws from its own generator, seeded from the same seed.
        self.dropout_rng = np.random.default_rng(rng.integers(2**63))
        self._cache = None

    @property
    def num_states(self) -> int:
        """How many arrays a state has: 1 (``h``) or 2 (``(h, c)``) for LSTMs."""
        return self.kernel.num_states

    @property
    def state_names(self) -> tuple:
        return self.kernel.state_names

    @staticmethod
    def _suffix(layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction else "")

    def _parameters(self, layer, direction) -> dict:
        """The kernel's parameters of one layer and direction: ``{kernel name: Parameter}``."""
        names = self._parameter_names[layer * self.num_directions + direction]
        return {name: getattr(self, attr) for name, attr in names.items()}

    # -- input checks ----------------------------------------------------------
    def _check_input(self, x):
        D = self.input_size
        doc = f"(B, T, input_size={D})" if self.batch_first else f"(T, B, input_size={D})"
        check_float_array(x, "x", (None, None, D), self.dtype, doc)
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise InputError(f"x must have shape {doc} with T >= 1 and B >= 1, got {x.shape}")
        return np.ascontiguousarray(x.transpose(1, 0, 2)) if self.batch_first else x

    def _state_parts(self, value, batch, pattern, parts_may_be_none):
        """A user's state, or state gradient, -> list over (layer, direction) of tuples.
        ``pattern`` names each part from its state name ("{}0": h0, c0; "d_{}_n": d_h_n, d_c_n);
        None, or a None part where ``parts_may_be_none``, is zeros."""
        H, LD = self.hidden_size, self.num_layers * self.num_directions
        names = [pattern.format(s) for s in self.state_names]
        doc = f"(num_layers * num_directions={LD}, B={batch}, hidden_size={H})"
        if value is None:
            parts = [None] * len(names)
        elif len(names) == 1:
            parts = [value]
        elif isinstance(value, tuple) and len(value) == len(names):
            parts = list(value)
        else:
            raise InputTypeError(f"{names[0]} must be a tuple ({', '.join(names)}) of arrays of shape {doc}")
        full = []
        for name, part in zip(names, parts):
            if part is None and (value is None or parts_may_be_none):
                full.append(np.zeros((LD, batch, H), self.dtype))
            else:
                full.append(check_float_array(part, name, (LD, batch, H), self.dtype, doc))
        return [tuple(p[i] for p in full) for i in range(LD)]

    def _check_state(self, hx, batch):
        return self._state_parts(hx, batch, "{}0", parts_may_be_none=False)

    def _check_final_grad(self, d_h_n, batch):
        return self._state_parts(d_h_n, batch, "d_{}_n", parts_may_be_none=True)

    def _pack_state(self, states):
        """List of state tuples over (layer, direction) -> h_n or (h_n, c_n)."""
        stacked = tuple(np.stack([s[k] for s in states]) for k in range(self.num_states))
        return stacked[0] if self.num_states == 1 else stacked

    def _uses_fast_path(self) -> bool:
        return self.fast_path and self.kernel.has_fast_path and kernels.available()

    def _blas_policy(self, fast, T, B):
        """Who uses the cores during one call (``rnnkit/kernels/_products.py``): where the
        loops are compiled (split between rnnkit's workers, or on one core), rnnkit, with
        BLAS held to one thread; where they call BLAS every step, BLAS's own threads."""
        kind = self.kernel.fast_loop_kind(T, B, self.hidden_size, self.dtype) if fast else "blas"
        if kind == "blas":
            return blas_steps()
        hold_blas()
        return contextlib.nullcontext()

    # -- forward / backward -----------------------------------------------------
    def forward(self, x, h0=None, lengths=None):
        """Run the whole sequence.

        x: (T, B, input_size), or (B, T, input_size) if batch_first.
        h0: (num_layers * num_directions, B, hidden_size), a tuple (h0, c0) for LSTMs; zeros if None.
        lengths: (B,) ints in [1, T], or None when every sequence has length T.

        Returns ``out`` (T, B, num_directions * hidden_size) (batch-first if
        ``batch_first``), zero past each sequence's length, and ``h_n`` shaped like h0.
        """
        x = self._check_input(x)
        T, B = x.shape[:2]
        init_states = self._check_state(h0, B)
        padded = None if lengths is None else padding_mask(check_lengths(lengths, B, T), T)
        fast = self._uses_fast_path()
        with self._blas_policy(fast, T, B):
            return self._forward(x, init_states, padded, fast)

    def _forward(self, x, init_states, padded, fast):
        keep_caches = is_grad_enabled()
        run = self.kernel.fast_forward_sequence if fast else self.kernel.forward_sequence
        layer_input, final_states, layer_caches = x, [], []
        for layer in range(self.num_layers):
            drop_mask = None
            if layer > 0 and self.dropout > 0 and self.training:
                keep_prob = 1.0 - self.dropout
                drop_mask = (self.dropout_rng.random(layer_input.shape) < keep_prob) / np.asarray(
                    keep_prob, self.dtype)
                drop_mask = drop_mask.astype(self.dtype)
                layer_input = layer_input * drop_mask
            T, B, D_in = layer_input.shape
            X = layer_input.reshape(T * B, D_in)
            outs, direction_caches = [], []
            for direction in range(self.num_directions):
                params = {name: p.data for name, p in self._parameters(layer, direction).items()}
                GI, input_cache = self.kernel.project_input(X, params)       # (T*B, G)
                out, final, cache = run(GI.reshape(T, B, -1),
                                        init_states[layer * self.num_directions + direction],
                                        params, direction == 1, padded, keep_caches)
                outs.append(out)
                final_states.append(final)
                direction_caches.append((input_cache, cache))
            layer_out = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=2)
            layer_caches.append((D_in, drop_mask, direction_caches))
            layer_input = layer_out

        self._cache = (layer_caches, padded, T, B, fast) if keep_caches else None
        out = layer_input.transpose(1, 0, 2) if self.batch_first else layer_input
        return out, self._pack_state(final_states)

    def backward(self, d_out, d_h_n=None):
        """BPTT through the last forward; accumulates parameter gradients.

        d_out: gradient w.r.t. ``out`` (same shape). d_h_n: gradient w.r.t. ``h_n``
        (a tuple for LSTMs; either part may be None), or None.
        Returns ``(dx, dh0)`` shaped like ``x`` and ``h0``.
        """
        require_forward(self._cache, type(self).__name__)
        _, _, T, B, fast = self._cache
        H, dirs = self.hidden_size, self.num_directions
        out_doc = (f"(B={B}, T={T}, {dirs * H})" if self.batch_first else f"(T={T}, B={B}, {dirs * H})")
        out_shape = (B, T, dirs * H) if self.batch_first else (T, B, dirs * H)
        check_float_array(d_out, "d_out", out_shape, self.dtype, out_doc)
        d_final = self._check_final_grad(d_h_n, B)
        d_layer_out = np.ascontiguousarray(d_out.transpose(1, 0, 2)) if self.batch_first else d_out
        with self._blas_policy(fast, T, B):
            return self._backward(d_layer_out, d_final)

    def _backward(self, d_layer_out, d_final):
        layer_caches, padded, T, B, fast = self._cache
        H, dirs, LD = self.hidden_size, self.num_directions, self.num_layers * self.num_directions
        run = self.kernel.fast_backward_sequence if fast else self.kernel.backward_sequence

        d_init = [None] * LD
        for layer in range(self.num_layers - 1, -1, -1):
            D_in, drop_mask, direction_caches = layer_caches[layer]
            d_input = None
            for direction in range(dirs):
                idx = layer * dirs + direction
                parameters = self._parameters(layer, direction)
                params = {name: p.data for name, p in parameters.items()}
                input_cache, cache = direction_caches[direction]
                d_out_dir = d_layer_out[:, :, direction * H:(direction + 1) * H]
                DGI, d_init[idx], grads = run(d_out_dir, d_final[idx], cache, params,
                                              direction == 1, padded)
                shared = {"bias_grad": grads["bias_hh"]} if (
                    self.kernel.shared_gate_grads and "bias_hh" in grads) else {}
                d_X, input_grads = self.kernel.project_input_backward(
                    DGI.reshape(T * B, -1), input_cache, params, **shared)   # (T*B, D_in)
                accumulate_grads(parameters, grads, input_grads)
                d_dir = d_X.reshape(T, B, D_in)
                d_input = d_dir if d_input is None else d_input + d_dir
            if drop_mask is not None:
                d_input *= drop_mask
            d_layer_out = d_input

        self._cache = None  # like torch: the graph is freed by backward
        dx = d_layer_out.transpose(1, 0, 2) if self.batch_first else d_layer_out
        return dx, self._pack_state(d_init)

    def __repr__(self):
        # As torch.nn.RNN/GRU/LSTM: constructor order, arguments at their default omitted.
        nonlinearity = getattr(self, "nonlinearity", "tanh")      # RNN only
        reset_after = getattr(self, "reset_after", True)          # GRU only
        options = [(f"num_layers={self.num_layers}", self.num_layers != 1),
                   (f"nonlinearity={nonlinearity!r}", nonlinearity != "tanh"),
                   (f"bias={self.bias}", not self.bias),
                   (f"batch_first={self.batch_first}", self.batch_first),
                   (f"dropout={self.dropout}", self.dropout != 0),
                   (f"bidirectional={self.bidirectional}", self.bidirectional),
                   (f"reset_after={reset_after}", not reset_after),
                   (f"dtype=numpy.{self.dtype.name}", self.dtype != np.float32)]
        shown = "".join(f", {text}" for text, differs in options if differs)
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}{shown})"


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
