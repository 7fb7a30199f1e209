"""Text generation (one-to-many): sample a language model one token at a time.

Given a model with ``forward(ids (T, B), state) -> (logits (T, B, V), state)``
(:class:`rnnkit.models.LanguageModel`) and the :class:`rnnkit.data.Vocabulary`
it was trained with, :func:`generate` runs, under ``rnnkit.no_grad()`` and in
eval mode (no dropout)::

    x_0..x_{P-1} = encode(prime)               # unknown prime tokens are skipped (char
                                               # level) or read as <unk> (word level)
    logits, s    = model(x_0..x_{P-1}, s_0)    # one call over the whole prime
    repeat length times:                       # rnnkit.decoding.sample_search
        y      ~ sample_next(logits[-1])       # temperature, top-k, seeded generator
        logits, s = model(y, s)                # T = 1, the state carries on

With an empty prime the model is primed with ``"\\n"`` when the vocabulary has
it (a speech in the Shakespeare format starts after a newline), otherwise with
a token drawn uniformly from the seeded generator; that starting token is not
part of the output.

:func:`sample_next` (from :mod:`rnnkit.decoding`, re-exported here) draws the
next token from ``softmax(logits / temperature)`` restricted to the ``top_k``
largest logits (ties with the k-th are kept), by inverse-CDF sampling on one
``numpy.random.Generator``: the same seed gives the same text. ``temperature=0``
means greedy (argmax). Special tokens (pad, unk) are never produced.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from rnnkit._validation import check_scalar
from rnnkit.decoding import sample_search
from rnnkit.sampling import check_sampling_args, sample_next
from rnnkit.errors import InputError, InputTypeError
from rnnkit.module import no_grad

__all__ = ["Generation", "generate", "sample_next", "check_sampling_args"]


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
        raise InputTypeError(f"prime must be a str, got {type(prime).__name__}")
    vocab_size = getattr(model, "vocab_size", len(vocab))
    if len(vocab) != vocab_size:
        raise InputError(f"vocab has {len(vocab)} tokens but the model predicts {vocab_size}; "
                         f"use the vocabulary saved with the model")
    temperature, top_k = check_sampling_args(temperature, top_k)
    rng = np.random.default_rng(seed)
    banned = sorted(vocab.special_ids)
    skipped = tuple(vocab.unknown(prime))
    given_ids = vocab.encode(prime, on_unknown="auto")                   # (P,)
    start = time.perf_counter()
    prime_ids = given_ids if given_ids.size else _start_token(vocab, rng)
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with no_grad():
            logits, state = model.forward(prime_ids.reshape(-1, 1))           # (P, 1, V)
            out = sample_search(_model_step(model), None, state, int(length), rng,
                                temperature=temperature, top_k=top_k, banned=banned,
                                first_logits=logits[-1]).tokens[0]             # (length,)
    finally:
        if hasattr(model, "train"):
            model.train(was_training)
    seconds = time.perf_counter() - start
    used_prime = vocab.decode(given_ids)
    return Generation(text=_continuation(vocab, given_ids, out), prime=used_prime,
                      skipped=skipped, num_tokens=int(length), seconds=seconds)


def _model_step(model):
    """``step(tokens (B,), state) -> (logits (B, V), state)``: ``model.forward`` with T = 1."""
    def step(tokens, state):
        logits, state = model.forward(tokens.reshape(1, -1), state)          # (1, B, V)
        return logits[0], state
    return step


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
