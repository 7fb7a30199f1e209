"""Gate saturation: how often each unit's gates are nearly shut or nearly open.

Karpathy, Johnson & Fei-Fei (2015), section 4.3: a gate value below 0.1 is
*left-saturated* (the gate is shut), above 0.9 *right-saturated* (open). For each
layer, direction, gate and unit ``j``, over every step ``t`` and sequence ``b`` traced::

    left[j]  = mean over (t, b) of [gate[t, b, j] < low]        # low = 0.1
    right[j] = mean over (t, b) of [gate[t, b, j] > high]       # high = 0.9

A unit near ``right = 1`` on its forget gate is an integrator that keeps its cell for
long stretches; near ``left = 1`` it is reset at every step; the paper's scatter plots
put ``left`` on x and ``right`` on y, one dot per unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit._validation import check_scalar
from rnnkit.errors import InputError

LOW, HIGH = 0.1, 0.9


@dataclass
class GateSaturation:
    """One gate of one layer and direction: ``left`` and ``right`` are ``(H,)`` fractions."""

    layer: str                  # e.g. "layer 0", "layer 1 reverse"
    gate: str                   # e.g. "forget"
    left: np.ndarray
    right: np.ndarray


def gate_saturation(traced, low: float = LOW, high: float = HIGH) -> list[GateSaturation]:
    """Saturation fractions of every gate of a :func:`rnnkit.inspect.trace` (an Elman RNN
    has no gates: the list is empty)."""
    low = check_scalar(low, "low", float, low=0.0, high=1.0)
    high = check_scalar(high, "high", float, low=0.0, high=1.0)
    if not low < high:
        raise InputError(f"low must be below high, got low={low}, high={high}")
    result = []
    for direction in traced.directions:
        for gate, values in direction.gates.items():            # values (T, B, H)
            result.append(GateSaturation(direction.name, gate,
                                         (values < low).mean(axis=(0, 1)),
                                         (values > high).mean(axis=(0, 1))))
    return result
