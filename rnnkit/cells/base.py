"""What every cell shares: parameter creation and the single-step Module wrapper.

A *kernel* (``RNNKernel``, ``GRUKernel``, ``LSTMKernel``) holds a cell's pure
step functions; states are always tuples (``(h,)`` or ``(h, c)``)::

    step_forward(gi, state, W_hh, b_hh) -> (new_state, cache)
    step_backward(d_state, cache, W_hh) -> (dgi, dgh, d_state_prev)
    weight_hh_grad(dgh (T, B, G), caches) -> dW_hh (G, H)

``gi = x @ W_ih^T + b_ih`` is computed by the caller, so sequence layers can
hoist it out of the time loop as one GEMM; ``dgi`` and ``dgh`` are the
gradients with respect to the input and hidden projections (pre-activations).
"""

from __future__ import annotations

import numpy as np

from rnnkit._validation import (
    check_dtype,
    check_float_array,
    check_positive_int,
    require_forward,
)
from rnnkit.module import Module, Parameter, is_grad_enabled


def uniform_init(rng: np.random.Generator, shape, hidden_size: int, dtype) -> Parameter:
    """PyTorch's RNN initialisation: U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / np.sqrt(hidden_size)
    return Parameter(rng.uniform(-bound, bound, size=shape).astype(dtype))


class RecurrentCell(Module):
    """A single time step as a Module, sharing its kernel with the sequence layers."""

    def __init__(self, kernel, input_size, hidden_size, bias, dtype, seed):
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.bias = bool(bias)
        self.dtype = check_dtype(dtype)
        self.kernel = kernel
        rng = np.random.default_rng(seed)
        G = kernel.num_gates * hidden_size
        self.weight_ih = uniform_init(rng, (G, input_size), hidden_size, self.dtype)
        self.weight_hh = uniform_init(rng, (G, hidden_size), hidden_size, self.dtype)
        if self.bias:
            self.bias_ih = uniform_init(rng, (G,), hidden_size, self.dtype)
            self.bias_hh = uniform_init(rng, (G,), hidden_size, self.dtype)
        self._caches: list = []

    def _biases(self):
        if self.bias:
            return self.bias_ih.data, self.bias_hh.data
        return None, None

    def _check_state(self, state, batch: int) -> tuple:
        H = self.hidden_size
        names = ("h", "c")[: self.kernel.num_states]
        if state is None:
            return tuple(np.zeros((batch, H), self.dtype) for _ in names)
        if self.kernel.num_states == 1:
            state = (state,)
        elif not (isinstance(state, tuple) and len(state) == 2):
            raise TypeError("hx must be a tuple (h, c) of arrays of shape (B, hidden_size)")
        for name, s in zip(names, state):
            check_float_array(s, name, (batch, H), self.dtype, f"(B={batch}, hidden_size={H})")
        return tuple(state)

    def forward(self, x, hx=None):
        D, H = self.input_size, self.hidden_size
        check_float_array(x, "x", (None, D), self.dtype, f"(B, input_size={D})")
        state = self._check_state(hx, x.shape[0])
        b_ih, b_hh = self._biases()
        gi = x @ self.weight_ih.data.T                          # (B, G)
        if b_ih is not None:
            gi += b_ih
        new_state, cache = self.kernel.step_forward(gi, state, self.weight_hh.data, b_hh)
        if is_grad_enabled():
            self._caches.append((x, cache))
        return new_state[0] if self.kernel.num_states == 1 else new_state

    def backward(self, d_out):
        """Gradient of the latest un-backpropagated forward; returns ``(dx, d_hx)``."""
        require_forward(self._caches or None, type(self).__name__)
        x, cache = self._caches.pop()
        d_state = (d_out,) if self.kernel.num_states == 1 else tuple(d_out)
        dgi, dgh, d_prev = self.kernel.step_backward(d_state, cache, self.weight_hh.data)
        self.weight_ih.grad += dgi.T @ x
        self.weight_hh.grad += self.kernel.weight_hh_grad(dgh[None], [cache])
        if self.bias:
            self.bias_ih.grad += dgi.sum(0)
            self.bias_hh.grad += dgh.sum(0)
        dx = dgi @ self.weight_ih.data
        return dx, (d_prev[0] if self.kernel.num_states == 1 else d_prev)

    def reset(self) -> None:
        """Drop cached steps (e.g. after generation without backward)."""
        self._caches.clear()
