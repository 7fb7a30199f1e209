"""Finite-difference gradient checks of the sequence layers in float64:
1-3 layers, uni/bidirectional, with and without lengths and h0."""

import numpy as np
import pytest
from helpers import GRAD_TOL, check_module_gradients

import rnnkit

LAYERS = {
    "rnn_tanh": lambda **kw: rnnkit.RNN(nonlinearity="tanh", **kw),
    "rnn_relu": lambda **kw: rnnkit.RNN(nonlinearity="relu", **kw),
    "gru": lambda **kw: rnnkit.GRU(**kw),
    "gru_reset_before": lambda **kw: rnnkit.GRU(reset_after=False, **kw),
    "lstm": lambda **kw: rnnkit.LSTM(**kw),
    "lnlstm": lambda **kw: rnnkit.LayerNormLSTM(**kw),
}

CONFIGS = [  # num_layers, bidirectional, variable lengths, with h0
    (1, False, False, False),
    (1, True, True, True),
    (2, False, True, False),
    (2, True, False, True),
    (3, True, True, True),
]


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "L{}-bi{}-var{}-h0{}".format(*map(int, c)))
def test_layer_gradients(kind, config):
    num_layers, bidirectional, varlen, with_h0 = config
    rng = np.random.default_rng(7)
    T, B, D, H = 5, 3, 3, 4
    layer = LAYERS[kind](input_size=D, hidden_size=H, num_layers=num_layers,
                         bidirectional=bidirectional, dtype=np.float64, seed=11)
    n_states = layer.num_states
    shape = (num_layers * layer.num_directions, B, H)
    x = rng.standard_normal((T, B, D))
    states = [rng.standard_normal(shape) for _ in range(n_states)]
    h0 = (tuple(states) if n_states == 2 else states[0]) if with_h0 else None
    lengths = np.array([5, 2, 4]) if varlen else None

    def forward():
        return layer.forward(x, h0, lengths)

    def backward(weights):
        d_out, d_h_n = weights
        dx, dh0 = layer.backward(d_out, d_h_n)
        grads = {"x": dx}
        for k, d in enumerate(dh0 if n_states == 2 else (dh0,)):
            grads[f"h0_{k}"] = d
        return grads

    inputs = {"x": x}
    if with_h0:
        inputs.update({f"h0_{k}": s for k, s in enumerate(states)})
    worst, errors = check_module_gradients(forward, backward, inputs, layer.parameters())
    assert worst < GRAD_TOL, errors


def test_batch_first_gradients():
    rng = np.random.default_rng(0)
    layer = rnnkit.LSTM(3, 4, batch_first=True, bidirectional=True, dtype=np.float64, seed=0)
    x = rng.standard_normal((2, 5, 3))
    lengths = np.array([3, 5])
    worst, errors = check_module_gradients(
        lambda: layer.forward(x, lengths=lengths)[0],
        lambda w: {"x": layer.backward(w)[0]},
        {"x": x}, layer.parameters())
    assert worst < GRAD_TOL, errors
