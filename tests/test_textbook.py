"""rnnkit.textbook: the course exercises' API, BPTT by finite differences, the bridge to the layers."""

import numpy as np
import pytest
from helpers import GRAD_TOL, TORCH_TOL

import rnnkit
from rnnkit import textbook as tb
from rnnkit.gradcheck import numerical_gradient, relative_error
from rnnkit.optim import SGD

# The exercise's weight names, in the order it draws them; biases are zeros.
SPEC = {
    tb.RNNCell: (["Wh", "Wy"], ["bh", "by"]),
    tb.GRUCell: (["Wz", "Wr", "Wh", "Wy"], ["bz", "br", "bh", "by"]),
    tb.LSTMCell: (["Wf", "Wu", "Wc", "Wo", "Wy"], ["bf", "bu", "bc", "bo", "by"]),
    tb.BidirectionalCell: (["Whf", "Whb", "Wy"], ["bhf", "bhb", "by"]),
}
TRAINABLE = (tb.RNNCell, tb.GRUCell, tb.LSTMCell)


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def softmax(a):
    return np.exp(a) / np.exp(a).sum(axis=-1, keepdims=True)


def make_cell(cell_class, i=3, h=4, o=5, seed=0):
    """A cell with the exercise's weights and non-zero biases (so every bias is exercised)."""
    np.random.seed(seed)
    cell = cell_class(i, h, o)
    for name in SPEC[cell_class][1]:
        setattr(cell, name, np.random.normal(scale=0.5, size=getattr(cell, name).shape))
    return cell


def data(t=5, m=2, i=3, h=4, o=5, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((t, m, i))
    h_0 = 0.5 * rng.standard_normal((m, h))
    Y_true = np.eye(o)[rng.integers(0, o, (t, m))]
    return X, h_0, Y_true


def run_sequence(cell, X, h_0):
    """Hidden states (t, m, h) and outputs (t, m, o) by calling the public step."""
    states, outputs = [], []
    h, c = h_0, np.zeros_like(h_0)
    for x_t in X:
        if isinstance(cell, tb.LSTMCell):
            h, c, y = cell.forward(h, c, x_t)
        else:
            h, y = cell.forward(h, x_t)
        states.append(h)
        outputs.append(y)
    return np.array(states), np.array(outputs)


def test_public_api_is_the_issues_list():
    assert sorted(tb.__all__) == sorted(["RNNCell", "GRUCell", "LSTMCell", "BidirectionalCell",
                                         "rnn", "deep_rnn", "bi_rnn", "bptt", "to_layer"])


# -- the exercise's spec ---------------------------------------------------------------
@pytest.mark.parametrize("cell_class", list(SPEC))
def test_seeded_weights_match_the_exercise(cell_class):
    i, h, o = 10, 15, 5
    shapes = {"Wy": (2 * h if cell_class is tb.BidirectionalCell else h, o)}
    np.random.seed(7)
    expected = {name: np.random.normal(size=shapes.get(name, (i + h, h)))
                for name in SPEC[cell_class][0]}
    np.random.seed(7)
    cell = cell_class(i, h, o)
    for name, weight in expected.items():
        assert np.array_equal(getattr(cell, name), weight), name
    for name in SPEC[cell_class][1]:
        bias = getattr(cell, name)
        assert bias.shape == (1, o if name == "by" else h) and not bias.any(), name


def test_rnn_cell_forward_by_hand():
    cell = tb.RNNCell(1, 1, 2)
    cell.Wh = np.array([[0.5], [1.0]])          # rows: h part, then x part
    cell.Wy = np.array([[1.0, -1.0]])
    cell.bh = np.array([[0.1]])
    h_next, y = cell.forward(np.array([[0.2]]), np.array([[0.3]]))
    h = np.tanh(0.5 * 0.2 + 1.0 * 0.3 + 0.1)   # tanh(0.5)
    assert h_next == pytest.approx(np.array([[h]]), abs=1e-15)
    assert y == pytest.approx(np.array([[np.exp(h), np.exp(-h)]]) / (np.exp(h) + np.exp(-h)), abs=1e-15)


def test_cell_forwards_recomputed():
    X, h_0, _ = data(t=1)
    x, hp = X[0], h_0
    hx = np.hstack([hp, x])

    c = make_cell(tb.RNNCell)
    h = np.tanh(hx @ c.Wh + c.bh)
    got = c.forward(hp, x)
    np.testing.assert_allclose(got[0], h, atol=1e-12)
    np.testing.assert_allclose(got[1], softmax(h @ c.Wy + c.by), atol=1e-12)

    c = make_cell(tb.GRUCell)
    z, r = sigmoid(hx @ c.Wz + c.bz), sigmoid(hx @ c.Wr + c.br)
    h = (1 - z) * hp + z * np.tanh(np.hstack([r * hp, x]) @ c.Wh + c.bh)
    got = c.forward(hp, x)
    np.testing.assert_allclose(got[0], h, atol=1e-12)
    np.testing.assert_allclose(got[1], softmax(h @ c.Wy + c.by), atol=1e-12)

    c = make_cell(tb.LSTMCell)
    c_prev = np.linspace(-1, 1, hp.size).reshape(hp.shape)
    f, u, o = (sigmoid(hx @ W + b) for W, b in ((c.Wf, c.bf), (c.Wu, c.bu), (c.Wo, c.bo)))
    c_next = f * c_prev + u * np.tanh(hx @ c.Wc + c.bc)
    h = o * np.tanh(c_next)
    got = c.forward(hp, c_prev, x)
    for a, b in zip(got, (h, c_next, softmax(h @ c.Wy + c.by))):
        np.testing.assert_allclose(a, b, atol=1e-12)

    c = make_cell(tb.BidirectionalCell)
    np.testing.assert_allclose(c.forward(hp, x), np.tanh(hx @ c.Whf + c.bhf), atol=1e-12)
    np.testing.assert_allclose(c.backward(hp, x), np.tanh(hx @ c.Whb + c.bhb), atol=1e-12)
    H = np.random.default_rng(0).standard_normal((3, 2, 8))
    np.testing.assert_allclose(c.output(H), softmax(H @ c.Wy + c.by), atol=1e-12)


def test_softmax_is_stable():
    cell = make_cell(tb.RNNCell)
    cell.by[0, 0] = 1000.0                       # exp(1000) overflows without the max shift
    X, h_0, Y_true = data()
    _, y = cell.forward(h_0, X[0])
    assert np.isfinite(y).all() and np.allclose(y.sum(axis=1), 1)
    loss, grads = tb.bptt(cell, X, h_0, Y_true)
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in grads.values())


# -- shapes and sequence semantics -----------------------------------------------------------
def test_step_shapes():
    m, i, h, o = 2, 3, 4, 5
    x, hp = np.zeros((m, i)), np.zeros((m, h))
    assert [a.shape for a in tb.RNNCell(i, h, o).forward(hp, x)] == [(m, h), (m, o)]
    assert [a.shape for a in tb.GRUCell(i, h, o).forward(hp, x)] == [(m, h), (m, o)]
    assert [a.shape for a in tb.LSTMCell(i, h, o).forward(hp, hp, x)] == [(m, h), (m, h), (m, o)]
    bi = tb.BidirectionalCell(i, h, o)
    assert bi.forward(hp, x).shape == bi.backward(hp, x).shape == (m, h)
    assert bi.output(np.zeros((6, m, 2 * h))).shape == (6, m, o)


@pytest.mark.parametrize("cell_class", [tb.RNNCell, tb.GRUCell])
def test_rnn(cell_class):
    cell = make_cell(cell_class)
    X, h_0, _ = data(t=6)
    H, Y = tb.rnn(cell, X, h_0)
    assert H.shape == (7, 2, 4) and Y.shape == (6, 2, 5)
    assert np.array_equal(H[0], h_0)
    states, outputs = run_sequence(cell, X, h_0)
    np.testing.assert_allclose(H[1:], states, atol=1e-14)
    np.testing.assert_allclose(Y, outputs, atol=1e-14)


def test_deep_rnn():
    np.random.seed(3)
    cells = [tb.RNNCell(3, 4, 5), tb.RNNCell(4, 4, 5), tb.RNNCell(4, 4, 6)]
    X, _, _ = data(t=5)
    h_0 = np.random.normal(size=(3, 2, 4))
    H, Y = tb.deep_rnn(cells, X, h_0)
    assert H.shape == (6, 3, 2, 4) and Y.shape == (5, 2, 6)
    assert np.array_equal(H[0], h_0)
    for s in range(5):
        layer_input = X[s]
        for k, cell in enumerate(cells):
            h, y = cell.forward(H[s, k], layer_input)     # layer k reads layer k-1's new state
            np.testing.assert_allclose(H[s + 1, k], h, atol=1e-14)
            layer_input = h
        np.testing.assert_allclose(Y[s], y, atol=1e-14)   # outputs of the last layer


def test_bi_rnn():
    cell = make_cell(tb.BidirectionalCell)
    X, h_0, _ = data(t=6)
    h_t = np.random.default_rng(5).standard_normal(h_0.shape)
    H, Y = tb.bi_rnn(cell, X, h_0, h_t)
    assert H.shape == (6, 2, 8) and Y.shape == (6, 2, 5)
    h = h_0
    for s in range(6):                                     # forward states from h_0 at the start
        h = cell.forward(h, X[s])
        np.testing.assert_allclose(H[s, :, :4], h, atol=1e-14)
    h = h_t
    for s in reversed(range(6)):                           # backward states from h_t at the end
        h = cell.backward(h, X[s])
        np.testing.assert_allclose(H[s, :, 4:], h, atol=1e-14)
    np.testing.assert_allclose(Y, cell.output(H), atol=1e-14)
    # The backward state at step s has read X[s:] only, the forward state X[:s+1] only.
    X2 = X.copy()
    X2[0] += 1.0
    H2, _ = tb.bi_rnn(cell, X2, h_0, h_t)
    assert np.array_equal(H2[1:, :, 4:], H[1:, :, 4:]) and not np.allclose(H2[1:, :, :4], H[1:, :, :4])


# -- BPTT ------------------------------------------------------------------------------
@pytest.mark.parametrize("cell_class", TRAINABLE)
def test_bptt_loss_and_grad_shapes(cell_class):
    cell = make_cell(cell_class)
    X, h_0, Y_true = data()
    loss, grads = tb.bptt(cell, X, h_0, Y_true)
    _, Y = run_sequence(cell, X, h_0)
    assert loss == pytest.approx(-(Y_true * np.log(Y)).sum() / 2, rel=1e-12)
    names = SPEC[cell_class][0] + SPEC[cell_class][1]
    assert sorted(grads) == sorted(names)
    for name in names:
        assert grads[name].shape == getattr(cell, name).shape, name


@pytest.mark.parametrize("cell_class", TRAINABLE)
def test_bptt_finite_differences(cell_class):
    cell = make_cell(cell_class, seed=2)
    for name in SPEC[cell_class][0]:          # smaller weights: gates away from saturation
        getattr(cell, name)[...] *= 0.5
    X, h_0, Y_true = data(t=4, seed=3)
    _, grads = tb.bptt(cell, X, h_0, Y_true)
    for name, grad in grads.items():
        numeric = numerical_gradient(lambda: tb.bptt(cell, X, h_0, Y_true)[0], getattr(cell, name))
        assert relative_error(grad, numeric) < GRAD_TOL, name
        assert np.abs(grad).max() > 1e-6, name             # each gradient is really checked


# -- the bridge to the layers -------------------------------------------------------
LAYERS = {tb.RNNCell: (rnnkit.RNN, ["Wh"]),
          tb.GRUCell: (rnnkit.GRU, ["Wr", "Wz", "Wh"]),              # rnnkit's r, z, n
          tb.LSTMCell: (rnnkit.LSTM, ["Wu", "Wf", "Wc", "Wo"])}      # rnnkit's i, f, g, o


@pytest.mark.parametrize("fast_path", [True, False])
@pytest.mark.parametrize("cell_class", TRAINABLE)
def test_to_layer_same_states_and_outputs(cell_class, fast_path):
    cell = make_cell(cell_class)
    X, h_0, _ = data(t=7, m=3)
    layer, head = tb.to_layer(cell)
    assert type(layer) is LAYERS[cell_class][0] and layer.dtype == np.float64
    assert getattr(layer, "reset_after", False) is False
    layer.fast_path = fast_path
    h0 = h_0[None] if cell_class is not tb.LSTMCell else (h_0[None], np.zeros((1,) + h_0.shape))
    out, h_n = layer.forward(X, h0=h0)
    states, outputs = run_sequence(cell, X, h_0)
    np.testing.assert_allclose(out, states, rtol=0, atol=TORCH_TOL)
    h_n = h_n[0] if isinstance(h_n, tuple) else h_n
    np.testing.assert_allclose(h_n, states[-1:], rtol=0, atol=TORCH_TOL)
    np.testing.assert_allclose(tb.softmax(head.forward(out)), outputs, rtol=0, atol=TORCH_TOL)


@pytest.mark.parametrize("cell_class", TRAINABLE)
def test_layer_gradients_map_back_to_bptt(cell_class):
    """The layer's own backward, mapped back to the textbook layout, equals bptt's grads."""
    cell = make_cell(cell_class)
    X, h_0, Y_true = data(t=5, m=3)
    loss, grads = tb.bptt(cell, X, h_0, Y_true)
    layer, head = tb.to_layer(cell)
    h0 = h_0[None] if cell_class is not tb.LSTMCell else (h_0[None], np.zeros((1,) + h_0.shape))
    loss_fn = rnnkit.CrossEntropyLoss(reduction="sum")
    out, _ = layer.forward(X, h0=h0)
    assert loss_fn.forward(head.forward(out), Y_true.argmax(-1)) / 3 == pytest.approx(loss, rel=1e-12)
    layer.backward(head.backward(loss_fn.backward(scale=1 / 3)))
    h = h_0.shape[1]
    for g, name in enumerate(LAYERS[cell_class][1]):
        rows = slice(g * h, (g + 1) * h)
        sign = -1 if name == "Wz" else 1                  # rnnkit's update gate is 1 - z
        W = np.vstack([layer.weight_hh_l0.grad[rows].T, layer.weight_ih_l0.grad[rows].T])
        np.testing.assert_allclose(sign * W, grads[name], atol=1e-10)
        np.testing.assert_allclose(sign * layer.bias_ih_l0.grad[rows], grads["b" + name[1:]][0], atol=1e-10)
    np.testing.assert_allclose(head.weight.grad.T, grads["Wy"], atol=1e-10)
    np.testing.assert_allclose(head.bias.grad, grads["by"][0], atol=1e-10)


# -- bad input ----------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [0, -1, 2.0, "3", True])
def test_bad_sizes(bad):
    with pytest.raises(ValueError, match=r"^h must be a positive integer"):
        tb.RNNCell(3, bad, 5)
    with pytest.raises(ValueError, match=r"^o must be a positive integer"):
        tb.LSTMCell(3, 4, bad)


def test_bad_step_inputs():
    cell = tb.GRUCell(3, 4, 5)
    with pytest.raises(ValueError, match=r"x_t must have shape \(m, i=3\), got \(2, 4\)"):
        cell.forward(np.zeros((2, 4)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"h_prev must have shape \(m=2, h=4\), got \(3, 4\)"):
        cell.forward(np.zeros((3, 4)), np.zeros((2, 3)))
    with pytest.raises(TypeError, match="x_t must have dtype float64"):
        cell.forward(np.zeros((2, 4)), np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="h_prev must be a numpy.ndarray"):
        cell.forward([[0.0] * 4] * 2, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="x_t contains NaN"):
        cell.forward(np.zeros((2, 4)), np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match=r"c_prev must have shape \(m=2, h=4\)"):
        tb.LSTMCell(3, 4, 5).forward(np.zeros((2, 4)), np.zeros((2, 5)), np.zeros((2, 3)))
    bi = tb.BidirectionalCell(3, 4, 5)
    with pytest.raises(ValueError, match=r"h_next must have shape \(m=2, h=4\)"):
        bi.backward(np.zeros((2, 5)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"H must have shape \(t, m, 2h=8\), got \(6, 2, 4\)"):
        bi.output(np.zeros((6, 2, 4)))


def test_bad_sequence_inputs():
    cell, X, h_0 = tb.RNNCell(3, 4, 5), np.zeros((6, 2, 3)), np.zeros((2, 4))
    with pytest.raises(ValueError, match=r"X must have shape \(t, m, i=3\), got \(2, 3\)"):
        tb.rnn(cell, X[0], h_0)
    with pytest.raises(ValueError, match=r"t >= 1 and m >= 1"):
        tb.rnn(cell, X[:0], h_0)
    with pytest.raises(ValueError, match=r"h_0 must have shape \(m=2, h=4\), got \(1, 4\)"):
        tb.rnn(cell, X, h_0[:1])
    with pytest.raises(TypeError, match="rnn_cell must be a textbook RNNCell or GRUCell, got LSTMCell"):
        tb.rnn(tb.LSTMCell(3, 4, 5), X, h_0)
    with pytest.raises(TypeError, match="rnn_cell must be a textbook RNNCell or GRUCell, got RNNCell"):
        tb.rnn(rnnkit.RNNCell(3, 4), X, h_0)               # rnnkit's own cell is not the textbook's
    with pytest.raises(TypeError, match="rnn_cells must be a non-empty list"):
        tb.deep_rnn(cell, X, h_0[None])
    with pytest.raises(ValueError, match=r"rnn_cells\[1\] must read layer 0's state: i=4 and h=4, got i=3"):
        tb.deep_rnn([cell, tb.RNNCell(3, 4, 5)], X, np.zeros((2, 2, 4)))
    with pytest.raises(ValueError, match=r"h_0 must have shape \(l=2, m=2, h=4\)"):
        tb.deep_rnn([cell, tb.RNNCell(4, 4, 5)], X, h_0)
    bi = tb.BidirectionalCell(3, 4, 5)
    with pytest.raises(ValueError, match=r"h_t must have shape \(m=2, h=4\)"):
        tb.bi_rnn(bi, X, h_0, np.zeros((2, 3)))
    with pytest.raises(TypeError, match="bi_cell must be a textbook BidirectionalCell, got RNNCell"):
        tb.bi_rnn(cell, X, h_0, h_0)


def test_bad_bptt_and_to_layer_inputs():
    cell, (X, h_0, Y_true) = tb.RNNCell(3, 4, 5), data()
    with pytest.raises(ValueError, match=r"Y_true must have shape \(t=5, m=2, o=5\), got \(5, 2, 4\)"):
        tb.bptt(cell, X, h_0, Y_true[..., :4])
    with pytest.raises(ValueError, match="Y_true must be one-hot"):
        tb.bptt(cell, X, h_0, Y_true * 0.5)
    with pytest.raises(ValueError, match="Y_true must be one-hot"):
        tb.bptt(cell, X, h_0, Y_true + Y_true[:, :, ::-1])
    with pytest.raises(TypeError, match="Y_true must have dtype float64"):
        tb.bptt(cell, X, h_0, Y_true.astype(np.int64))
    expected = "cell must be a textbook RNNCell or GRUCell or LSTMCell, got"
    with pytest.raises(TypeError, match=expected + " BidirectionalCell"):
        tb.bptt(tb.BidirectionalCell(3, 4, 5), X, h_0, Y_true)
    with pytest.raises(TypeError, match=expected + " str"):
        tb.to_layer("lstm")


# -- the worked example of docs/textbook.md -------------------------------------------------
def test_worked_example():
    text = "hello world"
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text])
    one_hot = np.eye(len(chars))
    X, Y_true = one_hot[ids[:-1]][:, None, :], one_hot[ids[1:]][:, None, :]
    h_0 = np.zeros((1, 16))
    np.random.seed(0)
    cell = tb.RNNCell(len(chars), 16, len(chars))
    _, Y = tb.rnn(cell, X, h_0)
    assert (Y.argmax(-1) == ids[1:, None]).mean() < 0.5          # it does not know the text yet
    for _ in range(300):
        loss, grads = tb.bptt(cell, X, h_0, Y_true)
        for name, grad in grads.items():
            getattr(cell, name)[...] -= 0.01 * grad
    _, Y = tb.rnn(cell, X, h_0)
    assert (Y.argmax(-1) == ids[1:, None]).mean() == 1.0
    loss = tb.bptt(cell, X, h_0, Y_true)[0]
    assert loss < 0.5

    layer, head = tb.to_layer(cell)
    loss_fn = rnnkit.CrossEntropyLoss(reduction="sum")
    optimizer = SGD(layer.parameters() + head.parameters(), lr=0.05)
    losses = []
    for _ in range(100):
        layer.zero_grad()
        head.zero_grad()
        out, _ = layer.forward(X, h0=h_0[None])
        losses.append(loss_fn.forward(head.forward(out), ids[1:, None]))
        layer.backward(head.backward(loss_fn.backward()))
        optimizer.step()
    assert losses[0] == pytest.approx(loss, abs=1e-9)             # the same model, the same loss
    assert losses[-1] < 0.75 * losses[0]
    with rnnkit.no_grad():
        h, generated = h_0[None], "h"
        for _ in range(len(text) - 1):
            out, h = layer.forward(one_hot[[chars.index(generated[-1])]][None], h0=h)
            generated += chars[int(head.forward(out)[0, 0].argmax())]
    assert generated == text
