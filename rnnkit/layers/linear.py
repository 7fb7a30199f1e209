"""Linear (affine) layer, applied to the last axis — at every time step at once.

The seed's output projection ``y_t = W_hy h_t`` is ``Linear(H, V)`` on ``(T, B, H)``::

    forward:   y  = x @ W^T + b                  # x (..., in) -> y (..., out)
    backward:  dW += dy^T @ x,  db += sum(dy),  dx = dy @ W   (rows flattened to (N, .))
"""

from __future__ import annotations

import numpy as np

from rnnkit._validation import check_dtype, check_float_array, check_positive_int, require_forward
from rnnkit.errors import InputTypeError
from rnnkit.kernels._products import matmul
from rnnkit.module import Module, Parameter, is_grad_enabled


class Linear(Module):
    """``y = x W^T + b`` with ``weight (out_features, in_features)``, ``bias (out_features,)``.

    Initialised as in ``torch.nn.Linear``: U(-1/sqrt(in), 1/sqrt(in)).
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32, seed=None):
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        self.dtype = check_dtype(dtype)
        rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(in_features)
        self.weight = Parameter(rng.uniform(-bound, bound, (out_features, in_features)).astype(self.dtype))
        if bias:
            self.bias = Parameter(rng.uniform(-bound, bound, (out_features,)).astype(self.dtype))
        self._x = None

    def forward(self, x):
        if not isinstance(x, np.ndarray) or x.ndim < 1:
            raise InputTypeError(f"x must be a numpy.ndarray of shape (..., in_features={self.in_features})")
        check_float_array(x, "x", (None,) * (x.ndim - 1) + (self.in_features,), self.dtype,
                          f"(..., in_features={self.in_features})")
        y = matmul(x.reshape(-1, self.in_features), self.weight.data.T,
                   bias=self.bias.data if hasattr(self, "bias") else None)
        y = y.reshape(x.shape[:-1] + (self.out_features,))         # (..., out)
        self._x = x if is_grad_enabled() else None
        return y

    def backward(self, dy):
        require_forward(self._x, "Linear")
        x = self._x
        check_float_array(dy, "dy", x.shape[:-1] + (self.out_features,), self.dtype,
                          f"{x.shape[:-1] + (self.out_features,)}")
        dy2 = dy.reshape(-1, self.out_features)                    # (N, out)
        self.weight.grad += matmul(dy2.T, x.reshape(-1, self.in_features))
        dx = matmul(dy2, self.weight.data)                         # (N, in)
        if hasattr(self, "bias"):
            self.bias.grad += dy2.sum(0)
        self._x = None
        return dx.reshape(x.shape)                                 # (..., in)

    def __repr__(self):
        return f"Linear({self.in_features}, {self.out_features})"
