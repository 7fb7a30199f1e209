"""Input checks used once at each public boundary.

Every failure names the argument and what was expected; nothing is broadcast
or cast silently. Inner kernels trust what passed through here.
"""

from __future__ import annotations

import math

import numpy as np

from rnnkit.errors import InputError, InputTypeError


def check_float_array(
    value,
    name: str,
    shape: tuple,
    dtype: np.dtype,
    shape_doc: str,
) -> np.ndarray:
    """Check that ``value`` is a finite float ndarray of ``dtype`` and ``shape``.

    ``shape`` holds ints or ``None`` (any size); ``shape_doc`` is how the shape
    is written for the user, e.g. ``"(T, B, input_size=8)"``.
    """
    if not isinstance(value, np.ndarray):
        raise InputTypeError(
            f"{name} must be a numpy.ndarray of shape {shape_doc}, got {type(value).__name__}"
        )
    if value.dtype != dtype:
        raise InputTypeError(
            f"{name} must have dtype {np.dtype(dtype).name} (the module's dtype), "
            f"got {value.dtype}; convert with .astype(np.{np.dtype(dtype).name})"
        )
    check_shape(value, name, shape, shape_doc)
    if not np.isfinite(value).all():
        raise InputError(f"{name} contains NaN or inf values")
    return value


def check_shape(value: np.ndarray, name: str, shape: tuple, shape_doc: str) -> None:
    if value.ndim != len(shape) or any(
        want is not None and got != want for got, want in zip(value.shape, shape)
    ):
        raise InputError(f"{name} must have shape {shape_doc}, got {value.shape}")


def check_lengths(lengths, batch_size: int, max_len: int, name: str = "lengths", low: int = 1,
                  max_name: str | None = "T") -> np.ndarray:
    """Check sequence lengths: integers of shape (B,) with low <= length <= max_len
    (``max_name`` is how the bound is named in the message: ``[1, T=7]``)."""
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise InputTypeError(f"{name} must be integers of shape (B={batch_size},), got dtype {arr.dtype}")
    if arr.shape != (batch_size,):
        raise InputError(f"{name} must have shape (B={batch_size},), got {arr.shape}")
    if arr.size and (arr.min() < low or arr.max() > max_len):
        bound = f"{max_name}={max_len}" if max_name else f"{max_len}"
        raise InputError(
            f"{name} must lie in [{low}, {bound}], got min {arr.min()} and max {arr.max()}"
        )
    return arr.astype(np.int64)


def check_index_array(value, name: str, upper: int) -> np.ndarray:
    """Check an integer array whose entries lie in [0, upper)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        raise InputTypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= upper):
        raise InputError(
            f"{name} entries must lie in [0, {upper}), got min {arr.min()} and max {arr.max()}"
        )
    return arr


def check_scalar(value, name: str, kind=int, *, low=None, high=None, include_low=True,
                 include_high=True, none_ok=False, note=""):
    """The one check of a numeric argument (as scikit-learn's ``check_scalar``).

    ``kind`` is ``int`` (any integer type, not bool) or ``float`` (any finite real, not
    bool); ``low`` / ``high`` bound it, inclusively unless ``include_low`` /
    ``include_high`` is False; ``none_ok`` lets None through. Returns a Python int or
    float (or None). The ValueError says what was expected, e.g. "seq_len must be a
    positive integer, got 0"; ``note`` is appended to that description.
    """
    if value is None and none_ok:
        return None
    integral = kind is int
    types = (int, np.integer) if integral else (int, float, np.integer, np.floating)
    ok = isinstance(value, types) and not isinstance(value, (bool, np.bool_))
    if ok and not integral:
        ok = math.isfinite(value)
    if ok and low is not None:
        ok = value >= low if include_low else value > low
    if ok and high is not None:
        ok = value <= high if include_high else value < high
    if not ok:
        expected = _describe(integral, low, high, include_low, include_high)
        raise InputError(f"{name} must be {expected}{note}{' or None' if none_ok else ''}, "
                         f"got {value!r}")
    return int(value) if integral else float(value)


def _describe(integral, low, high, include_low, include_high) -> str:
    noun = "integer" if integral else "number"
    if high is not None:
        left, right = "[" if include_low else "(", "]" if include_high else ")"
        return f"{'an integer' if integral else 'a float'} in {left}{low:g}, {high:g}{right}"
    if low is None:
        return f"a finite {noun}" if not integral else "an integer"
    if low == 0 and not include_low or (integral and low == 1 and include_low):
        return f"a positive {noun}"
    if low == 0 and integral:
        return "a non-negative integer"
    return f"a{' finite' if not integral else 'n'} {noun} {'>=' if include_low else '>'} {low:g}"


def check_positive_int(value, name: str) -> int:
    return check_scalar(value, name, int, low=1)


def check_probability(value, name: str) -> float:
    return check_scalar(value, name, float, low=0.0, high=1.0, include_high=False)


def check_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise InputTypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


def require_forward(cache, module: str) -> None:
    if cache is None:
        raise InputError(f"{module}.backward called before forward (no cached activations)")
