"""Decoding CTC outputs: best path (greedy) and prefix beam search.

A CTC output is per-frame log probabilities ``log_probs`` over C classes, one of them
the blank. A labelling is read off a frame path by collapsing repeats, then dropping
blanks (``a a - a b -> a a b``); its probability is the sum over all paths that
collapse to it.

Prefix beam search (Graves, 2012; Hannun et al., 2014) keeps, for each candidate
prefix ``l``, the log probability of the frames so far having collapsed to ``l`` and
ending in a blank (``p_b``) or in its last label (``p_nb``). At frame ``t``, with
``p = log_probs[t]`` and ``p_l = logaddexp(p_b, p_nb)``::

    blank:               p_b(l)      += p_l(l) + p[blank]
    c == last label:     p_nb(l)     += p_nb(l) + p[c]             # repeat collapses
                         p_nb(l + c) += p_b(l) + p[c] + w lm(l, c) # needs a blank between
    any other label c:   p_nb(l + c) += p_l(l) + p[c] + w lm(l, c)

where ``+=`` is ``logaddexp`` and ``w lm(l, c)`` is the optional shallow-fusion
language-model term; then only the ``beam`` most likely prefixes are kept. Without
pruning (a large enough beam) and without a language model the final ``p_l`` is the
exact ``log p(l|x)``. This is not :mod:`rnnkit.decoding`'s beam search: there one
hypothesis is one path, here one hypothesis is the sum over many paths.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from rnnkit._validation import check_positive_int, check_scalar
from rnnkit.errors import InputError, InputTypeError

NEG_INF = -np.inf


def ctc_greedy(log_probs, input_lengths, blank=0) -> list[list[int]]:
    """Best-path decoding of log_probs (T, B, C): the argmax label per frame, repeats
    collapsed, blanks dropped, frames ``t >= input_lengths[b]`` ignored."""
    log_probs = _check_log_probs(log_probs, 3, "(T, B, C)")
    T, B, C = log_probs.shape
    blank = check_scalar(blank, "blank", int, low=0, high=C - 1)
    lengths = np.asarray(input_lengths)
    if lengths.dtype.kind not in "iu" or lengths.shape != (B,):
        raise InputError(f"input_lengths must be integers of shape (B={B},), got {lengths.dtype} {lengths.shape}")
    if lengths.size and (lengths.min() < 0 or lengths.max() > T):
        raise InputError(f"input_lengths must lie in [0, {T}], got min {lengths.min()} and max {lengths.max()}")
    best = log_probs.argmax(axis=-1)                                   # (T, B)
    return [collapse(best[: lengths[b], b], blank) for b in range(B)]


def collapse(path, blank=0) -> list[int]:
    """A frame path's labelling: merge repeats, then drop blanks."""
    labels, previous = [], None
    for c in path:
        c = int(c)
        if c != previous and c != blank:
            labels.append(c)
        previous = c
    return labels


def ctc_prefix_beam_search(log_probs, beam=8, blank=0, lm=None, lm_weight=0.0):
    """Prefix beam search over log_probs (T, C).

    ``lm(prefix_tuple, next_label) -> log prob`` is added, times ``lm_weight``, each
    time a prefix grows. Returns up to ``beam`` ``(labels, score)`` pairs, best first;
    ``score`` is the log probability of the labelling (plus the weighted LM terms).
    """
    log_probs = _check_log_probs(log_probs, 2, "(T, C)")
    T, C = log_probs.shape
    beam = check_positive_int(beam, "beam")
    blank = check_scalar(blank, "blank", int, low=0, high=C - 1)
    lm_weight = check_scalar(lm_weight, "lm_weight", float)
    if lm is not None and not callable(lm):
        raise InputTypeError(f"lm must be a callable lm(prefix_tuple, next_label) -> log prob, got {type(lm).__name__}")
    beams = {(): (0.0, NEG_INF)}                                       # prefix -> (p_b, p_nb)
    for t in range(T):
        beams = _prune(_extend(beams, log_probs[t], blank, lm, lm_weight), beam)
    ranked = sorted(beams.items(), key=lambda item: -np.logaddexp(*item[1]))
    return [(list(prefix), float(np.logaddexp(*scores))) for prefix, scores in ranked]


def _extend(beams, frame, blank, lm, lm_weight):
    """One frame of the recursion in the module docstring: (p_b, p_nb) of every prefix."""
    p_b = defaultdict(lambda: NEG_INF)
    p_nb = defaultdict(lambda: NEG_INF)
    for prefix, (b, nb) in beams.items():
        total = np.logaddexp(b, nb)
        p_b[prefix] = np.logaddexp(p_b[prefix], total + frame[blank])
        for c in range(frame.shape[0]):
            if c == blank:
                continue
            grown = prefix + (c,)
            bonus = lm_weight * lm(prefix, c) if lm is not None else 0.0
            if prefix and prefix[-1] == c:
                p_nb[prefix] = np.logaddexp(p_nb[prefix], nb + frame[c])
                p_nb[grown] = np.logaddexp(p_nb[grown], b + frame[c] + bonus)
            else:
                p_nb[grown] = np.logaddexp(p_nb[grown], total + frame[c] + bonus)
    return {prefix: (p_b[prefix], p_nb[prefix]) for prefix in dict.fromkeys([*p_b, *p_nb])}


def _prune(beams, beam):
    """The ``beam`` most likely prefixes; impossible ones (log probability -inf) go."""
    possible = [item for item in beams.items() if np.logaddexp(*item[1]) > NEG_INF]
    return dict(sorted(possible, key=lambda item: -np.logaddexp(*item[1]))[:beam])


def _check_log_probs(log_probs, ndim, shape_doc) -> np.ndarray:
    if not isinstance(log_probs, np.ndarray) or log_probs.dtype.kind != "f":
        raise InputTypeError(f"log_probs must be a float numpy.ndarray of shape {shape_doc}, "
                             f"got {getattr(log_probs, 'dtype', type(log_probs).__name__)}")
    if log_probs.ndim != ndim or log_probs.shape[-1] == 0:
        raise InputError(f"log_probs must have shape {shape_doc}, got {log_probs.shape}")
    if np.isnan(log_probs).any():
        raise InputError("log_probs contains NaN values")
    return log_probs
