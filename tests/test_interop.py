"""rnnkit.interop: from_torch/to_torch round trips, gradients handed over, lazy torch import."""

import subprocess
import sys

import numpy as np
import pytest

import rnnkit

torch = pytest.importorskip("torch")
from rnnkit import interop  # noqa: E402


@pytest.mark.parametrize("make", [
    lambda: torch.nn.RNN(3, 4, num_layers=2, nonlinearity="relu", batch_first=True),
    lambda: torch.nn.GRU(3, 4, bidirectional=True, bias=False),
    lambda: torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, dropout=0.25),
    lambda: torch.nn.RNNCell(3, 4, nonlinearity="tanh"),
    lambda: torch.nn.GRUCell(3, 4),
    lambda: torch.nn.LSTMCell(3, 4),
])
def test_round_trip_keeps_config_and_weights(make):
    module = make()
    ours = interop.from_torch(module)
    assert ours.dtype == np.float32
    back = interop.to_torch(ours)
    assert type(back) is type(module)
    for attr in ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "bidirectional", "dropout", "nonlinearity"):
        assert getattr(back, attr, None) == getattr(module, attr, None), attr
    for (n, p), (m, q) in zip(module.named_parameters(), back.named_parameters()):
        assert n == m
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_to_torch_hands_over_gradients():
    rng = np.random.default_rng(0)
    layer = rnnkit.LSTM(3, 4, bidirectional=True, dtype=np.float64, seed=0)
    x = rng.standard_normal((5, 2, 3))
    out, _ = layer.forward(x)
    layer.backward(np.ones_like(out))
    module = interop.to_torch(layer)
    assert module.weight_ih_l0.dtype == torch.float64
    for name, p in module.named_parameters():
        np.testing.assert_array_equal(p.grad.numpy(), dict(layer.named_parameters())[name].grad)
    # and torch's own backward gives the same gradients
    module.zero_grad()
    module(torch.tensor(x))[0].sum().backward()
    for name, p in module.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), dict(layer.named_parameters())[name].grad, atol=1e-12, rtol=0)


def test_refusals():
    with pytest.raises(TypeError, match="from_torch expects"):
        interop.from_torch(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="proj_size"):
        interop.from_torch(torch.nn.LSTM(3, 4, proj_size=2))
    with pytest.raises(ValueError, match="reset_after=False"):
        interop.to_torch(rnnkit.GRU(3, 4, reset_after=False))


def test_import_rnnkit_does_not_import_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import rnnkit, rnnkit.interop\n"
            "import numpy as np\n"
            "l = rnnkit.LSTM(2, 3); l.forward(np.zeros((2, 1, 2), np.float32))\n"
            "print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr
