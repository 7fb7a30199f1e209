"""Decoding CTC outputs: best path (greedy), prefix beam search, and n-best rescoring
(:func:`ctc_rescore`: several models' outputs for one utterance rank candidate
transcripts by their mean exact CTC likelihood, plus a language model).

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

where ``+=`` is ``logaddexp`` (from ``-inf`` at each frame) and ``w lm(l, c)`` is the
optional shallow-fusion language-model term; then only the ``beam`` most likely
prefixes are kept (ties go to the prefix met first: the old beam in its order, then
``l + c`` by ``l``, then by ``c``). Without pruning (a large enough beam) and without
a language model the final ``p_l`` is the exact ``log p(l|x)``. With ``lm_end`` the
surviving prefixes are ranked, after the last frame, by ``p_l(l) + w lm_end(l)``: the
model's probability that the transcript stops there (a word cut short, ``"thre"``,
loses to the whole word). This is not
:mod:`rnnkit.decoding`'s beam search: there one hypothesis is one path, here one
hypothesis is the sum over many paths.

The code computes one frame for all K prefixes of the beam at once: ``stay_b`` and
``stay_nb`` (K,) are the first two lines, ``grow`` (K, n) the ``p_nb(l + c)`` terms for
the n labels extended. A grown ``l + c`` that is itself in the beam adds its ``grow``
entry to that prefix's ``stay_nb``; the others are new prefixes with ``p_b = -inf``.
Labels with ``p[c] = -inf`` get no column (their terms are ``-inf``). With a full beam,
a grown prefix not above the worst ``p_l`` of the K old prefixes cannot make the beam
(those come first, so they win ties); as ``w lm <= 0`` (``lm`` gives log probabilities,
checked, and ``w >= 0``) the LM term only lowers it, so the LM is asked only about the
others (about all when ``w < 0``), and each (prefix, label) once: ``lm`` must be a pure
function.

Pruning (``prune``, as in DeepSpeech's decoder and Hannun et al.): at each frame only
the labels with ``p[c] >= prune`` are extended, plus the blank and, for each prefix,
its own last label (both of its lines above). The result is then approximate; on
peaky CTC outputs labels below ``prune = -10`` (p < 5e-5) rarely change the best
labelling. The work it saves grows with C: it pays for label sets of a thousand or
more, not for C = 29 characters, where the cost is per frame rather than per label.
"""

from __future__ import annotations

import math
from typing import NamedTuple

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


def ctc_prefix_beam_search(log_probs, beam=8, blank=0, lm=None, lm_weight=0.0, prune=None,
                           lm_end=None):
    """Prefix beam search over log_probs (T, C).

    ``lm(prefix_tuple, next_label) -> log prob`` (<= 0, a pure function: asked once per
    prefix and label, and only where the answer can matter) is added, times
    ``lm_weight``, each time a prefix grows. ``prune`` is a log probability (e.g.
    ``-10.0``): at each frame only labels at least that likely are extended, plus the
    blank and each prefix's last label; None (the default) extends every label and is
    exact. ``lm_end(prefix_tuple) -> log prob`` (<= 0; e.g. an n-gram's
    ``end_log_prob``) scores, times ``lm_weight``, the end of each final prefix.
    Returns up to ``beam`` ``(labels, score)`` pairs, best first; ``score`` is the log
    probability of the labelling (plus the weighted LM terms).
    """
    log_probs = _check_log_probs(log_probs, 2, "(T, C)")
    T, C = log_probs.shape
    beam = check_positive_int(beam, "beam")
    blank = check_scalar(blank, "blank", int, low=0, high=C - 1)
    lm_weight = check_scalar(lm_weight, "lm_weight", float)
    prune = check_scalar(prune, "prune", float, low=-math.inf, high=0.0, include_low=False, none_ok=True)
    _check_lms(lm, lm_end)
    log_probs = log_probs.astype(np.float64, copy=False)     # the scores are float64 throughout
    fusion = _ShallowFusion(lm, lm_weight) if lm is not None else None
    beams = _Beams([()], np.array([0.0]), np.array([NEG_INF]), np.array([blank]))
    for t in range(T):
        if not beams.prefixes:                  # every prefix became impossible
            break
        beams = _step(beams, log_probs[t], blank, beam, fusion, prune)
    p_l = np.logaddexp(beams.p_b, beams.p_nb)                             # best first already
    if lm_end is not None and lm_weight != 0:
        p_l = p_l + [lm_weight * _end_log_prob(lm_end, prefix) for prefix in beams.prefixes]
        order = np.argsort(-p_l, kind="stable")
        return [(list(beams.prefixes[k]), float(p_l[k])) for k in order.tolist()]
    return [(list(prefix), float(score)) for prefix, score in zip(beams.prefixes, p_l)]


def ctc_rescore(log_probs, candidates, blank=0, lm=None, lm_weight=0.0, lm_end=None):
    """Rank ``candidates`` (labellings, e.g. the union of several models' beams) by ::

        score(l) = mean_m log p_m(l | x) + lm_weight * (sum_i lm(l_<i, l_i) + lm_end(l))

    where ``log_probs`` is a list of M ``(T_m, C)`` arrays (M models' outputs for the
    same utterance; their frame counts may differ) and ``log p_m`` the exact CTC
    log-likelihood under model m (:func:`rnnkit.losses.ctc_log_likelihood`). Averaging
    the models' likelihoods of whole labellings, not their frame posteriors, does not
    need the models' CTC spikes to fall on the same frames. ``lm`` and ``lm_end`` are
    those of :func:`ctc_prefix_beam_search` (either may be None). Returns ``(labels,
    score)`` pairs, best first (ties: the order of ``candidates``)."""
    from rnnkit.losses.ctc import ctc_log_likelihood

    if not isinstance(log_probs, (list, tuple)) or not log_probs:
        raise InputTypeError(f"log_probs must be a non-empty list of (T, C) arrays, got {type(log_probs).__name__}")
    log_probs = [_check_log_probs(lp, 2, "(T, C)") for lp in log_probs]
    if len({lp.shape[1] for lp in log_probs}) != 1:
        raise InputError(f"log_probs must share C, got shapes {[lp.shape for lp in log_probs]}")
    lm_weight = check_scalar(lm_weight, "lm_weight", float)
    _check_lms(lm, lm_end)
    candidates = [tuple(int(c) for c in labels) for labels in candidates]
    if not candidates:
        return []
    C = log_probs[0].shape[1]
    bad = [labels for labels in candidates if any(c == blank or not 0 <= c < C for c in labels)]
    if bad:
        raise InputError(f"candidates must hold labels in [0, {C}) other than the blank {blank}, "
                         f"got {list(bad[0])}")
    lengths = np.array([len(c) for c in candidates], np.int64)                 # (K,)
    targets = np.full((len(candidates), max(int(lengths.max()), 1)), blank, np.int64)
    for k, labels in enumerate(candidates):
        targets[k, :len(labels)] = labels                                     # (K, S)
    scores = np.zeros(len(candidates))
    for lp in log_probs:
        frames = np.broadcast_to(lp[:, None, :], (lp.shape[0], len(candidates), lp.shape[1]))
        scores += ctc_log_likelihood(frames.astype(np.float64), targets,
                                     np.full(len(candidates), lp.shape[0]), lengths, blank)
    scores /= len(log_probs)
    if lm_weight != 0 and (lm is not None or lm_end is not None):
        scores += lm_weight * np.array([_labelling_lm_log_prob(lm, lm_end, c) for c in candidates])
    order = np.argsort(-scores, kind="stable")
    return [(list(candidates[k]), float(scores[k])) for k in order.tolist()]


def _labelling_lm_log_prob(lm, lm_end, labels) -> float:
    """``sum_i lm(l_<i, l_i) + lm_end(l)``, the terms the beam adds one at a time."""
    total = 0.0
    if lm is not None:
        total += sum(_lm_log_prob(lm, labels[:i], label) for i, label in enumerate(labels))
    return total + (_end_log_prob(lm_end, labels) if lm_end is not None else 0.0)


def _end_log_prob(lm_end, prefix) -> float:
    log_prob = lm_end(prefix)
    if log_prob > 0:
        raise InputError(f"lm_end must return log probabilities <= 0, got lm_end({prefix}) = {log_prob!r}")
    return log_prob


class _Beams(NamedTuple):
    prefixes: list              # K tuples of labels
    p_b: np.ndarray             # (K,) log p(the frames so far collapse to the prefix, end in blank)
    p_nb: np.ndarray            # (K,) ... and end in the prefix's last label
    last: np.ndarray            # (K,) the prefix's last label, the blank for the empty prefix


def _step(beams, frame, blank, beam, fusion, prune) -> _Beams:
    """One frame of the recursion in the module docstring, then the ``beam`` best."""
    prefixes, p_b, p_nb, last = beams
    labels = _labels_to_extend(frame, blank, last, prune)                      # (n,)
    p_l = np.logaddexp(p_b, p_nb)                                              # (K,)
    stay_b = p_l + frame[blank]
    stay_nb = p_nb + frame[last]              # the empty prefix: p_nb = -inf, and stays so
    repeat = labels == last[:, None]                                           # (K, n)
    grow = np.where(repeat, p_b[:, None], p_l[:, None]) + frame[labels]        # (K, n)
    if prune is not None:
        grow[(frame[labels] < prune) & ~repeat] = NEG_INF
    into, parent, column = _grown_in_beam(prefixes, labels)                    # (M,) each
    if fusion is not None:
        # w lm <= 0 only lowers a grown prefix: with a full beam, one not above the worst
        # stay (taken before the merge below, which only raises stays) cannot make the
        # beam, and the LM is not asked about it
        full = len(prefixes) == beam and fusion.lm_weight >= 0
        floor = np.logaddexp(stay_b, stay_nb).min() if full else NEG_INF
        grow = fusion.add(grow, prefixes, labels, floor, parent, column)
    if into.size:
        stay_nb[into] = np.logaddexp(stay_nb[into], grow[parent, column])
        grow[parent, column] = NEG_INF
    return _best(prefixes, labels, stay_b, stay_nb, grow, beam, blank)


def _labels_to_extend(frame, blank, last, prune) -> np.ndarray:
    """The labels c that get a ``grow`` column, ascending: every possible one
    (``p[c] > -inf``), or with ``prune`` those with ``p[c] >= prune`` and each prefix's
    last label."""
    if prune is None:
        wanted = frame > NEG_INF
    else:
        wanted = frame >= prune
        wanted[last] = True
    wanted[blank] = False
    return np.flatnonzero(wanted)


def _grown_in_beam(prefixes, labels) -> np.ndarray:
    """(3, M) ``into, parent, column``: where ``l + c`` is itself in the beam,
    ``prefixes[into] == prefixes[parent] + (labels[column],)``, that ``grow`` entry
    goes to ``stay_nb[into]``."""
    row = {prefix: i for i, prefix in enumerate(prefixes)}
    grown = [(k, row[prefix[:-1]], prefix[-1]) for k, prefix in enumerate(prefixes)
             if prefix and prefix[:-1] in row]
    column = dict(zip(labels.tolist(), range(labels.size))) if grown else {}
    merges = [(k, i, column[c]) for k, i, c in grown if c in column]
    return np.array(merges, dtype=np.intp).reshape(-1, 3).T


def _best(prefixes, labels, stay_b, stay_nb, grow, beam, blank) -> _Beams:
    """The ``beam`` most likely of the K prefixes and the K n grown ones, in the order
    of the module docstring; impossible ones (log probability -inf) go."""
    K = len(prefixes)
    stay = np.logaddexp(stay_b, stay_nb)                                       # (K,)
    # With a full beam, a grown prefix not above the worst stay cannot make it (the
    # stays come first, so they also win ties): only the few above are sorted.
    floor = stay.min() if K == beam else NEG_INF
    i, j = np.nonzero(grow > floor)                                            # (m,), (m,)
    p_b = np.concatenate((stay_b, np.full(i.size, NEG_INF)))                   # (K + m,)
    p_nb = np.concatenate((stay_nb, grow[i, j]))
    scores = np.concatenate((stay, p_nb[K:]))                 # logaddexp(-inf, x) is x
    best = np.argsort(-scores, kind="stable")[:beam]
    best = best[scores[best] > NEG_INF]
    rows, grown_labels = i.tolist(), labels[j].tolist()
    kept = [prefixes[k] if k < K else prefixes[rows[k - K]] + (grown_labels[k - K],)
            for k in best.tolist()]
    last = np.array([prefix[-1] if prefix else blank for prefix in kept], dtype=np.intp)
    return _Beams(kept, p_b[best], p_nb[best], last)


class _ShallowFusion:
    """Adds ``w lm(l, c)`` to the ``grow`` matrix, asking ``lm`` once per (prefix,
    label): a prefix stays in the beam for many frames."""

    def __init__(self, lm, lm_weight):
        self.lm, self.lm_weight = lm, lm_weight
        self.bonus = {}                                     # (prefix, c) -> w lm(prefix, c)

    def add(self, grow, prefixes, labels, floor, parent, column) -> np.ndarray:
        """``grow + w lm`` (K, n) where ``grow > floor`` or at ``(parent, column)``
        (see :func:`_grown_in_beam`); -inf elsewhere."""
        asked = grow > floor                                                   # (K, n)
        asked[parent, column] = grow[parent, column] > NEG_INF
        rows, columns = np.nonzero(asked)                                      # (m,), (m,)
        bonus = [self._bonus(prefixes[k], c) for k, c in zip(rows.tolist(), labels[columns].tolist())]
        fused = np.full(grow.shape, NEG_INF)
        fused[rows, columns] = grow[rows, columns] + bonus
        return fused

    def _bonus(self, prefix, label) -> float:
        key = (prefix, label)
        if key not in self.bonus:
            self.bonus[key] = self.lm_weight * _lm_log_prob(self.lm, prefix, label)
        return self.bonus[key]


def _lm_log_prob(lm, prefix, label) -> float:
    log_prob = lm(prefix, label)
    if log_prob > 0:
        raise InputError(f"lm must return log probabilities <= 0, got lm({prefix}, {label}) = {log_prob!r}")
    return log_prob


def _check_lms(lm, lm_end) -> None:
    if lm is not None and not callable(lm):
        raise InputTypeError(f"lm must be a callable lm(prefix_tuple, next_label) -> log prob, got {type(lm).__name__}")
    if lm_end is not None and not callable(lm_end):
        raise InputTypeError(f"lm_end must be a callable lm_end(prefix_tuple) -> log prob, got {type(lm_end).__name__}")


def _check_log_probs(log_probs, ndim, shape_doc) -> np.ndarray:
    if not isinstance(log_probs, np.ndarray) or log_probs.dtype.kind != "f":
        raise InputTypeError(f"log_probs must be a float numpy.ndarray of shape {shape_doc}, "
                             f"got {getattr(log_probs, 'dtype', type(log_probs).__name__)}")
    if log_probs.ndim != ndim or log_probs.shape[-1] == 0:
        raise InputError(f"log_probs must have shape {shape_doc}, got {log_probs.shape}")
    if np.isnan(log_probs).any():
        raise InputError("log_probs contains NaN values")
    return log_probs
