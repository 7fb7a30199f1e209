"""Drawing the next token: temperature, top-k and banned tokens over a row of logits.

For a row of logits ``z (V,)``::

    z[banned] = -inf;   z[z < k-th largest] = -inf          # top-k (ties with the k-th kept)
    p = softmax(z / temperature)                             # temperature 0: argmax instead
    id = the first v with cumsum(p)[v] > u,  u ~ U[0, 1)     # inverse-CDF, seeded Generator

:func:`rnnkit.decoding.sample_search` calls it at every position of a sequence.
"""

from __future__ import annotations

import numpy as np

from rnnkit._validation import check_scalar
from rnnkit.errors import InputError, InputTypeError


def check_sampling_args(temperature, top_k) -> tuple[float, int | None]:
    """Validate ``temperature`` (finite, >= 0) and ``top_k`` (None or int >= 1)."""
    return (check_scalar(temperature, "temperature", float, low=0.0, note=" (0 = greedy)"),
            check_scalar(top_k, "top_k", int, low=1, none_ok=True))


def sample_next(logits, rng: np.random.Generator, temperature: float = 1.0,
                top_k: int | None = None, banned=()) -> np.ndarray:
    """Draw one token id per row of ``logits``.

    Parameters
    ----------
    logits : array (B, V) or (V,)
    rng : numpy.random.Generator
    temperature : float >= 0
        Divides the logits; < 1 sharpens, > 1 flattens, 0 takes the argmax.
    top_k : int or None
        Keep only the ``top_k`` largest logits of each row (ties with the k-th kept).
    banned : sequence of int
        Ids that are never drawn (special tokens).

    Returns
    -------
    int64 array (B,) (one int64 scalar for 1-D ``logits``).
    """
    temperature, top_k = check_sampling_args(temperature, top_k)
    check_rng(rng)
    z = np.array(logits, dtype=np.float64)                    # (B, V), a copy we may edit
    single = z.ndim == 1
    z = z.reshape(1, -1) if single else z
    if z.ndim != 2 or z.shape[1] == 0:
        raise InputError(f"logits must have shape (B, V) or (V,), got {np.shape(logits)}")
    if not np.isfinite(z).all():
        raise InputError("logits contain NaN or inf values")
    banned = check_banned(banned, z.shape[1])
    ids = draw(z, rng, temperature, top_k, banned)
    return ids[0] if single else ids


def check_rng(rng) -> None:
    if not isinstance(rng, np.random.Generator):
        raise InputTypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")


def check_banned(banned, vocab_size) -> list[int]:
    banned = sorted({int(b) for b in banned})
    if len(banned) >= vocab_size:
        raise InputError("every token is banned; nothing can be sampled")
    return banned


def draw(z, rng, temperature, top_k, banned) -> np.ndarray:
    """The sampling itself, on a float64 (B, V) array it may overwrite; no checks
    (callers check with :func:`check_sampling_args`, :func:`check_rng`, :func:`check_banned`)."""
    V = z.shape[1]
    if banned:
        z[:, banned] = -np.inf
    if top_k is not None and top_k < V:
        kth = np.partition(z, V - top_k, axis=1)[:, V - top_k:V - top_k + 1]   # (B, 1)
        z[z < kth] = -np.inf
    if temperature == 0.0:
        return z.argmax(axis=1)
    z = (z - z.max(axis=1, keepdims=True)) / temperature      # max 0: exp cannot overflow
    cdf = np.cumsum(np.exp(z), axis=1)                         # (B, V), unnormalised
    u = rng.random((z.shape[0], 1)) * cdf[:, -1:]              # (B, 1) uniform in [0, total)
    ids = np.minimum((cdf <= u).sum(axis=1), V - 1)
    # A zero-probability token can only be hit at the edge of the cdf; step back.
    bad = ~np.isfinite(z[np.arange(len(ids)), ids])
    if bad.any():
        ids[bad] = z[bad].argmax(axis=1)
    return ids
