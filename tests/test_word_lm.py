import math

import numpy as np
import pytest

from rnnkit.ctc_decoding import ctc_prefix_beam_search
from rnnkit.ngram import CharNgramLM
from rnnkit.word_lm import FLOOR, WordLexiconLM

ALPHABET = " abcdefghijklmnopqrstuvwxyz"          # label i + 1 is ALPHABET[i]; space is 1
SPACE = 1


def encode(text):
    return [ALPHABET.index(c) + 1 for c in text]


TEXTS = ["one two", "two", "three one", "on off", "off", "one one two", "ten", "on"]


@pytest.fixture
def lm():
    return WordLexiconLM(SPACE, order=2).fit(encode(t) for t in TEXTS)


@pytest.mark.parametrize("prefix", ["", "o", "on", "one", "one ", "one tw", "th", "three one "])
def test_every_prefix_in_the_lexicon_is_a_distribution(lm, prefix):
    labels = encode(prefix)
    probs = [math.exp(lm(labels, c)) for c in range(1, len(ALPHABET) + 1)]
    probs.append(math.exp(lm.end_log_prob(labels)))
    probs = [p for p in probs if p > 2 * FLOOR]          # the floors: out of the lexicon
    assert sum(probs) == pytest.approx(1.0, abs=1e-12)


def test_characters_multiply_to_the_word_model(lm):
    # the word bigram over ids of the sorted lexicon, by hand
    words = sorted({w for t in TEXTS for w in t.split()})
    ids = {w: i for i, w in enumerate(words)}
    ngram = CharNgramLM(len(words), 2).fit([[ids[w] for w in t.split()] for t in TEXTS])
    for text in ("one two", "off", "three one one", "two on"):
        sentence = [ids[w] for w in text.split()]
        assert lm.log_prob(encode(text)) == pytest.approx(ngram.log_prob(sentence), abs=1e-12)


def test_out_of_lexicon_pays_the_floor(lm):
    assert lm(encode("tw"), ALPHABET.index("x") + 1) == math.log(FLOOR)     # leaves the tree
    assert lm(encode("thre"), SPACE) == math.log(FLOOR)                      # not a word
    assert lm.end_log_prob(encode("thre")) == math.log(FLOOR)
    assert lm(encode("one  "), ALPHABET.index("t") + 1) == math.log(FLOOR)   # two spaces
    assert lm(encode(" "), ALPHABET.index("o") + 1) == math.log(FLOOR)       # leading space
    assert lm(encode("xyz "), ALPHABET.index("o") + 1) == math.log(FLOOR)    # after an unknown word
    assert lm.log_prob(encode("one tw")) < lm.log_prob(encode("one two")) - 15


def test_round_trip(lm):
    again = WordLexiconLM.from_dict(lm.to_dict())
    for text in ("one two", "on", "thre", "off one"):
        assert again.log_prob(encode(text)) == lm.log_prob(encode(text))


def test_errors():
    with pytest.raises(ValueError, match="no words"):
        WordLexiconLM(SPACE).fit([[SPACE, SPACE]])
    with pytest.raises(ValueError, match="order"):
        WordLexiconLM(SPACE, order=0)
    with pytest.raises(ValueError, match="fit it on transcripts first"):
        WordLexiconLM(SPACE)(encode("on"), SPACE)


def _frames(text, stay=3, sure=0.9):
    """CTC-like log probs (T, C) spelling ``text``: each character's frames then a blank."""
    C = len(ALPHABET) + 1
    rows = []
    for c in encode(text):
        for label in [c] * stay + [0]:
            row = np.full(C, (1 - sure) / (C - 1))
            row[label] = sure
            rows.append(row)
    return np.log(np.array(rows))


def test_the_beam_finds_the_lexicon_word(lm):
    # the acoustics say "thre" (the "e" twice as a single one), the lexicon knows "three"
    log_probs = _frames("thre")
    assert ctc_prefix_beam_search(log_probs, beam=8)[0][0] == encode("thre")
    best, _ = ctc_prefix_beam_search(log_probs, beam=16, lm=lm, lm_weight=1.0,
                                     lm_end=lm.end_log_prob)[0]
    assert best == encode("three")
    # without the end scored, the unfinished word survives
    assert ctc_prefix_beam_search(log_probs, beam=16, lm=lm, lm_weight=1.0)[0][0] == encode("thre")


def test_lm_end_reranks_the_final_beam():
    log_probs = _frames("ab")
    plain = ctc_prefix_beam_search(log_probs, beam=8)
    assert plain[0][0] == encode("ab")
    reranked = ctc_prefix_beam_search(log_probs, beam=8, lm=lambda p, c: 0.0, lm_weight=1.0,
                                      lm_end=lambda p: -50.0 if p == tuple(encode("ab")) else 0.0)
    assert reranked[0] == plain[1] and reranked[-1] == (encode("ab"), plain[0][1] - 50.0)
    scores = [score for _, score in reranked]
    assert scores == sorted(scores, reverse=True)
    with pytest.raises(TypeError, match="lm_end must be a callable"):
        ctc_prefix_beam_search(log_probs, lm_end="stop")
    with pytest.raises(ValueError, match="lm_end must return log probabilities <= 0"):
        ctc_prefix_beam_search(log_probs, lm=lambda p, c: 0.0, lm_weight=1.0, lm_end=lambda p: 1.0)
