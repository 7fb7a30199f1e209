"""Fit the rational tanh of ``rnnkit/kernels/_activations.py`` and print its coefficients.

    tanh(x) ~ x * P(x^2) / Q(x^2),   P of degree 6, Q of degree 3 with Q(0) = 1,

on ``0 <= x <= CLAMP`` (the odd symmetry gives the negative half; past CLAMP, float32's
tanh is 1). Start from the [7/6] Pade approximant of tanh (Q's coefficients all positive,
so no pole), then Levenberg-Marquardt on the error with Lawson reweighting, which moves the
least-squares fit towards the minimax one; only fits whose Q stays positive on the whole
range are kept. Prints the coefficients, the largest error in float64 arithmetic and the
largest error of the float32 evaluation against float64 tanh (np.tanh's own float32 error
for comparison).

Usage: python bench/fit_tanh.py  (needs SciPy; a few seconds)
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares

CLAMP = 7.90531110763549805          # float32(tanh(x)) == 1 for every x beyond
N_P, N_Q = 7, 4                      # coefficients of P (x^0..x^12) and Q (x^0..x^6)


def split(theta):
    return theta[:N_P], np.concatenate([[1.0], theta[N_P:]])


def rational(theta, x):
    p, q = split(theta)
    z = x * x
    return x * np.polyval(p[::-1], z) / np.polyval(q[::-1], z)


def fit(rounds: int = 40):
    x = np.concatenate([np.linspace(0, 1, 3000), np.linspace(1, CLAMP, 5000)])
    y = np.tanh(x)
    pade = np.array([135135, 17325, 378, 1, 0, 0, 0, 62370, 3150, 28], float) / 135135
    theta, weights, best = pade, np.ones_like(x), None
    for _ in range(rounds):
        theta = least_squares(lambda t: (rational(t, x) - y) * np.sqrt(weights), theta,
                              method="lm", max_nfev=4000, xtol=1e-15, ftol=1e-15).x
        error = rational(theta, x) - y
        worst = np.abs(error).max()
        q_min = np.polyval(split(theta)[1][::-1], np.linspace(0, CLAMP**2, 1000)).min()
        if q_min > 0 and (best is None or worst < best[0]):
            best = (worst, theta.copy())
        weights = weights * (np.abs(error) / worst + 1e-3)
        weights /= weights.mean()
    return best


def float32_error(theta) -> float:
    p, q = (c.astype(np.float32) for c in split(theta))
    x = np.linspace(-9, 9, 4_000_001).astype(np.float32)
    v = np.clip(x, np.float32(-CLAMP), np.float32(CLAMP))
    z = v * v
    num, den = np.zeros_like(v), np.zeros_like(v)
    for c in p[::-1]:
        num = num * z + c
    for c in q[::-1]:
        den = den * z + c
    return float(np.abs((v * num / den).astype(np.float64) - np.tanh(x.astype(np.float64))).max())


def main():
    worst, theta = fit()
    p, q = split(theta)
    x = np.linspace(-9, 9, 4_000_001).astype(np.float32)
    numpy_error = np.abs(np.tanh(x).astype(np.float64) - np.tanh(x.astype(np.float64))).max()
    print(f"P = {[float(c) for c in p]}\nQ = {[float(c) for c in q]}")
    print(f"max |error| in float64 arithmetic {worst:.3g}; evaluated in float32 "
          f"{float32_error(theta):.3g} (np.tanh in float32: {numpy_error:.3g})")


if __name__ == "__main__":
    main()
