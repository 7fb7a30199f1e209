"""CTC decoding: greedy on hand-made frames, prefix beam search against brute force and
against the plain one-prefix-one-label-at-a-time algorithm it was vectorised from, and
pruning on peaky CTC-like outputs."""

import itertools
from collections import defaultdict

import numpy as np
import pytest

from rnnkit.ctc_decoding import collapse, ctc_greedy, ctc_prefix_beam_search, ctc_rescore
from rnnkit.ngram import CharNgramLM

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "oh")
ALPHABET = " abcdefghijklmnopqrstuvwxyz'"                  # label c is ALPHABET[c - 1]; 0 is blank


def exact_labelling_log_probs(log_probs, blank):
    """log p(l|x) for every labelling l, summing all C^T frame paths (tiny T, C only)."""
    T, C = log_probs.shape
    totals = {}
    for path in itertools.product(range(C), repeat=T):
        labels = tuple(collapse(path, blank))
        score = log_probs[np.arange(T), path].sum()
        totals[labels] = np.logaddexp(totals.get(labels, -np.inf), score)
    return totals


def random_log_probs(rng, T, C):
    z = rng.standard_normal((T, C)) * 2
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def reference_prefix_beam_search(log_probs, beam=8, blank=0, lm=None, lm_weight=0.0):
    """The search as first written: a dict per frame, every (prefix, label) in turn with
    numpy scalars. ctc_prefix_beam_search must give the same, tie order included."""
    neg_inf = -np.inf
    beams = {(): (0.0, neg_inf)}
    for frame in log_probs:
        p_b, p_nb = defaultdict(lambda: neg_inf), defaultdict(lambda: neg_inf)
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
        beams = {prefix: (p_b[prefix], p_nb[prefix]) for prefix in dict.fromkeys([*p_b, *p_nb])}
        possible = [item for item in beams.items() if np.logaddexp(*item[1]) > neg_inf]
        beams = dict(sorted(possible, key=lambda item: -np.logaddexp(*item[1]))[:beam])
    ranked = sorted(beams.items(), key=lambda item: -np.logaddexp(*item[1]))
    return [(list(prefix), float(np.logaddexp(*scores))) for prefix, scores in ranked]


def encode(text):
    return [ALPHABET.index(ch) + 1 for ch in text]


def digit_trigram(seed=0):
    """A character trigram over the 29 classes, fitted on random strings of digit words."""
    rng = np.random.default_rng(seed)
    texts = (" ".join(rng.choice(DIGIT_WORDS, rng.integers(1, 8))) for _ in range(300))
    return CharNgramLM(29, 3).fit(encode(text) for text in texts)


def ctc_like_log_probs(rng, T=120, noise=1.0, C=29):
    """(T, C) log probabilities shaped like an acoustic model's: the blank at p ~ 0.95
    (higher with more ``noise``), one or two frames per character of four random digit
    words where that label wins, N(0, noise) logits on the other labels."""
    labels = encode(" ".join(rng.choice(DIGIT_WORDS, 4)))[: T // 5]
    z = rng.normal(0.0, noise, (T, C))
    z[:, 0] += np.log(0.95 / 0.05 * (C - 1)) + noise ** 2 / 2
    for t, c in zip(np.sort(rng.choice(np.arange(2, T - 2), len(labels), replace=False)), labels):
        z[t, c] = z[t, 0] + rng.uniform(1.0, 4.0)
        if rng.random() < 0.3:
            z[t + 1, c] = z[t + 1, 0] + rng.uniform(-1.0, 2.0)
    return z - np.logaddexp.reduce(z, axis=1, keepdims=True)


class RecordingLM:
    def __init__(self, lm):
        self.lm, self.asked = lm, []

    def __call__(self, prefix, label):
        self.asked.append((prefix, label))
        return self.lm(prefix, label)


def assert_same_results(got, expected):
    assert [labels for labels, _ in got] == [labels for labels, _ in expected]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], rtol=0, atol=1e-12)


def test_greedy_hand_made_frames():
    best = [[1, 2], [1, 2], [0, 2], [1, 0], [2, 1], [2, 1], [0, 1]]   # argmax per frame, per sequence
    log_probs = np.log(np.full((7, 2, 3), 0.1))
    for t, row in enumerate(best):
        log_probs[t, [0, 1], row] = np.log(0.8)
    assert ctc_greedy(log_probs, np.array([7, 5])) == [[1, 1, 2], [2, 1]]
    assert ctc_greedy(log_probs, np.array([7, 7]), blank=2) == [[1, 0, 1, 0], [0, 1]]
    assert ctc_greedy(log_probs, np.array([0, 1])) == [[], [2]]


@pytest.mark.parametrize("seed", range(5))
def test_prefix_beam_search_is_exact_with_a_wide_beam(seed):
    rng = np.random.default_rng(seed)
    blank = seed % 3
    log_probs = random_log_probs(rng, T=4, C=3)
    exact = exact_labelling_log_probs(log_probs, blank)
    results = ctc_prefix_beam_search(log_probs, beam=1000, blank=blank)
    assert len(results) == len(exact)
    for labels, score in results:
        assert abs(score - exact[tuple(labels)]) < 1e-12
    best = max(exact, key=exact.get)
    assert tuple(results[0][0]) == best


def test_prefix_beam_search_beats_greedy():
    # best path is blank-blank (0.16), but "1" has 0.09 + 0.12 + 0.12 = 0.33
    log_probs = np.log(np.array([[0.4, 0.3, 0.3], [0.4, 0.3, 0.3]]))
    assert ctc_greedy(log_probs[:, None], np.array([2])) == [[]]
    (labels, score), *_ = ctc_prefix_beam_search(log_probs, beam=4)
    assert labels == [1] and abs(score - np.log(0.33)) < 1e-12


def test_language_model_changes_the_result():
    log_probs = np.log(np.array([[0.1, 0.5, 0.4]]))

    def lm(prefix, label):
        return np.log(0.9 if label == 2 else 0.1)

    assert ctc_prefix_beam_search(log_probs, beam=3)[0][0] == [1]
    assert ctc_prefix_beam_search(log_probs, beam=3, lm=lm, lm_weight=0.0)[0][0] == [1]
    labels, score = ctc_prefix_beam_search(log_probs, beam=3, lm=lm, lm_weight=1.0)[0]
    assert labels == [2] and abs(score - np.log(0.4 * 0.9)) < 1e-12


def test_narrow_beam_keeps_beam_hypotheses():
    log_probs = random_log_probs(np.random.default_rng(0), T=5, C=4)
    assert len(ctc_prefix_beam_search(log_probs, beam=2)) == 2


@pytest.mark.parametrize("call, message", [
    (lambda: ctc_greedy(np.zeros((3, 4)), np.array([3])), r"log_probs must have shape \(T, B, C\)"),
    (lambda: ctc_greedy(np.zeros((3, 1, 4)), np.array([4])), r"input_lengths must lie in \[0, 3\]"),
    (lambda: ctc_greedy(np.zeros((3, 1, 4)), np.array([3]), blank=4), "blank must be"),
    (lambda: ctc_prefix_beam_search(np.zeros((3, 1, 4))), r"log_probs must have shape \(T, C\)"),
    (lambda: ctc_prefix_beam_search(np.zeros((3, 4), int)), "log_probs must be a float"),
    (lambda: ctc_prefix_beam_search(np.zeros((3, 4)), beam=0), "beam must be a positive integer"),
    (lambda: ctc_prefix_beam_search(np.zeros((3, 4)), lm="bigram"), "lm must be a callable"),
    (lambda: ctc_prefix_beam_search(np.zeros((3, 4)), prune=1.0), r"prune must be a float in \(-inf, 0\] or None"),
    (lambda: ctc_prefix_beam_search(np.zeros((3, 4)), prune="-10"), "prune must be a float"),
])
def test_decoding_bad_inputs(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def _small_case(seed):
    """Small random searches that reach the corners: ties, impossible labels, float32,
    an LM, blanks anywhere, beams narrower and wider than the candidates."""
    rng = np.random.default_rng(seed)
    T, C = int(rng.integers(0, 10)), int(rng.integers(1, 6))
    log_probs = random_log_probs(rng, T, C)
    kind = seed % 4
    if kind == 1:
        log_probs = np.round(log_probs)                             # many exact ties
    elif kind == 2:
        log_probs[rng.random((T, C)) < 0.3] = -np.inf               # impossible labels
    elif kind == 3:
        log_probs = log_probs.astype(np.float32)
    beam, blank = int(rng.integers(1, 10)), int(rng.integers(0, C))
    lm = (lambda prefix, c: -0.3 * c - 0.1 * len(prefix)) if seed // 4 % 2 else None
    return log_probs, dict(beam=beam, blank=blank, lm=lm, lm_weight=float(rng.choice([0.0, 0.7, -0.4])))


@pytest.mark.parametrize("seed", range(60))
def test_prefix_beam_search_matches_the_reference(seed):
    log_probs, kwargs = _small_case(seed)
    assert_same_results(ctc_prefix_beam_search(log_probs, **kwargs),
                        reference_prefix_beam_search(log_probs, **kwargs))


@pytest.mark.parametrize("with_lm", [False, True])
def test_prefix_beam_search_matches_the_reference_on_ctc_like_outputs(with_lm):
    log_probs = ctc_like_log_probs(np.random.default_rng(1), T=80)
    kwargs = dict(beam=8, lm=digit_trigram() if with_lm else None, lm_weight=0.5 if with_lm else 0.0)
    assert_same_results(ctc_prefix_beam_search(log_probs, **kwargs),
                        reference_prefix_beam_search(log_probs, **kwargs))


def test_every_prefix_impossible_gives_no_result():
    log_probs = np.log([[0.5, 0.5], [1.0, 1.0], [0.5, 0.5]])
    log_probs[1] = -np.inf
    assert ctc_prefix_beam_search(log_probs) == reference_prefix_beam_search(log_probs) == []


def test_lm_is_asked_once_and_only_where_it_can_matter():
    log_probs = ctc_like_log_probs(np.random.default_rng(2), T=40)
    lm, reference_lm = RecordingLM(digit_trigram()), RecordingLM(digit_trigram())
    assert_same_results(ctc_prefix_beam_search(log_probs, beam=4, lm=lm, lm_weight=0.5),
                        reference_prefix_beam_search(log_probs, beam=4, lm=reference_lm, lm_weight=0.5))
    assert len(set(lm.asked)) == len(lm.asked)
    assert set(lm.asked) < set(reference_lm.asked) and len(lm.asked) < len(reference_lm.asked) / 10


def test_lm_must_give_log_probabilities():
    log_probs = np.log(np.array([[0.1, 0.5, 0.4]]))
    with pytest.raises(ValueError, match=r"lm must return log probabilities <= 0, got lm\(\(\), 1\) = 0.5"):
        ctc_prefix_beam_search(log_probs, lm=lambda prefix, label: 0.5, lm_weight=1.0)


def test_prune_extends_only_likely_labels_and_each_prefix_last_label():
    # frame 1: label 1 (p = 1e-6) is below the cutoff; (1,) still repeats it, but the
    # empty prefix does not grow by it, so the path "- 1" is missing from (1,)
    log_probs = np.log(np.array([[0.5, 0.5, 1e-300], [0.5, 1e-6, 0.5 - 1e-6]]))
    exact = dict((tuple(labels), score) for labels, score in ctc_prefix_beam_search(log_probs, beam=10))
    pruned = dict((tuple(labels), score) for labels, score in
                  ctc_prefix_beam_search(log_probs, beam=10, prune=np.log(1e-3)))
    assert exact[(1,)] == pytest.approx(np.log(0.25 + 0.5e-6 + 0.5e-6), abs=1e-12)
    assert pruned[(1,)] == pytest.approx(np.log(0.25 + 0.5e-6), abs=1e-12)
    assert pruned[(2,)] == pytest.approx(exact[(2,)], abs=1e-12)          # likely: as before
    assert (1, 1) not in pruned and (1, 1) not in exact                  # needs a blank between


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("with_lm", [False, True])
def test_prune_keeps_the_result_on_peaky_outputs(seed, with_lm):
    rng = np.random.default_rng(seed)
    lm = digit_trigram() if with_lm else None
    for noise in (1.0, 5.0):                  # the remainder spread flat, or on a few labels
        log_probs = ctc_like_log_probs(rng, noise=noise)
        (exact, exact_score), *_ = ctc_prefix_beam_search(log_probs, lm=lm, lm_weight=0.5)
        (pruned, pruned_score), *_ = ctc_prefix_beam_search(log_probs, lm=lm, lm_weight=0.5, prune=-10.0)
        assert pruned == exact and abs(pruned_score - exact_score) < 1e-2


def test_prune_keeps_the_result_with_many_labels():
    # where pruning pays (C in the thousands; bench-style timing is not a unit test's job)
    log_probs = ctc_like_log_probs(np.random.default_rng(0), T=60, noise=3.0, C=4000)
    exact, pruned = ctc_prefix_beam_search(log_probs), ctc_prefix_beam_search(log_probs, prune=-10.0)
    assert pruned[0][0] == exact[0][0]


@pytest.mark.parametrize("seed", range(4))
def test_rescore_is_the_mean_of_the_exact_likelihoods(seed):
    """Two models (different frame counts): every labelling scored by the mean of its
    exact log p under each, ranked best first."""
    rng = np.random.default_rng(seed)
    blank = seed % 3
    first, second = random_log_probs(rng, T=4, C=3), random_log_probs(rng, T=3, C=3)
    exact = [exact_labelling_log_probs(lp, blank) for lp in (first, second)]
    candidates = sorted(set(exact[0]) & set(exact[1]))
    ranked = ctc_rescore([first, second], candidates, blank)
    assert sorted(tuple(labels) for labels, _ in ranked) == candidates
    for labels, score in ranked:
        expected = (exact[0][tuple(labels)] + exact[1][tuple(labels)]) / 2
        assert abs(score - expected) < 1e-12
    assert [score for _, score in ranked] == sorted((score for _, score in ranked), reverse=True)
    # one model: its exact likelihoods, the same best as the exhaustive beam search
    alone = ctc_rescore([first], list(exact[0]), blank)
    assert tuple(alone[0][0]) == max(exact[0], key=exact[0].get)


def test_rescore_adds_the_weighted_language_model_and_its_end():
    log_probs = random_log_probs(np.random.default_rng(0), T=5, C=4)
    exact = exact_labelling_log_probs(log_probs, 0)
    candidates = [(1,), (2, 3), ()]

    def lm(prefix, label):
        return -0.5 * label

    def lm_end(prefix):
        return -0.25 * (len(prefix) + 1)

    ranked = dict((tuple(l), s) for l, s in ctc_rescore([log_probs], candidates, 0, lm, 0.8, lm_end))
    assert abs(ranked[(1,)] - (exact[(1,)] + 0.8 * (-0.5 - 0.5))) < 1e-12
    assert abs(ranked[(2, 3)] - (exact[(2, 3)] + 0.8 * (-1.0 - 1.5 - 0.75))) < 1e-12
    assert abs(ranked[()] - (exact[()] + 0.8 * -0.25)) < 1e-12
    # weight 0 ignores both; no candidates, no result
    plain = dict((tuple(l), s) for l, s in ctc_rescore([log_probs], candidates, 0, lm, 0.0, lm_end))
    assert all(abs(plain[c] - exact[c]) < 1e-12 for c in candidates)
    assert ctc_rescore([log_probs], [], 0) == []


def test_rescore_lets_a_confident_model_outvote_an_unsure_one():
    """The best of the mean is neither model's own best when one is sure and one is not."""
    sure = np.log(np.array([[0.05, 0.9, 0.05]] * 2))          # "1", surely
    unsure = np.log(np.array([[0.3, 0.3, 0.4]] * 2))          # "2" a little ahead
    ranked = ctc_rescore([sure, unsure], [(2,), (1,)], 0)
    assert ranked[0][0] == [1]


@pytest.mark.parametrize("call, message", [
    (lambda: ctc_rescore(np.zeros((3, 4)), [(1,)]), "log_probs must be a non-empty list"),
    (lambda: ctc_rescore([], [(1,)]), "log_probs must be a non-empty list"),
    (lambda: ctc_rescore([np.zeros((3, 4)), np.zeros((3, 5))], [(1,)]), "must share C"),
    (lambda: ctc_rescore([np.zeros((3, 4), int)], [(1,)]), "log_probs must be a float"),
    (lambda: ctc_rescore([np.log(np.full((3, 4), 0.25))], [(0,)]), r"candidates must hold labels in \[0, 4\) other than the blank 0, got \[0\]"),
    (lambda: ctc_rescore([np.log(np.full((3, 4), 0.25))], [(1, 4)]), "candidates must hold labels"),
    (lambda: ctc_rescore([np.log(np.full((3, 4), 0.25))], [(1,)], 0, lambda p, c: 0.5, 1.0),
     "lm must return log probabilities"),
    (lambda: ctc_rescore([np.log(np.full((3, 4), 0.25))], [(1,)], 0, "bigram", 1.0),
     "lm must be a callable"),
])
def test_rescore_bad_inputs(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
