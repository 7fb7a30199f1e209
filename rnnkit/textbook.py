"""The classic course exercises ("0x0D. RNNs"): one forward step of each cell, in NumPy.

Reference versions of the exercise's classes and functions, with their names, argument
order and attribute names, so a learner can run their own exercise script against them;
then :func:`bptt` (the training half the exercise leaves out, in ``textbook_bptt.py``) and
:func:`to_layer`, which moves the very same weights into rnnkit's fast layers.

Layout: the textbook's, **not** the rest of rnnkit's. A step takes row batches
``x_t (m, i)``, ``h_prev (m, h)`` and multiplies the concatenation ``[h_prev, x_t]``
``(m, h + i)`` by one weight matrix on the *right*, ``W (i + h, h)``, plus one bias
``b (1, h)``. Sequences are time-major ``(t, m, i)``. Everything is float64.

``RNNCell``::

    h_next = tanh([h_prev, x_t] @ Wh + bh)                  # (m, h)
    y      = softmax(h_next @ Wy + by)                      # (m, o)

``GRUCell`` (reset applied before the product, Cho et al. 2014)::

    z      = sigmoid([h_prev, x_t] @ Wz + bz)               # update gate
    r      = sigmoid([h_prev, x_t] @ Wr + br)               # reset gate
    h_cand = tanh([r * h_prev, x_t] @ Wh + bh)
    h_next = (1 - z) * h_prev + z * h_cand

``LSTMCell``::

    f      = sigmoid([h_prev, x_t] @ Wf + bf)               # forget gate
    u      = sigmoid([h_prev, x_t] @ Wu + bu)               # update (input) gate
    c_cand = tanh([h_prev, x_t] @ Wc + bc)
    c_next = f * c_prev + u * c_cand
    o      = sigmoid([h_prev, x_t] @ Wo + bo)               # output gate
    h_next = o * tanh(c_next)

``BidirectionalCell``: ``forward`` and ``backward`` are RNN steps with their own weights
(``Whf, bhf`` and ``Whb, bhb``); ``output`` applies ``softmax(H @ Wy + by)`` to the
concatenated states ``H (t, m, 2h)``.

Weights are drawn with the legacy global ``np.random.normal`` in the order the exercise
lists them and biases are zeros, so a script that calls ``np.random.seed(...)`` first gets
the exercise's numbers. That global state is the exercise's spec; the rest of rnnkit takes
seeded Generators. ``docs/textbook.md`` maps every line onto PyTorch's layout.
"""

from __future__ import annotations

import numpy as np

from rnnkit._validation import check_float_array, check_positive_int
from rnnkit.cells.gru import sigmoid      # (1 + tanh(a / 2)) / 2: no overflow in exp
from rnnkit.errors import InputError, InputTypeError
from rnnkit.functional import softmax
from rnnkit.layers import GRU, LSTM, RNN, Linear

__all__ = ["RNNCell", "GRUCell", "LSTMCell", "BidirectionalCell",
           "rnn", "deep_rnn", "bi_rnn", "bptt", "to_layer"]


def _normal(*shape) -> np.ndarray:
    """One weight matrix from the global generator (the exercise's ``np.random.normal``)."""
    return np.random.normal(size=shape)


def _sizes(i, h, o) -> tuple[int, int, int]:
    return (check_positive_int(i, "i"), check_positive_int(h, "h"), check_positive_int(o, "o"))


# -- the cells ----------------------------------------------------------------------------
class RNNCell:
    """Elman cell: ``Wh (i+h, h)``, ``Wy (h, o)``, ``bh (1, h)``, ``by (1, o)``."""

    def __init__(self, i, h, o):
        i, h, o = _sizes(i, h, o)
        self.Wh = _normal(i + h, h)
        self.Wy = _normal(h, o)
        self.bh = np.zeros((1, h))
        self.by = np.zeros((1, o))

    def forward(self, h_prev, x_t):
        """``h_prev (m, h)``, ``x_t (m, i)`` -> ``h_next (m, h)``, ``y (m, o)``."""
        h_prev, x_t = _check_step(self, h_prev, x_t)
        return self._step(h_prev, x_t)

    def _step(self, h_prev, x_t):
        h_x = np.concatenate([h_prev, x_t], axis=1)                 # (m, h + i)
        h_next = np.tanh(h_x @ self.Wh + self.bh)                  # (m, h)
        y = softmax(h_next @ self.Wy + self.by)                    # (m, o)
        return h_next, y


class GRUCell:
    """Gated recurrent unit: ``Wz, Wr, Wh (i+h, h)``, ``Wy (h, o)``, biases ``(1, .)``."""

    def __init__(self, i, h, o):
        i, h, o = _sizes(i, h, o)
        self.Wz = _normal(i + h, h)
        self.Wr = _normal(i + h, h)
        self.Wh = _normal(i + h, h)
        self.Wy = _normal(h, o)
        self.bz = np.zeros((1, h))
        self.br = np.zeros((1, h))
        self.bh = np.zeros((1, h))
        self.by = np.zeros((1, o))

    def forward(self, h_prev, x_t):
        """``h_prev (m, h)``, ``x_t (m, i)`` -> ``h_next (m, h)``, ``y (m, o)``."""
        h_prev, x_t = _check_step(self, h_prev, x_t)
        return self._step(h_prev, x_t)

    def _step(self, h_prev, x_t):
        h_x = np.concatenate([h_prev, x_t], axis=1)                 # (m, h + i)
        z = sigmoid(h_x @ self.Wz + self.bz)                       # (m, h)
        r = sigmoid(h_x @ self.Wr + self.br)                       # (m, h)
        rh_x = np.concatenate([r * h_prev, x_t], axis=1)            # (m, h + i)
        h_cand = np.tanh(rh_x @ self.Wh + self.bh)                 # (m, h)
        h_next = (1 - z) * h_prev + z * h_cand
        y = softmax(h_next @ self.Wy + self.by)                    # (m, o)
        return h_next, y


class LSTMCell:
    """Long short-term memory: ``Wf, Wu, Wc, Wo (i+h, h)``, ``Wy (h, o)``, biases ``(1, .)``."""

    def __init__(self, i, h, o):
        i, h, o = _sizes(i, h, o)
        self.Wf = _normal(i + h, h)
        self.Wu = _normal(i + h, h)
        self.Wc = _normal(i + h, h)
        self.Wo = _normal(i + h, h)
        self.Wy = _normal(h, o)
        self.bf = np.zeros((1, h))
        self.bu = np.zeros((1, h))
        self.bc = np.zeros((1, h))
        self.bo = np.zeros((1, h))
        self.by = np.zeros((1, o))

    def forward(self, h_prev, c_prev, x_t):
        """``h_prev, c_prev (m, h)``, ``x_t (m, i)`` -> ``h_next, c_next (m, h)``, ``y (m, o)``."""
        h_prev, x_t = _check_step(self, h_prev, x_t)
        c_prev = _check_array(c_prev, "c_prev", (x_t.shape[0], _hidden(self)))
        return self._step(h_prev, c_prev, x_t)

    def _step(self, h_prev, c_prev, x_t):
        h_x = np.concatenate([h_prev, x_t], axis=1)                 # (m, h + i)
        f = sigmoid(h_x @ self.Wf + self.bf)                       # (m, h)
        u = sigmoid(h_x @ self.Wu + self.bu)
        c_cand = np.tanh(h_x @ self.Wc + self.bc)
        c_next = f * c_prev + u * c_cand
        o = sigmoid(h_x @ self.Wo + self.bo)
        h_next = o * np.tanh(c_next)
        y = softmax(h_next @ self.Wy + self.by)                    # (m, o)
        return h_next, c_next, y


class BidirectionalCell:
    """Two RNN steps, one per direction: ``Whf, Whb (i+h, h)``, ``Wy (2h, o)``, biases ``(1, .)``."""

    def __init__(self, i, h, o):
        i, h, o = _sizes(i, h, o)
        self.Whf = _normal(i + h, h)
        self.Whb = _normal(i + h, h)
        self.Wy = _normal(2 * h, o)
        self.bhf = np.zeros((1, h))
        self.bhb = np.zeros((1, h))
        self.by = np.zeros((1, o))

    def forward(self, h_prev, x_t):
        """Forward direction: ``h_next = tanh([h_prev, x_t] @ Whf + bhf)`` (m, h)."""
        h_prev, x_t = _check_step(self, h_prev, x_t)
        return self._forward(h_prev, x_t)

    def backward(self, h_next, x_t):
        """Backward direction: ``h_prev = tanh([h_next, x_t] @ Whb + bhb)`` (m, h)."""
        h_next, x_t = _check_step(self, h_next, x_t, state_name="h_next")
        return self._backward(h_next, x_t)

    def output(self, H):
        """``H (t, m, 2h)``, forward then backward states -> ``Y = softmax(H @ Wy + by) (t, m, o)``."""
        H = _check_array(H, "H", (None, None, 2 * _hidden(self)))
        return self._output(H)

    def _forward(self, h_prev, x_t):
        return np.tanh(np.concatenate([h_prev, x_t], axis=1) @ self.Whf + self.bhf)

    def _backward(self, h_next, x_t):
        return np.tanh(np.concatenate([h_next, x_t], axis=1) @ self.Whb + self.bhb)

    def _output(self, H):
        return softmax(H @ self.Wy + self.by)                      # (t, m, o)


# -- whole sequences ----------------------------------------------------------------------
def rnn(rnn_cell, X, h_0):
    """Run an ``RNNCell`` (or a ``GRUCell``) over a sequence.

    ``X (t, m, i)``, ``h_0 (m, h)`` -> ``H (t+1, m, h)`` with ``H[0] = h_0`` and
    ``H[s+1] = forward(H[s], X[s])``, and ``Y (t, m, o)`` the step outputs.
    """
    _check_cell(rnn_cell, "rnn_cell", (RNNCell, GRUCell))
    X = _check_sequence(rnn_cell, X)
    h_0 = _check_array(h_0, "h_0", (X.shape[1], _hidden(rnn_cell)))
    t, m, _ = X.shape
    H = np.zeros((t + 1, m, _hidden(rnn_cell)))
    Y = np.zeros((t, m, rnn_cell.Wy.shape[1]))
    H[0] = h_0
    for s in range(t):
        H[s + 1], Y[s] = rnn_cell._step(H[s], X[s])
    return H, Y


def deep_rnn(rnn_cells, X, h_0):
    """Run a stack of ``l`` cells: layer ``k`` reads layer ``k-1``'s new state at each step.

    ``X (t, m, i)``, ``h_0 (l, m, h)`` -> ``H (t+1, l, m, h)`` (``H[0] = h_0``) and
    ``Y (t, m, o)``, the last layer's outputs.
    """
    if not isinstance(rnn_cells, (list, tuple)) or not rnn_cells:
        raise InputTypeError("rnn_cells must be a non-empty list of textbook RNNCell or GRUCell, "
                             f"got {type(rnn_cells).__name__}")
    for k, cell in enumerate(rnn_cells):
        _check_cell(cell, f"rnn_cells[{k}]", (RNNCell, GRUCell))
    h = _hidden(rnn_cells[0])
    for k, cell in enumerate(rnn_cells[1:], start=1):
        if (_inputs(cell), _hidden(cell)) != (h, h):
            raise InputError(f"rnn_cells[{k}] must read layer {k - 1}'s state: i={h} and h={h}, "
                             f"got i={_inputs(cell)} and h={_hidden(cell)}")
    X = _check_sequence(rnn_cells[0], X)
    t, m, _ = X.shape
    l = len(rnn_cells)
    h_0 = _check_array(h_0, "h_0", (l, m, h), f"(l={l}, m={m}, h={h})")
    H = np.zeros((t + 1, l, m, h))
    Y = np.zeros((t, m, rnn_cells[-1].Wy.shape[1]))
    H[0] = h_0
    for s in range(t):
        layer_input = X[s]                                         # (m, i), then (m, h)
        for k, cell in enumerate(rnn_cells):
            H[s + 1, k], y = cell._step(H[s, k], layer_input)
            layer_input = H[s + 1, k]
        Y[s] = y                                                   # the last layer's output
    return H, Y


def bi_rnn(bi_cell, X, h_0, h_t):
    """Run a ``BidirectionalCell``: forward from ``h_0`` at the start, backward from ``h_t`` at the end.

    ``X (t, m, i)``, ``h_0, h_t (m, h)`` -> ``H (t, m, 2h)``, where ``H[s]`` is the forward
    state after reading ``X[s]`` followed by the backward state after reading ``X[s]``
    (having read ``X[t-1], ..., X[s+1]`` before it), and ``Y = bi_cell.output(H) (t, m, o)``.
    """
    _check_cell(bi_cell, "bi_cell", (BidirectionalCell,))
    X = _check_sequence(bi_cell, X)
    t, m, _ = X.shape
    h = _hidden(bi_cell)
    h_0 = _check_array(h_0, "h_0", (m, h))
    h_t = _check_array(h_t, "h_t", (m, h))
    forward_states = np.zeros((t, m, h))
    backward_states = np.zeros((t, m, h))
    h_prev = h_0
    for s in range(t):
        forward_states[s] = bi_cell._forward(h_prev, X[s])
        h_prev = forward_states[s]
    h_next = h_t
    for s in reversed(range(t)):                                   # from the end
        backward_states[s] = bi_cell._backward(h_next, X[s])
        h_next = backward_states[s]
    H = np.concatenate([forward_states, backward_states], axis=2)  # (t, m, 2h)
    return H, bi_cell._output(H)


def bptt(cell, X, h_0, Y_true):
    """Backpropagation through time for an ``RNNCell``, ``GRUCell`` or ``LSTMCell``.

    ``X (t, m, i)``, ``h_0 (m, h)`` (an LSTM starts from ``c_0 = 0``), ``Y_true (t, m, o)``
    one-hot. Returns ``loss = -sum(Y_true * log Y) / m`` and ``grads``, a dict keyed by the
    cell's attribute names (``"Wh"``, ``"Wy"``, ...) with arrays of the same shapes.
    The equations, step by step: ``rnnkit/textbook_bptt.py``.
    """
    from rnnkit import textbook_bptt     # imported here: that module imports the cells above
    return textbook_bptt.bptt(cell, X, h_0, Y_true)


# -- the bridge to rnnkit's layers --------------------------------------------------------
def to_layer(cell):
    """The same model as an rnnkit layer (float64) and a ``Linear`` head.

    ``RNNCell -> rnnkit.RNN``, ``GRUCell -> rnnkit.GRU(reset_after=False)``,
    ``LSTMCell -> rnnkit.LSTM``. With ``out, _ = layer.forward(X, h0=h_0[None])``,
    ``out`` equals ``rnn(cell, X, h_0)[0][1:]`` and ``softmax(head.forward(out))`` equals ``Y``.

    The textbook's ``[h, x] @ W`` is ``h @ W[:h] + x @ W[h:]``, so per gate
    ``weight_ih = W[h:].T (h, i)``, ``weight_hh = W[:h].T (h, h)``, ``bias_ih = b``
    and ``bias_hh = 0``; gates are stacked as rows in rnnkit's order (GRU ``r, z, n``,
    LSTM ``i, f, g, o`` = ``Wu, Wf, Wc, Wo``). rnnkit's GRU keeps ``z * h_prev`` where the
    textbook keeps ``(1 - z) * h_prev``: its update gate is ``1 - z = sigmoid(-a)``, so that
    gate's weights and bias are negated. The head: ``weight = Wy.T (o, h)``, ``bias = by[0]``.
    """
    _check_cell(cell, "cell", (RNNCell, GRUCell, LSTMCell))
    if isinstance(cell, RNNCell):
        gates = [(cell.Wh, cell.bh)]
        layer_class, options = RNN, {}
    elif isinstance(cell, GRUCell):
        gates = [(cell.Wr, cell.br), (-cell.Wz, -cell.bz), (cell.Wh, cell.bh)]
        layer_class, options = GRU, {"reset_after": False}
    else:
        gates = [(cell.Wu, cell.bu), (cell.Wf, cell.bf), (cell.Wc, cell.bc), (cell.Wo, cell.bo)]
        layer_class, options = LSTM, {}
    h = _hidden(cell)
    i = gates[0][0].shape[0] - h
    layer = layer_class(i, h, dtype=np.float64, **options)
    layer.load_state_dict({
        "weight_ih_l0": np.concatenate([W[h:].T for W, _ in gates]),       # (G, i)
        "weight_hh_l0": np.concatenate([W[:h].T for W, _ in gates]),       # (G, h)
        "bias_ih_l0": np.concatenate([b[0] for _, b in gates]),            # (G,)
        "bias_hh_l0": np.zeros(len(gates) * h),
    })
    head = Linear(h, cell.Wy.shape[1], dtype=np.float64)
    head.load_state_dict({"weight": cell.Wy.T.copy(), "bias": cell.by[0].copy()})
    return layer, head


# -- input checks (once, at the public boundary) ------------------------------------------
def _hidden(cell) -> int:
    """``h``, read from the weights (so weights a user assigned stay the truth)."""
    return cell.Wy.shape[0] // 2 if isinstance(cell, BidirectionalCell) else cell.Wy.shape[0]


def _inputs(cell) -> int:
    """``i``, read from the weights: the first weight of each cell is ``(i + h, h)``."""
    for cell_class, first_weight in _FIRST_WEIGHT.items():
        if isinstance(cell, cell_class):
            return getattr(cell, first_weight).shape[0] - _hidden(cell)
    raise AssertionError(f"not a textbook cell: {type(cell).__name__}")


_FIRST_WEIGHT = {RNNCell: "Wh", GRUCell: "Wz", LSTMCell: "Wf", BidirectionalCell: "Whf"}


def _check_cell(cell, name, types) -> None:
    if not isinstance(cell, types):
        expected = " or ".join(t.__name__ for t in types)
        raise InputTypeError(f"{name} must be a textbook {expected}, got {type(cell).__name__}")


def _check_array(value, name, shape, shape_doc=None) -> np.ndarray:
    """A finite float64 array of ``shape``; the message spells the shape out, e.g. ``(m=2, h=4)``."""
    if shape_doc is None:
        letters = {2: ("m", "h"), 3: ("t", "m", "2h")}[len(shape)]
        shape_doc = "(" + ", ".join(
            letter if size is None else f"{letter}={size}" for letter, size in zip(letters, shape)) + ")"
    return check_float_array(value, name, shape, np.float64, shape_doc)


def _check_step(cell, h, x_t, state_name="h_prev"):
    """One step's inputs: ``x_t (m, i)`` and the state ``(m, h)`` with the same ``m``."""
    i = _inputs(cell)
    x_t = check_float_array(x_t, "x_t", (None, i), np.float64, f"(m, i={i})")
    h = _check_array(h, state_name, (x_t.shape[0], _hidden(cell)))
    return h, x_t


def _check_sequence(cell, X) -> np.ndarray:
    """``X (t, m, i)`` with ``t, m >= 1``."""
    i = _inputs(cell)
    X = check_float_array(X, "X", (None, None, i), np.float64, f"(t, m, i={i})")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise InputError(f"X must have shape (t, m, i={i}) with t >= 1 and m >= 1, got {X.shape}")
    return X
