"""rnnkit.RNN/GRU/LSTM against torch.nn.RNN/GRU/LSTM in float64: outputs, final states,
input and initial-state gradients, and every parameter gradient."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import TORCH_TOL, as_tuple, torch_sequence_run  # noqa: E402

import rnnkit  # noqa: E402
from rnnkit import interop  # noqa: E402

TORCH_CLASSES = {
    "rnn_tanh": lambda **kw: torch.nn.RNN(nonlinearity="tanh", **kw),
    "rnn_relu": lambda **kw: torch.nn.RNN(nonlinearity="relu", **kw),
    "gru": lambda **kw: torch.nn.GRU(**kw),
    "lstm": lambda **kw: torch.nn.LSTM(**kw),
}

CONFIGS = [
    # num_layers, bidirectional, batch_first, variable lengths, with h0, bias
    (1, False, False, False, False, True),
    (1, False, False, False, True, True),
    (2, True, False, False, True, True),
    (2, True, True, False, True, True),
    (1, True, False, True, True, True),
    (2, True, False, True, True, True),
    (3, False, True, True, False, True),
    (2, True, True, True, True, True),
    (2, False, False, False, True, False),
]


def compare(kind, num_layers, bidirectional, batch_first, varlen, with_h0, bias, seed=0):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    T, B, D, H = 7, 4, 3, 5
    tm = TORCH_CLASSES[kind](input_size=D, hidden_size=H, num_layers=num_layers, bias=bias,
                             bidirectional=bidirectional, batch_first=batch_first).double()
    ours = interop.from_torch(tm)
    dirs = 2 if bidirectional else 1
    x = rng.standard_normal((B, T, D) if batch_first else (T, B, D))
    n_states = 2 if kind == "lstm" else 1
    state_shape = (num_layers * dirs, B, H)
    hx = tuple(rng.standard_normal(state_shape) for _ in range(n_states)) if with_h0 else None
    lengths = np.array([7, 3, 1, 5]) if varlen else None

    h0 = None if hx is None else (hx if n_states == 2 else hx[0])
    out, h_n = ours.forward(x, h0, lengths)
    d_out = rng.standard_normal(out.shape)
    d_h_n = tuple(rng.standard_normal(state_shape) for _ in range(n_states))
    ours.zero_grad()
    dx, dh0 = ours.backward(d_out, d_h_n if n_states == 2 else d_h_n[0])

    t_out, t_h_n, t_dx, t_dh0 = torch_sequence_run(tm, x, hx, lengths, d_out, d_h_n)
    diffs = {
        "out": np.abs(out - t_out).max(),
        "dx": np.abs(dx - t_dx).max(),
    }
    for k, (a, b) in enumerate(zip(as_tuple(h_n), t_h_n)):
        diffs[f"h_n[{k}]"] = np.abs(a - b).max()
    if with_h0:
        for k, (a, b) in enumerate(zip(as_tuple(dh0), t_dh0)):
            diffs[f"dh0[{k}]"] = np.abs(a - b).max()
    grads = dict(ours.named_parameters())
    for name, p in tm.named_parameters():
        diffs[name] = np.abs(grads[name].grad - p.grad.numpy()).max()
    return diffs


@pytest.mark.parametrize("kind", list(TORCH_CLASSES))
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "L{}-bi{}-bf{}-var{}-h0{}-bias{}".format(*map(int, c)))
def test_sequence_layer_matches_torch(kind, config):
    diffs = compare(kind, *config)
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] < TORCH_TOL, f"{worst} differs by {diffs[worst]:.2e}"


def test_padded_outputs_are_zero_and_states_are_last_valid():
    rng = np.random.default_rng(1)
    tm = torch.nn.LSTM(3, 4, bidirectional=True).double()
    ours = interop.from_torch(tm)
    x = rng.standard_normal((6, 3, 3))
    lengths = np.array([6, 2, 4])
    out, (h_n, _) = ours.forward(x, lengths=lengths)
    for b, L in enumerate(lengths):
        assert np.all(out[L:, b] == 0)
        np.testing.assert_array_equal(h_n[0, b], out[L - 1, b, :4])   # forward ends at L-1
        np.testing.assert_array_equal(h_n[1, b], out[0, b, 4:])       # reverse ends at 0
    # each sequence alone gives the same result as inside the padded batch
    for b, L in enumerate(lengths):
        alone, _ = ours.forward(x[:L, b:b + 1])
        np.testing.assert_allclose(alone[:, 0], out[:L, b], rtol=0, atol=1e-14)


def test_padded_steps_receive_no_gradient():
    rng = np.random.default_rng(2)
    ours = interop.from_torch(torch.nn.GRU(3, 4, num_layers=2, bidirectional=True).double())
    x = rng.standard_normal((6, 2, 3))
    out, _ = ours.forward(x, lengths=np.array([6, 3]))
    dx, _ = ours.backward(rng.standard_normal(out.shape))   # gradient also at padded outputs
    assert np.all(dx[3:, 1] == 0)
    assert np.all(dx[:3, 1] != 0)


def test_dropout_between_layers_is_active_only_in_training():
    layer = interop.from_torch(torch.nn.LSTM(3, 4, num_layers=2).double())
    layer.dropout = 0.5
    x = np.random.default_rng(3).standard_normal((5, 2, 3))
    a, _ = layer.forward(x)
    b, _ = layer.forward(x)
    assert not np.allclose(a, b)
    layer.eval()
    c, _ = layer.forward(x)
    d, _ = layer.forward(x)
    np.testing.assert_array_equal(c, d)


@pytest.mark.parametrize("fast_path", [True, False])
def test_no_grad_keeps_no_activations_even_with_dropout_in_training(fast_path):
    """Under no_grad a multi-layer layer with dropout, in training mode, caches nothing
    (the dropout keep-probability once overwrote the 'keep caches' flag)."""
    layer = interop.from_torch(torch.nn.LSTM(3, 4, num_layers=3).double())
    layer.dropout, layer.fast_path = 0.5, fast_path
    x = np.random.default_rng(3).standard_normal((5, 2, 3))
    with rnnkit.no_grad():
        layer.forward(x)
    assert layer._cache is None
    with pytest.raises(ValueError, match="backward called before forward"):
        layer.backward(np.zeros((5, 2, 4)))
    layer.forward(x)
    assert layer._cache is not None
