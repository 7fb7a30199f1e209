import math

import numpy as np
import pytest

from rnnkit.ngram import CharNgramLM


def _corpus():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 5, size=rng.integers(1, 9)) for _ in range(40)] + [[0, 1, 2, 3]] * 5


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_every_history_is_a_distribution(order):
    lm = CharNgramLM(5, order).fit(_corpus())
    for prefix in ([], [0], [0, 1], [4, 4, 4], [3, 2, 1, 0]):
        total = sum(math.exp(lm(prefix, c)) for c in range(5)) + math.exp(lm.end_log_prob(prefix))
        assert total == pytest.approx(1.0, abs=1e-12)


def test_counts_by_hand():
    lm = CharNgramLM(3, order=2, discount=0.5).fit([[0, 1], [0, 2]])
    # history (0,): seen twice, followed by 1 and 2 -> (1 - 0.5)/2 + 0.5*2/2 * p_uni(1)
    # unigram: 0 x2, 1, 2, END x2 -> 6 tokens, 4 types; p_uni(1) = 0.5/6 + 0.5*4/6 * 1/4
    p_uni = 0.5 / 6 + 0.5 * 4 / 6 / 4
    assert math.exp(lm([0], 1)) == pytest.approx(0.25 + 0.5 * p_uni, abs=1e-15)
    # a sequence seen often is more likely than its reverse
    lm = CharNgramLM(5, 3).fit(_corpus())
    assert lm.log_prob([0, 1, 2, 3]) > lm.log_prob([3, 2, 1, 0]) + 3


def test_round_trip_and_errors():
    lm = CharNgramLM(5, 3).fit(_corpus())
    again = CharNgramLM.from_dict(lm.to_dict())
    assert again.log_prob([1, 2, 3]) == lm.log_prob([1, 2, 3])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 5\), got 7"):
        lm.fit([[1, 7]])
    with pytest.raises(ValueError, match="order"):
        CharNgramLM(5, 0)
