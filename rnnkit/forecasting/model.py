"""The forecasting network: a recurrent encoder (LSTM or GRU) and a linear head.

Two strategies (see ``rnnkit/forecasting/windows.py`` for the inputs and targets)::

    direct (many-to-one, multi-output):          recursive (many-to-many, one step):
      out, _ = rnn(x)      # (T, B, H)             out, _ = rnn(x)     # (T, B, H)
      y = out[T-1] W^T + b # (B, horizon * C)       y = out W^T + b     # (T, B, C)

Direct predicts the whole horizon at once from the last hidden state; recursive
predicts the next value at every step and, at forecast time, feeds each
prediction back as the next input (:func:`rnnkit.forecasting.fit.predict_windows`).

Backward is the two parts' backward passes in reverse order::

    d_out = 0 (T, B, H);  d_out[T-1] = head.backward(dy)   # direct
    d_out = head.backward(dy)                               # recursive
    dx, _ = rnn.backward(d_out)
"""

from __future__ import annotations

import numpy as np

from rnnkit._validation import check_dtype, check_float_array, check_positive_int, require_forward
from rnnkit.errors import InputError
from rnnkit.forecasting.windows import STRATEGIES
from rnnkit.layers import Linear
from rnnkit.layers.registry import CELLS, check_cell
from rnnkit.models import register_model
from rnnkit.module import Module


# rnnkit.models.DEFINED_ELSEWHERE names this module: load_model imports it (and so
# registers Forecaster) when a checkpoint names a Forecaster, whatever the caller imported.
@register_model
class Forecaster(Module):
    """Recurrent encoder plus linear head, for the direct or recursive strategy.

    Parameters
    ----------
    input_size : int
        Features per time step ``D = C + E + F`` (values, exogenous, calendar).
    output_size : int
        Value columns ``C`` to forecast.
    horizon : int
        Steps forecast at once by the direct strategy (1 for recursive).
    strategy : {"direct", "recursive"}
    cell : a name in ``rnnkit.CELLS`` ("lstm", "gru", "rnn", "lnlstm")
    hidden_size, num_layers, dropout : as in :class:`rnnkit.LSTM`.
    dtype, seed : as everywhere in rnnkit.
    """

    def __init__(self, input_size, output_size, horizon=1, strategy="direct", cell="lstm",
                 hidden_size=64, num_layers=1, dropout=0.0, dtype=np.float32, seed=None):
        if strategy not in STRATEGIES:
            raise InputError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        self.input_size = check_positive_int(input_size, "input_size")
        self.output_size = check_positive_int(output_size, "output_size")
        self.horizon = check_positive_int(horizon, "horizon")
        if strategy == "recursive" and self.horizon != 1:
            raise InputError("the recursive strategy predicts one step: horizon must be 1")
        self.strategy = strategy
        self.cell = check_cell(cell)
        self.dtype = check_dtype(dtype)
        rng = np.random.default_rng(seed)
        self.rnn = CELLS[self.cell].layer(input_size, hidden_size, num_layers=num_layers, dropout=dropout,
                               dtype=dtype, seed=int(rng.integers(2**31)))
        self.head = Linear(hidden_size, self.horizon * self.output_size, dtype=dtype,
                           seed=int(rng.integers(2**31)))
        self._T = None

    def forward(self, x):
        """x (T, B, input_size) -> (B, horizon * C) for direct, (T, B, C) for recursive."""
        check_float_array(x, "x", (None, None, self.input_size), self.dtype,
                          f"(T, B, input_size={self.input_size})")
        out, _ = self.rnn.forward(x)                                    # (T, B, H)
        self._T = x.shape[0]
        if self.strategy == "direct":
            return self.head.forward(out[-1])                           # (B, horizon * C)
        return self.head.forward(out)                                   # (T, B, C)

    def backward(self, dy):
        """dy shaped like forward's output -> dx (T, B, input_size)."""
        require_forward(self._T, "Forecaster")
        d_last = self.head.backward(dy)
        if self.strategy == "direct":
            B, H = d_last.shape
            d_out = np.zeros((self._T, B, H), dtype=self.dtype)         # (T, B, H)
            d_out[-1] = d_last
        else:
            d_out = d_last
        dx, _ = self.rnn.backward(d_out)
        self._T = None
        return dx

    def config(self) -> dict:
        """Constructor arguments, JSON-able (for checkpoints)."""
        return {"input_size": self.input_size, "output_size": self.output_size,
                "horizon": self.horizon, "strategy": self.strategy, "cell": self.cell,
                "hidden_size": self.rnn.hidden_size, "num_layers": self.rnn.num_layers,
                "dropout": self.rnn.dropout, "dtype": self.dtype.name}

    def __repr__(self):
        return (f"Forecaster({self.strategy}, {self.cell}, input_size={self.input_size}, "
                f"hidden_size={self.rnn.hidden_size}, out={self.horizon}x{self.output_size})")
