"""Text generation (one-to-many): sample a language model one token at a time.

Given a model with ``forward(ids (T, B), state) -> (logits (T, B, V), state)``
(:class:`rnnkit.models.LanguageModel`) and the :class:`rnnkit.data.Vocabulary`
it was trained with, :func:`generate` runs, under ``rnnkit.no_grad()`` and in
eval mode (no dropout)::

    x_0..x_{P-1} = encode(prime)               # unknown prime tokens are skipped (char
                                               # level) or read as <unk> (word level)
    logits, s    = model(x_0..x_{P-1}, s_0)    # one call over the whole prime
    repeat length times:
        y      ~ sample_next(logits[-1])       # temperature, top-k, seeded generator
        logits, s = model(y, s)                # T = 1, the state carries on

With an empty prime the model is primed with ``"\\n"`` when the vocabulary has
it (a speech in the Shakespeare format starts after a newline), otherwise with
a token drawn uniformly from the seeded generator; that starting token is not
part of the output.

:func:`sample_next` draws the next token from ``softmax(logits / temperature)``
restricted to the ``top_k`` largest logits (ties with the k-th are kept), by
inverse-CDF sampling on one ``numpy.random.Generator``: the same seed gives the
same text. ``temperature=0`` means greedy (argmax). Special tokens (pad, unk)
are never produced.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from rnnkit._validation import check_scalar
from rnnkit.module import no_grad


@dataclass(frozen=True)
class Generation:
    """What :func:`generate` returns.

    text : the generated continuation (the prime is not repeated)
    prime : the prime as the model saw it (unknown characters removed)
    skipped : distinct prime tokens that are not in the vocabulary
    num_tokens : tokens generated (``length``)
    seconds : wall time of priming and sampling
    """

    text: str
    prime: str
    skipped: tuple[str, ...]
    num_tokens: int
    seconds: float

    @property
    def tokens_per_second(self) -> float:
        return self.num_tokens / self.seconds if self.seconds > 0 else float("inf")

    @property
    def chars_per_second(self) -> float:
        return len(self.text) / self.seconds if self.seconds > 0 else float("inf")


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
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    z = np.array(logits, dtype=np.float64)                    # (B, V), a copy we may edit
    single = z.ndim == 1
    z = z.reshape(1, -1) if single else z
    if z.ndim != 2 or z.shape[1] == 0:
        raise ValueError(f"logits must have shape (B, V) or (V,), got {np.shape(logits)}")
    if not np.isfinite(z).all():
        raise ValueError("logits contain NaN or inf values")
    banned = sorted({int(b) for b in banned})
    if len(banned) >= z.shape[1]:
        raise ValueError("every token is banned; nothing can be sampled")
    ids = _draw(z, rng, temperature, top_k, banned)
    return ids[0] if single else ids


def _draw(z, rng, temperature, top_k, banned) -> np.ndarray:
    """The sampling itself, on a float64 (B, V) array it may overwrite; no checks."""
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


def generate(model, vocab, length: int = 300, prime: str = "", temperature: float = 1.0,
             top_k: int | None = None, seed: int | None = None) -> Generation:
    """Sample ``length`` tokens from ``model`` after ``prime`` (see the module docstring).

    Parameters
    ----------
    model : LanguageModel (or anything with the same ``forward`` and ``vocab_size``)
    vocab : rnnkit.data.Vocabulary
        The vocabulary the model was trained with (``len(vocab) == vocab_size``).
    length : int >= 1
        Tokens to generate (characters at char level, words at word level).
    prime : str
        Text the generation continues.
    temperature, top_k : see :func:`sample_next`
    seed : int or None
        Seeds the sampling generator; the same seed gives the same text.
    """
    check_scalar(length, "length", int, low=1)
    if not isinstance(prime, str):
        raise TypeError(f"prime must be a str, got {type(prime).__name__}")
    vocab_size = getattr(model, "vocab_size", len(vocab))
    if len(vocab) != vocab_size:
        raise ValueError(f"vocab has {len(vocab)} tokens but the model predicts {vocab_size}; "
                         f"use the vocabulary saved with the model")
    temperature, top_k = check_sampling_args(temperature, top_k)
    rng = np.random.default_rng(seed)
    banned = sorted(vocab.special_ids)
    skipped = tuple(vocab.unknown(prime))
    given_ids = vocab.encode(prime, on_unknown="auto")                   # (P,)
    start = time.perf_counter()
    prime_ids = given_ids if given_ids.size else _start_token(vocab, rng)
    out = np.empty(int(length), dtype=np.int64)
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with no_grad():
            logits, state = model.forward(prime_ids.reshape(-1, 1))           # (P, 1, V)
            for t in range(int(length)):
                z = logits[-1].astype(np.float64)                              # (1, V)
                out[t] = _draw(z, rng, temperature, top_k, banned)[0]
                logits, state = model.forward(out[t:t + 1].reshape(1, 1), state)  # (1, 1, V)
    finally:
        if hasattr(model, "train"):
            model.train(was_training)
    seconds = time.perf_counter() - start
    used_prime = vocab.decode(given_ids)
    return Generation(text=_continuation(vocab, given_ids, out), prime=used_prime,
                      skipped=skipped, num_tokens=int(length), seconds=seconds)


def _start_token(vocab, rng) -> np.ndarray:
    if "\n" in vocab:
        return np.array([vocab.token_to_id("\n")], dtype=np.int64)
    candidates = [i for i in range(len(vocab)) if i not in set(vocab.special_ids)]
    return np.array([candidates[int(rng.integers(len(candidates)))]], dtype=np.int64)


def _continuation(vocab, prime_ids: np.ndarray, ids: np.ndarray) -> str:
    if vocab.level == "char" or prime_ids.size == 0:
        return vocab.decode(ids)
    # Word level: decode prime and continuation together so the spacing at the seam
    # follows the detokenizer's rules, then cut the prime off.
    prime = vocab.decode(prime_ids)
    whole = vocab.decode(np.concatenate([prime_ids, ids]))
    return whole[len(prime):] if whole.startswith(prime) else vocab.decode(ids)
