"""What every cell shares: the single-step Module around a kernel.

The kernel (a :class:`rnnkit.cells.kernel.RecurrentKernel`: ``RNNKernel``, ``GRUKernel``,
``LSTMKernel``, ...) declares its parameters and holds the step equations; this
module creates the declared parameters, runs one step and accumulates the gradients
the kernel returns. States are tuples inside (``(h,)`` or ``(h, c)``); a cell with
one state array takes and returns the bare array, as ``torch.nn.RNNCell`` does.
"""

from __future__ import annotations

import numpy as np

from rnnkit._validation import (
    check_dtype,
    check_float_array,
    check_positive_int,
    require_forward,
)
from rnnkit.cells.kernel import accumulate_grads, create_parameters
from rnnkit.errors import InputTypeError
from rnnkit.module import Module, is_grad_enabled


class RecurrentCell(Module):
    """A single time step as a Module, sharing its kernel with the sequence layers."""

    def __init__(self, kernel, input_size, hidden_size, bias, dtype, seed):
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.bias = bool(bias)
        self.dtype = check_dtype(dtype)
        self.kernel = kernel
        rng = np.random.default_rng(seed)
        specs = kernel.parameters(self.input_size, self.hidden_size, self.bias)
        self._parameter_names = create_parameters(self, specs, rng, self.hidden_size, self.dtype)
        self._caches: list = []

    def _params(self) -> dict:
        """The kernel's parameters by name: ``{name: Parameter}``."""
        return {name: getattr(self, attr) for name, attr in self._parameter_names.items()}

    def _check_state(self, state, batch: int) -> tuple:
        H, names = self.hidden_size, self.kernel.state_names
        if state is None:
            return tuple(np.zeros((batch, H), self.dtype) for _ in names)
        if len(names) == 1:
            state = (state,)
        elif not (isinstance(state, tuple) and len(state) == len(names)):
            raise InputTypeError(f"hx must be a tuple ({', '.join(names)}) of arrays of shape (B, hidden_size)")
        for name, s in zip(names, state):
            check_float_array(s, name, (batch, H), self.dtype, f"(B={batch}, hidden_size={H})")
        return tuple(state)

    def forward(self, x, hx=None):
        D = self.input_size
        check_float_array(x, "x", (None, D), self.dtype, f"(B, input_size={D})")
        state = self._check_state(hx, x.shape[0])
        params = {name: p.data for name, p in self._params().items()}
        gi, input_cache = self.kernel.project_input(x, params)     # (B, G)
        new_state, cache = self.kernel.step_forward(gi, state, params)
        if is_grad_enabled():
            self._caches.append((input_cache, cache))
        return new_state[0] if self.kernel.num_states == 1 else new_state

    def backward(self, d_out):
        """Gradient of the latest un-backpropagated forward; returns ``(dx, d_hx)``."""
        require_forward(self._caches or None, type(self).__name__)
        input_cache, cache = self._caches.pop()
        single = self.kernel.num_states == 1
        d_state = (d_out,) if single else tuple(d_out)
        parameters = self._params()
        params = {name: p.data for name, p in parameters.items()}
        dgi, d_prev, grads = self.kernel.step_backward(d_state, cache, params)
        dx, input_grads = self.kernel.project_input_backward(dgi, input_cache, params)
        accumulate_grads(parameters, grads, input_grads)
        return dx, (d_prev[0] if single else d_prev)

    def reset(self) -> None:
        """Drop cached steps (e.g. after generation without backward)."""
        self._caches.clear()
