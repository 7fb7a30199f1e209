"""Greedy, sampled and beam search over step functions: hand-made tables, brute force over
every sequence, a real LanguageModel (state rows reordered), batches and bad arguments."""

import itertools
from collections import namedtuple

import numpy as np
import pytest

from rnnkit.decoding import Beams, Decoded, beam_search, greedy_search, sample_search, select_rows
from rnnkit.sampling import sample_next
from rnnkit.models import LanguageModel
from rnnkit.module import no_grad


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def markov_step(probs, calls=None):
    """step over a table: the next token's probabilities depend on the last token only."""
    log_table = np.log(np.asarray(probs, dtype=np.float64))

    def step(tokens, state):
        if calls is not None:
            calls.append(tokens.copy())
        return log_table[tokens], state
    return step


def timed_step(table):
    """Logits table[t, last token] (unnormalised); the state is each row's position t, (R,)."""
    def step(tokens, state):
        t = np.zeros(len(tokens), np.int64) if state is None else state
        return table[t, tokens], t + 1
    return step


def brute_force(table, start, max_len, end=None, alpha=0.0, norm="power"):
    """Every sequence a search can return, ranked by log_prob / lp(length) (best first)."""
    V = table.shape[-1]
    log_p = log_softmax(table)                                          # (max_len, V, V)
    ranked = []
    for length in range(1, max_len + 1):
        for seq in itertools.product(range(V), repeat=length):
            ends = end is not None and seq[-1] == end
            if (end is not None and end in seq[:-1]) or (length < max_len and not ends):
                continue
            prev, total = start, 0.0
            for t, y in enumerate(seq):
                total, prev = total + log_p[t, prev, y], y
            lp = length ** alpha if norm == "power" else ((5 + length) / 6) ** alpha
            ranked.append((total / lp, total, seq))
    return sorted(ranked, key=lambda r: -r[0])


def hypotheses(beams, b):
    return [tuple(beams.tokens[b, n, : beams.lengths[b, n]]) for n in range(beams.tokens.shape[1])]


# Greedy takes 1 (0.55) and is left with 1/3; beam search finds 2 -> 2 (0.40 * 0.90).
TRAP = [[0.05, 0.55, 0.40],
        [0.34, 0.33, 0.33],
        [0.05, 0.05, 0.90]]


# ------------------------------------------------------------------ greedy and sampling


def test_greedy_follows_the_argmax_of_each_step():
    probs = [[0.1, 0.6, 0.2, 0.1],
             [0.1, 0.1, 0.1, 0.7],
             [0.5, 0.2, 0.2, 0.1],
             [0.2, 0.2, 0.5, 0.1]]
    out = greedy_search(markov_step(probs), [0, 2], None, max_len=4)
    assert isinstance(out, Decoded)
    np.testing.assert_array_equal(out.tokens, [[1, 3, 2, 0], [0, 1, 3, 2]])
    np.testing.assert_array_equal(out.lengths, [4, 4])
    np.testing.assert_allclose(out.log_probs, np.log([0.6 * 0.7 * 0.5 * 0.5,
                                                      0.5 * 0.6 * 0.7 * 0.5]))


def test_greedy_misses_what_beam_search_finds():
    greedy = greedy_search(markov_step(TRAP), 0, None, max_len=2)
    np.testing.assert_array_equal(greedy.tokens, [[1, 0]])
    np.testing.assert_allclose(greedy.log_probs, [np.log(0.55 * 0.34)])
    beams = beam_search(markov_step(TRAP), 0, None, beam_size=2, max_len=2, num_return=2)
    assert hypotheses(beams, 0) == [(2, 2), (1, 0)]
    np.testing.assert_allclose(beams.log_probs, [np.log([0.40 * 0.90, 0.55 * 0.34])])
    np.testing.assert_array_equal(beams.best().tokens, [[2, 2]])


def test_end_token_stops_each_row_and_pads_after_it():
    probs = [[0.1, 0.2, 0.3, 0.4],
             [0.1, 0.1, 0.2, 0.6],          # 1 -> end (3)
             [0.1, 0.1, 0.7, 0.1],          # 2 -> 2 -> ...
             [0.7, 0.1, 0.1, 0.1]]
    calls = []
    out = greedy_search(markov_step(probs, calls), [1, 2], None, max_len=3, end_token=3)
    np.testing.assert_array_equal(out.tokens, [[3, 3, 3], [2, 2, 2]])
    np.testing.assert_array_equal(out.lengths, [1, 3])
    np.testing.assert_allclose(out.log_probs, np.log([0.6, 0.7 ** 3]))
    np.testing.assert_array_equal(calls[1], [3, 2])       # the finished row is fed its end token
    calls.clear()
    both_end = greedy_search(markov_step(probs, calls), [1, 1], None, max_len=5, end_token=3)
    assert both_end.tokens.shape == (2, 1) and len(calls) == 1      # no step once every row ended


def test_beam_search_finishes_hypotheses_at_the_end_token_and_stops_early():
    probs = [[0.4, 0.3, 0.3],
             [0.5, 0.3, 0.2],
             [0.1, 0.1, 0.8]]
    calls = []
    beams = beam_search(markov_step(probs, calls), 1, None, beam_size=2, max_len=6, end_token=0,
                        num_return=2)
    assert hypotheses(beams, 0) == [(0,), (1, 0)]
    np.testing.assert_allclose(beams.log_probs, [np.log([0.5, 0.3 * 0.5])])
    np.testing.assert_array_equal(beams.tokens[0, 0], [0, 0])                 # padded with end
    # after 3 steps the K finished (0.5, 0.15) beat every live beam (best 2,2,2: 0.128)
    assert len(calls) == 3


def test_sample_search_draws_with_sample_next_and_scores_with_the_model():
    rng = np.random.default_rng(4)
    table = rng.standard_normal((6, 5, 5))
    out = sample_search(timed_step(table), [0, 3], None, 6, np.random.default_rng(11),
                        temperature=0.8, top_k=3, banned=[4])
    manual_rng, tokens, state, total = np.random.default_rng(11), np.array([0, 3]), None, 0.0
    for t in range(6):
        logits, state = timed_step(table)(tokens, state)
        drawn = sample_next(logits, manual_rng, temperature=0.8, top_k=3, banned=[4])
        total = total + log_softmax(logits)[[0, 1], drawn]
        np.testing.assert_array_equal(out.tokens[:, t], drawn)
        tokens = drawn
    np.testing.assert_allclose(out.log_probs, total)
    assert 4 not in out.tokens
    again = sample_search(timed_step(table), [0, 3], None, 6, np.random.default_rng(11),
                          temperature=0.8, top_k=3, banned=[4])
    np.testing.assert_array_equal(again.tokens, out.tokens)


def test_temperature_zero_and_first_logits_are_greedy():
    table = np.random.default_rng(5).standard_normal((8, 6, 6))
    greedy = greedy_search(timed_step(table), [1, 4, 5], None, 8)
    cold = sample_search(timed_step(table), [1, 4, 5], None, 8, np.random.default_rng(0),
                         temperature=0)
    np.testing.assert_array_equal(cold.tokens, greedy.tokens)
    np.testing.assert_allclose(cold.log_probs, greedy.log_probs)
    logits, state = timed_step(table)(np.array([1, 4, 5]), None)
    resumed = greedy_search(timed_step(table), None, state, 8, first_logits=logits)
    np.testing.assert_array_equal(resumed.tokens, greedy.tokens)


# ------------------------------------------------------------------ beam search


def test_beam_size_one_is_greedy():
    table = np.random.default_rng(6).standard_normal((7, 5, 5))
    greedy = greedy_search(timed_step(table), [0, 2, 4], None, 7, end_token=1)
    beams = beam_search(timed_step(table), [0, 2, 4], None, beam_size=1, max_len=7, end_token=1,
                        state_axis=0).best()
    np.testing.assert_array_equal(beams.lengths, greedy.lengths)
    np.testing.assert_array_equal(beams.tokens, greedy.tokens[:, : beams.tokens.shape[1]])
    np.testing.assert_allclose(beams.log_probs, greedy.log_probs)


@pytest.mark.parametrize("end, alpha, norm", [(None, 0.0, "power"), (2, 0.0, "power"),
                                             (2, 0.7, "power"), (0, 1.5, "power"),
                                             (2, 0.7, "wu"), (0, 1.5, "wu")])
def test_wide_beam_returns_the_best_of_all_sequences(end, alpha, norm):
    table = 2.0 * np.random.default_rng(7).standard_normal((3, 3, 3))      # V = 3, max_len = 3
    expected = brute_force(table, 1, 3, end, alpha, norm)
    beams = beam_search(timed_step(table), 1, None, beam_size=27, max_len=3, end_token=end,
                        length_penalty=alpha, length_norm=norm, num_return=5, state_axis=0)
    assert hypotheses(beams, 0) == [seq for _, _, seq in expected[:5]]
    np.testing.assert_allclose(beams.scores[0], [score for score, _, _ in expected[:5]])
    np.testing.assert_allclose(beams.log_probs[0], [total for _, total, _ in expected[:5]])


def test_batched_beams_equal_one_sequence_at_a_time():
    table = np.random.default_rng(8).standard_normal((6, 6, 6))
    starts, positions = np.array([0, 3, 5]), np.array([0, 2, 1])     # different states per row
    together = beam_search(timed_step(table), starts, positions, beam_size=3, max_len=4,
                           end_token=2, num_return=3, state_axis=0)
    for b in range(3):
        alone = beam_search(timed_step(table), starts[b:b + 1], positions[b:b + 1], beam_size=3,
                            max_len=4, end_token=2, num_return=3, state_axis=0)
        assert hypotheses(together, b) == hypotheses(alone, 0)
        np.testing.assert_allclose(together.scores[b], alone.scores[0])
    assert len({tuple(hypotheses(together, b)) for b in range(3)}) == 3


def test_beam_search_over_a_language_model_reorders_its_state():
    model = LanguageModel(vocab_size=7, embed_size=4, hidden_size=8, cell="lstm", dtype=np.float64,
                          seed=0)
    model.eval()

    def step(tokens, state):
        logits, state = model.forward(tokens.reshape(1, -1), state)      # (1, R, V), (h, c)
        return logits[0], state

    starts = [1, 4]
    with no_grad():
        beams = beam_search(step, starts, None, beam_size=49, max_len=3, num_return=3)
        seqs = np.array(list(itertools.product(range(7), repeat=3)))       # (343, 3)
        for b, start in enumerate(starts):
            ids = np.concatenate([np.full((343, 1), start), seqs], axis=1).T   # (4, 343)
            logits, _ = model.forward(ids)                                 # (4, 343, 7)
            log_p = log_softmax(logits[:3])[np.arange(3)[:, None], np.arange(343), seqs.T]
            totals = log_p.sum(axis=0)                                     # (343,)
            best = np.argsort(-totals, kind="stable")[:3]
            assert hypotheses(beams, b) == [tuple(seqs[n]) for n in best]
            np.testing.assert_allclose(beams.log_probs[b], totals[best], rtol=1e-12)
    assert hypotheses(beams, 0) != hypotheses(beams, 1)


def test_select_rows_and_a_custom_state_selector():
    h, c = np.arange(12.0).reshape(1, 3, 4), -np.arange(12.0).reshape(1, 3, 4)
    picked = select_rows((h, (c, None)), [2, 2, 0])
    np.testing.assert_array_equal(picked[0][0, :, 0], [8, 8, 0])
    np.testing.assert_array_equal(picked[1][0][0, :, 0], [-8, -8, 0])
    assert picked[1][1] is None
    Pair = namedtuple("Pair", "h c")
    assert isinstance(select_rows(Pair(h, c), [1]), Pair)
    table = np.random.default_rng(9).standard_normal((4, 5, 5))
    seen = []

    def dict_step(tokens, state):                         # state a dict: only the caller knows it
        seen.append(len(state["t"]))
        return table[state["t"], tokens], {"t": state["t"] + 1}

    beams = beam_search(dict_step, [0, 1], {"t": np.zeros(2, np.int64)}, beam_size=2, max_len=4,
                        select_state=lambda s, rows: {"t": s["t"][rows]})
    expected = beam_search(timed_step(table), [0, 1], None, beam_size=2, max_len=4, state_axis=0)
    np.testing.assert_array_equal(beams.tokens, expected.tokens)
    assert seen == [2, 4, 4, 4]                           # B rows first, then B * K
    assert isinstance(expected, Beams)


# ------------------------------------------------------------------ bad arguments


@pytest.mark.parametrize("kwargs, error, message", [
    ({"beam_size": 0}, ValueError, "beam_size must be a positive integer"),
    ({"max_len": 0}, ValueError, "max_len must be a positive integer"),
    ({"length_penalty": -0.5}, ValueError, "length_penalty must be a finite number >= 0"),
    ({"num_return": 3}, ValueError, r"num_return must be an integer in \[1, 2\] \(<= beam_size\)"),
    ({"end_token": 3}, ValueError, r"end_token must be an integer in \[0, 2\] or None"),
    ({"state_axis": 1.5}, ValueError, "state_axis must be an integer"),
    ({"select_state": "rows"}, TypeError, "select_state must be callable"),
    ({"start_tokens": [0.5]}, TypeError, "start_tokens must be a non-negative int"),
    ({"first_logits": np.zeros((1, 3))}, ValueError, "give exactly one of start_tokens"),
])
def test_beam_search_refuses_bad_arguments(kwargs, error, message):
    args = {"start_tokens": 0, "state": None, "beam_size": 2, "max_len": 3, **kwargs}
    with pytest.raises(error, match=message):
        beam_search(markov_step(TRAP), **args)


def test_bad_steps_and_states_are_named():
    with pytest.raises(TypeError, match="step must be callable"):
        greedy_search("step", 0, None, 3)
    with pytest.raises(ValueError, match=r"step must return logits of shape \(R=2, V\)"):
        greedy_search(lambda tokens, state: (np.zeros(3), state), [0, 1], None, 3)
    with pytest.raises(ValueError, match=r"shape \(R=1, V=3\)"):
        greedy_search(lambda tokens, state: (np.zeros((1, 3 + int(state))), 1), 0, 0, 3)
    with pytest.raises(TypeError, match=r"step must return \(logits \(R, V\), new_state\) or "
                                        r"\(logits, new_state, aux \(R, ...\)\)"):
        greedy_search(lambda tokens, state: np.zeros((1, 3)), 0, None, 3)
    with pytest.raises(ValueError, match=r"third value must have one row per token row \(R=1"):
        greedy_search(lambda tokens, state: (np.zeros((1, 3)), state, np.zeros((2, 4))), 0, None, 3)
    with pytest.raises(ValueError, match="NaN"):
        greedy_search(lambda tokens, state: (np.full((1, 3), np.nan), state), 0, None, 3)
    with pytest.raises(ValueError, match="state_axis=1 is out of range"):
        beam_search(markov_step(TRAP), 0, np.zeros(1), beam_size=2, max_len=2)
    with pytest.raises(TypeError, match="pass select_state"):
        beam_search(markov_step(TRAP), 0, {"h": np.zeros((1, 1))}, beam_size=2, max_len=2)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        sample_search(markov_step(TRAP), 0, None, 3, rng=0)
    with pytest.raises(ValueError, match=r"banned tokens must lie in \[0, V=3\)"):
        sample_search(markov_step(TRAP), 0, None, 3, np.random.default_rng(0), banned=[5])
    with pytest.raises(ValueError, match="every token is banned"):
        sample_search(markov_step(TRAP), 0, None, 3, np.random.default_rng(0), banned=[0, 1, 2])


def attending_step(table):
    """timed_step that also returns a per-row 'attention' vector: (t, last token, 2t)."""
    inner = timed_step(table)

    def step(tokens, state):
        logits, t = inner(tokens, state)
        return logits, t, np.stack([t - 1, tokens, 2 * (t - 1)], axis=1).astype(float)
    return step


def test_searches_keep_the_steps_third_value_per_position():
    """What the step returns third (attention weights, for a translator) follows each
    token: aux[b, t] came with the logits token t was chosen from."""
    table = np.random.default_rng(3).standard_normal((5, 4, 4))
    greedy = greedy_search(attending_step(table), [0, 2], None, 5)
    assert greedy.aux.shape == (2, 5, 3)
    np.testing.assert_array_equal(greedy.aux[:, :, 0], [[0, 1, 2, 3, 4]] * 2)
    np.testing.assert_array_equal(greedy.aux[:, 1:, 1], greedy.tokens[:, :-1])    # fed tokens
    np.testing.assert_array_equal(greedy.aux[:, 0, 1], [0, 2])
    beams = beam_search(attending_step(table), [0, 2], None, beam_size=3, max_len=5,
                        end_token=3, num_return=2, state_axis=0)
    for b in range(2):
        for n in range(2):
            length = beams.lengths[b, n]
            aux = beams.aux[b, n, :length]
            np.testing.assert_array_equal(aux[:, 0], np.arange(length))
            np.testing.assert_array_equal(aux[1:, 1], beams.tokens[b, n, : length - 1])
            np.testing.assert_array_equal(beams.aux[b, n, length:], 0)
    best = beams.best()
    np.testing.assert_array_equal(best.aux, beams.aux[:, 0, : best.tokens.shape[1]])
    assert greedy_search(timed_step(table), 0, None, 3).aux is None


def test_length_norm_is_checked():
    with pytest.raises(ValueError, match=r"length_norm must be one of \('power', 'wu'\)"):
        beam_search(markov_step(TRAP), 0, None, beam_size=2, max_len=2, length_norm="gnmt")
