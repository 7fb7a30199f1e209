"""repr() of the recurrent layers reads like the constructor call, as torch's does."""

import numpy as np
import pytest

from rnnkit.layers.recurrent import GRU, LSTM, RNN


def test_repr_shows_batch_first_and_dropout_like_torch():
    layer = LSTM(8, 16, num_layers=2, batch_first=True, dropout=0.25, bidirectional=True)
    assert repr(layer) == "LSTM(8, 16, num_layers=2, batch_first=True, dropout=0.25, bidirectional=True)"


def test_repr_omits_defaults_and_shows_rnnkit_only_options_when_changed():
    assert repr(GRU(3, 4)) == "GRU(3, 4)"
    assert repr(GRU(3, 4, reset_after=False)) == "GRU(3, 4, reset_after=False)"
    assert (repr(RNN(3, 4, nonlinearity="relu", bias=False, dtype=np.float64))
            == "RNN(3, 4, nonlinearity='relu', bias=False, dtype=numpy.float64)")


@pytest.mark.parametrize("kwargs", [
    {},
    {"num_layers": 2, "batch_first": True, "dropout": 0.25, "bidirectional": True},
    {"bias": False},
])
def test_repr_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    assert repr(LSTM(8, 16, **kwargs)) == repr(torch.nn.LSTM(8, 16, **kwargs))
