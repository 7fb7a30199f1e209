"""The rational float32 tanh and sigmoid of the compiled loops (rnnkit/kernels/_activations.py)
against float64 NumPy: within a few float32 units in the last place everywhere, odd, bounded
by 1, and nan in gives nan out."""

import numpy as np
import pytest

from rnnkit import kernels

pytestmark = pytest.mark.skipif(not kernels.available(), reason="numba is not installed")


def _apply(fn, x):
    from rnnkit.kernels._jit import njit

    @njit
    def loop(values, out):
        for i in range(values.shape[0]):
            out[i] = fn(values[i])

    out = np.empty_like(x)
    loop(x, out)
    return out


def test_tanh32_is_within_4e7_of_tanh_odd_and_bounded():
    from rnnkit.kernels._activations import tanh32, tanh_array

    x = np.linspace(-12, 12, 1_200_001).astype(np.float32)
    y = np.empty_like(x)
    tanh_array(x, y)
    assert y.dtype == np.float32
    error = np.abs(y.astype(np.float64) - np.tanh(x.astype(np.float64)))
    assert error.max() < 4e-7                                   # np.tanh in float32: 6e-8
    assert np.abs(y).max() <= 1.0
    mirrored = np.empty_like(x)
    tanh_array(-x, mirrored)
    np.testing.assert_array_equal(y, -mirrored)                 # odd
    small = np.float32([1e-30, 1e-8, 1e-4])
    np.testing.assert_allclose(_apply(tanh32, small), small, rtol=2e-7)   # tanh x ~ x near 0
    special = _apply(tanh32, np.float32([np.nan, np.inf, -np.inf]))
    assert np.isnan(special[0]) and special[1] == pytest.approx(1, abs=4e-7) and special[2] == pytest.approx(-1, abs=4e-7)


def test_sigmoid32_is_within_2e7_of_the_logistic():
    from rnnkit.kernels._activations import sigmoid32

    x = np.linspace(-30, 30, 600_001).astype(np.float32)
    y = _apply(sigmoid32, x)
    exact = 1 / (1 + np.exp(-x.astype(np.float64)))
    assert np.abs(y - exact).max() < 2e-7
    assert y.min() >= 0 and y.max() <= 1
    assert np.isnan(_apply(sigmoid32, np.float32([np.nan]))[0])
