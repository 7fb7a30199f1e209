"""CTC decoding: greedy on hand-made frames, prefix beam search against brute force."""

import itertools

import numpy as np
import pytest

from rnnkit.ctc_decoding import collapse, ctc_greedy, ctc_prefix_beam_search


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
])
def test_decoding_bad_inputs(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
