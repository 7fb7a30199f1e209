"""rnnkit.inspect.trace: states, gates and dL/dh_t of every step, against the layers."""

import numpy as np
import pytest

import rnnkit
from rnnkit.cells.gru import sigmoid
from rnnkit.errors import InputError, InputTypeError
from rnnkit.inspect.trace import state_gradients, trace

CELLS = ["rnn", "gru", "lstm", "lnlstm"]


def make_layer(cell, num_layers=2, bidirectional=True, D=3, H=4, seed=0):
    layer = rnnkit.CELLS[cell].layer(D, H, num_layers=num_layers, bidirectional=bidirectional,
                                     dtype=np.float64, seed=seed)
    return layer.eval()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_trace_equals_the_layers_forward(cell, bidirectional):
    layer = make_layer(cell, bidirectional=bidirectional)
    x = np.random.default_rng(1).normal(size=(7, 2, 3))
    out, h_n = layer.forward(x)
    traced = trace(layer, x)
    np.testing.assert_allclose(traced.out, out, rtol=0, atol=1e-13)
    h_n = h_n if isinstance(h_n, np.ndarray) else h_n[0]
    for idx, d in enumerate(traced.directions):
        last = 0 if d.direction else -1                 # the reverse direction ends at t = 0
        np.testing.assert_allclose(d.h[last], h_n[idx], rtol=0, atol=1e-13)
        assert (d.c is not None) == (cell in ("lstm", "lnlstm"))
    names = [d.name for d in traced.directions]
    assert names == (["layer 0", "layer 0 reverse", "layer 1", "layer 1 reverse"] if bidirectional
                     else ["layer 0", "layer 1"])


def test_lstm_gates_are_the_equations():
    layer = make_layer("lstm", num_layers=1, bidirectional=False)
    x = np.random.default_rng(2).normal(size=(5, 3, 3))
    traced = trace(layer, x)
    d = traced.directions[0]
    H, t = 4, 3
    a = (x[t] @ layer.weight_ih_l0.data.T + layer.bias_ih_l0.data
         + d.h[t - 1] @ layer.weight_hh_l0.data.T + layer.bias_hh_l0.data)      # (B, 4H)
    np.testing.assert_allclose(d.gates["input"][t], sigmoid(a[:, :H]), atol=1e-14)
    np.testing.assert_allclose(d.gates["forget"][t], sigmoid(a[:, H:2 * H]), atol=1e-14)
    np.testing.assert_allclose(d.gates["output"][t], sigmoid(a[:, 3 * H:]), atol=1e-14)
    c = d.gates["forget"][t] * d.c[t - 1] + d.gates["input"][t] * np.tanh(a[:, 2 * H:3 * H])
    np.testing.assert_allclose(d.c[t], c, atol=1e-14)
    assert list(make_layer("gru").kernel.gate_names) == ["reset", "update"]
    assert trace(make_layer("rnn"), x).directions[0].gates == {}


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_state_gradients_end_where_the_layers_backward_ends(cell, bidirectional):
    layer = make_layer(cell, bidirectional=bidirectional)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 2, 3))
    out, _ = layer.forward(x)
    d_out = rng.normal(size=out.shape)
    dx, dh0 = layer.backward(d_out)
    traced = trace(layer, x)
    dx_traced, dh0_traced = state_gradients(layer, traced, d_out)
    np.testing.assert_allclose(dx_traced, dx, rtol=0, atol=1e-12)
    for ours, theirs in zip(dh0_traced if isinstance(dh0_traced, tuple) else (dh0_traced,),
                            dh0 if isinstance(dh0, tuple) else (dh0,)):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_dh_t_is_the_gradient_of_the_rest_of_the_sequence(cell):
    """dL/dh_t for a loss at the last step equals the gradient w.r.t. h0 of the same layer run
    on x[t+1:] from the traced state at t: the layer's own backward, split at t."""
    layer = make_layer(cell, num_layers=2, bidirectional=False)
    rng = np.random.default_rng(4)
    T = 9
    x = rng.normal(size=(T, 2, 3))
    traced = trace(layer, x)
    d_out = np.zeros_like(traced.out)
    d_out[-1] = rng.normal(size=d_out[-1].shape)
    state_gradients(layer, traced, d_out)
    top = traced.directions[-1]
    for t in (0, 3, T - 2):
        h0 = np.stack([d.h[t] for d in traced.directions])
        if cell == "lstm":
            h0 = (h0, np.stack([d.c[t] for d in traced.directions]))
        layer.forward(x[t + 1:], h0)
        _, dh0 = layer.backward(d_out[t + 1:])
        dh0_h = dh0[0] if cell == "lstm" else dh0
        np.testing.assert_allclose(top.dh[t], dh0_h[-1], rtol=0, atol=1e-13)
        if cell == "lstm":
            np.testing.assert_allclose(top.dc[t], dh0[1][-1], rtol=0, atol=1e-13)
    np.testing.assert_array_equal(top.dh[-1], d_out[-1])


def test_bad_input_is_named():
    layer = make_layer("lstm")
    with pytest.raises(InputTypeError, match="layer must be a recurrent layer"):
        trace(rnnkit.Linear(3, 4), np.zeros((2, 1, 3)))
    with pytest.raises(InputError, match="x must have shape"):
        trace(layer, np.zeros((2, 1, 5)))
    traced = trace(layer, np.zeros((2, 1, 3)))
    with pytest.raises(InputError, match="d_out must have the traced output's shape"):
        state_gradients(layer, traced, np.zeros((2, 1, 4)))
