"""tanh and sigmoid for the compiled float32 loops: a rational function LLVM vectorises.

NumPy's ``np.tanh`` is one call per array (about 2-3 ns per float32 element here), and
``math.tanh`` in a compiled loop is a scalar libm call. A rational function is only
multiplies, adds and one division, so a loop of it runs 8 lanes at a time (AVX2), about
0.5 ns per element, and can sit in the same pass as the rest of a step::

    x       = clamp(x, -CLAMP, CLAMP)            # beyond CLAMP float32 tanh is +-1; nan stays nan
    tanh(x) = x * P(x^2) / Q(x^2)                # P degree 6, Q degree 3, Q(0) = 1
    sigmoid(x) = 1/2 + tanh(x / 2) / 2

The coefficients were fitted by ``bench/fit_tanh.py`` (from the [7/6] Pade approximant,
Lawson-reweighted least squares towards the minimax fit): largest error 1.4e-9 in float64
arithmetic and 3.2e-7 evaluated in float32 (``np.tanh`` in float32: 6e-8), so a float32
step differs from the NumPy reference by a few units in the last place. The float64 paths
keep ``np.tanh``: they are the ones compared with PyTorch to 1e-10.
"""

from __future__ import annotations

import math

import numpy as np
from numba import types
from numba.extending import overload

from rnnkit.kernels._jit import njit

_F = np.float32
CLAMP = _F(7.90531110763549805)
P0, P1, P2, P3, P4, P5, P6 = (_F(c) for c in (
    0.9999999925106956, 0.13124328828538107, 0.0031493971095950327, 1.1644645102396046e-05,
    -2.233800220766826e-08, 6.38735323294274e-11, -1.165801102304599e-13))
Q1, Q2, Q3 = (_F(c) for c in (0.46457658713269806, 0.02467497237030609, 0.0002613124073558651))
ONE, HALF = _F(1.0), _F(0.5)


@njit
def tanh32(x):
    """float32 tanh of one value; inline it in a loop over contiguous arrays."""
    x = CLAMP if x > CLAMP else x                # comparisons, not min/max: nan stays nan
    x = -CLAMP if x < -CLAMP else x
    z = x * x
    p = ((((((P6 * z + P5) * z + P4) * z + P3) * z + P2) * z + P1) * z + P0) * x
    q = ((Q3 * z + Q2) * z + Q1) * z + ONE
    return p / q


@njit
def sigmoid32(x):
    """float32 sigmoid of one value: ``1/2 + tanh(x/2) / 2``."""
    return HALF + HALF * tanh32(HALF * x)


@njit
def tanh_array(x, out):
    """``out = tanh32(x)`` elementwise, 1-D contiguous float32 arrays (for tests and timing)."""
    for i in range(x.shape[0]):
        out[i] = tanh32(x[i])


# -- dtype-generic versions for loops compiled for both float32 and float64 -------------
def sigmoid_of(x):
    """In a compiled loop: ``sigmoid32`` for float32, ``1 / (1 + exp(-x))`` for float64."""
    raise NotImplementedError("only callable from compiled code")


def tanh_of(x):
    """In a compiled loop: ``tanh32`` for float32, ``1 - 2 / (exp(2x) + 1)`` for float64."""
    raise NotImplementedError("only callable from compiled code")


@overload(sigmoid_of)
def _sigmoid_of(x):
    if x == types.float32:
        return lambda x: sigmoid32(x)
    return lambda x: 1.0 / (1.0 + math.exp(-x))


@overload(tanh_of)
def _tanh_of(x):
    if x == types.float32:
        return lambda x: tanh32(x)
    return lambda x: 1.0 - 2.0 / (math.exp(x + x) + 1.0)   # exact limits at +-inf
