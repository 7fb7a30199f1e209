"""Bad input gets a ValueError/TypeError naming the argument and the expected shape."""

import numpy as np
import pytest

import rnnkit


@pytest.fixture
def lstm():
    return rnnkit.LSTM(3, 4, num_layers=2, bidirectional=True, seed=0)


def x32(*shape):
    return np.zeros(shape, np.float32)


def test_input_rank_and_shape(lstm):
    with pytest.raises(ValueError, match=r"x must have shape \(T, B, input_size=3\), got \(5, 3\)"):
        lstm.forward(x32(5, 3))
    with pytest.raises(ValueError, match=r"x must have shape \(T, B, input_size=3\), got \(5, 2, 4\)"):
        lstm.forward(x32(5, 2, 4))
    with pytest.raises(ValueError, match="T >= 1 and B >= 1"):
        lstm.forward(x32(0, 2, 3))
    bf = rnnkit.GRU(3, 4, batch_first=True)
    with pytest.raises(ValueError, match=r"\(B, T, input_size=3\)"):
        bf.forward(x32(2, 5))


def test_input_type_and_dtype(lstm):
    with pytest.raises(TypeError, match="x must be a numpy.ndarray"):
        lstm.forward([[[0.0, 0.0, 0.0]]])
    with pytest.raises(TypeError, match="x must have dtype float32"):
        lstm.forward(np.zeros((5, 2, 3)))
    with pytest.raises(TypeError, match="x must have dtype float32"):
        lstm.forward(np.zeros((5, 2, 3), np.int64))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values(lstm, bad):
    x = x32(5, 2, 3)
    x[2, 1, 0] = bad
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        lstm.forward(x)


def test_lengths(lstm):
    x = x32(5, 2, 3)
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T=5\]"):
        lstm.forward(x, lengths=np.array([0, 5]))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T=5\]"):
        lstm.forward(x, lengths=np.array([6, 5]))
    with pytest.raises(ValueError, match=r"lengths must have shape \(B=2,\)"):
        lstm.forward(x, lengths=np.array([5, 5, 5]))
    with pytest.raises(TypeError, match="lengths must be integers"):
        lstm.forward(x, lengths=np.array([5.0, 4.0]))


def test_initial_state(lstm):
    x = x32(5, 2, 3)
    with pytest.raises(TypeError, match=r"h0 must be a tuple \(h0, c0\)"):
        lstm.forward(x, x32(4, 2, 4))
    with pytest.raises(ValueError, match=r"h0 must have shape \(num_layers \* num_directions=4, B=2, hidden_size=4\), got \(2, 2, 4\)"):
        lstm.forward(x, (x32(2, 2, 4), x32(4, 2, 4)))
    with pytest.raises(ValueError, match=r"c0 must have shape"):
        lstm.forward(x, (x32(4, 2, 4), x32(4, 1, 4)))
    gru = rnnkit.GRU(3, 4)
    with pytest.raises(ValueError, match=r"h0 must have shape \(num_layers \* num_directions=1, B=2, hidden_size=4\)"):
        gru.forward(x, x32(2, 4))   # no silent broadcasting of a 2-D state


def test_backward_before_forward_and_twice(lstm):
    with pytest.raises(ValueError, match="LSTM.backward called before forward"):
        lstm.backward(x32(5, 2, 8))
    out, _ = lstm.forward(x32(5, 2, 3))
    with pytest.raises(ValueError, match=r"d_out must have shape \(T=5, B=2, 8\), got \(5, 2, 4\)"):
        lstm.backward(x32(5, 2, 4))
    with pytest.raises(TypeError, match=r"d_h_n must be a tuple"):
        lstm.backward(out, x32(4, 2, 4))
    lstm.backward(out)
    with pytest.raises(ValueError, match="before forward"):
        lstm.backward(out)


def test_cell_bad_input():
    cell = rnnkit.GRUCell(3, 4)
    with pytest.raises(ValueError, match=r"x must have shape \(B, input_size=3\)"):
        cell.forward(x32(2, 5))
    with pytest.raises(ValueError, match=r"h must have shape \(B=2, hidden_size=4\)"):
        cell.forward(x32(2, 3), x32(4))
    with pytest.raises(ValueError, match="GRUCell.backward called before forward"):
        cell.backward(x32(2, 4))
    with pytest.raises(TypeError, match=r"hx must be a tuple \(h, c\)"):
        rnnkit.LSTMCell(3, 4).forward(x32(2, 3), x32(2, 4))


@pytest.mark.parametrize("kwargs, message", [
    (dict(input_size=0, hidden_size=4), "input_size must be a positive integer"),
    (dict(input_size=3, hidden_size=2.5), "hidden_size must be a positive integer"),
    (dict(input_size=3, hidden_size=4, num_layers=0), "num_layers must be a positive integer"),
    (dict(input_size=3, hidden_size=4, dropout=1.0), r"dropout must be a float in \[0, 1\)"),
    (dict(input_size=3, hidden_size=4, dtype=np.int32), "dtype must be float32 or float64"),
])
def test_constructor_arguments(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        rnnkit.LSTM(**kwargs)


def test_nonlinearity_and_embedding_ids():
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        rnnkit.RNN(3, 4, nonlinearity="sigmoid")
    emb = rnnkit.Embedding(5, 2)
    with pytest.raises(ValueError, match=r"ids entries must lie in \[0, 5\)"):
        emb.forward(np.array([1, 5]))
    with pytest.raises(TypeError, match="ids must be an integer array"):
        emb.forward(np.array([1.0]))
    lin = rnnkit.Linear(3, 2)
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., in_features=3\)"):
        lin.forward(x32(4, 2))


@pytest.mark.parametrize("value, kwargs, message", [
    (0, dict(kind=int, low=1), "n must be a positive integer, got 0"),
    (True, dict(kind=int, low=1), "n must be a positive integer, got True"),
    (2.0, dict(kind=int, low=1), "n must be a positive integer, got 2.0"),
    (-1, dict(kind=int, low=0), "n must be a non-negative integer, got -1"),
    (0, dict(kind=int, low=1, none_ok=True), "n must be a positive integer or None, got 0"),
    (1.0, dict(kind=float, low=0.0, high=1.0, include_high=False), r"n must be a float in \[0, 1\), got 1.0"),
    (float("nan"), dict(kind=float, low=0.0), "n must be a finite number >= 0, got nan"),
    (0.0, dict(kind=float, low=0.0, include_low=False), "n must be a positive number, got 0.0"),
    ("3", dict(kind=float), "n must be a finite number, got '3'"),
    (5, dict(kind=int, low=5, include_low=False, note=" (warmup 5)"), r"n must be an integer > 5 \(warmup 5\), got 5"),
])
def test_check_scalar_names_the_argument_and_the_expected_range(value, kwargs, message):
    from rnnkit._validation import check_scalar

    with pytest.raises(ValueError, match=f"^{message}$"):
        check_scalar(value, "n", **kwargs)


def test_check_scalar_returns_python_numbers():
    from rnnkit._validation import check_scalar

    assert check_scalar(np.int64(3), "n", int, low=1) == 3
    assert type(check_scalar(np.int64(3), "n", int, low=1)) is int
    assert type(check_scalar(np.float32(0.5), "p", float, low=0.0, high=1.0)) is float
    assert check_scalar(None, "n", int, low=1, none_ok=True) is None
