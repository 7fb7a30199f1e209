"""Sampling from a language model: determinism, temperature and top-k semantics, priming."""

import numpy as np
import pytest

from rnnkit.data import Vocabulary
from rnnkit.generate import generate, sample_next
from rnnkit.models import LanguageModel
from rnnkit.module import no_grad

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\n\nJULIET:\nAy me!\n"


@pytest.fixture
def model_and_vocab():
    vocab = Vocabulary.build(TEXT)
    model = LanguageModel(len(vocab), embed_size=8, hidden_size=16, num_layers=2,
                          cell="lstm", dropout=0.2, dtype=np.float64, seed=3)
    return model, vocab


# -- sample_next ------------------------------------------------------------------------

LOGITS = np.log([1.0, 2.0, 4.0, 1.0])


def frequencies(ids, size=4):
    return np.bincount(ids, minlength=size) / len(ids)


def test_sample_next_draws_from_the_softmax():
    rng = np.random.default_rng(0)
    ids = sample_next(np.tile(LOGITS, (400_000, 1)), rng)        # std of a frequency < 0.001
    np.testing.assert_allclose(frequencies(ids), [1 / 8, 2 / 8, 4 / 8, 1 / 8], atol=0.005)


def test_temperature_divides_the_logits_and_zero_is_greedy():
    rng = np.random.default_rng(1)
    ids = sample_next(np.tile(LOGITS, (400_000, 1)), rng, temperature=2.0)
    p = np.sqrt([1.0, 2.0, 4.0, 1.0])
    np.testing.assert_allclose(frequencies(ids), p / p.sum(), atol=0.005)
    cold = sample_next(np.tile(LOGITS, (2000, 1)), rng, temperature=0.05)
    assert frequencies(cold)[2] > 0.99
    assert sample_next(LOGITS, rng, temperature=0) == 2
    assert sample_next(LOGITS, rng, temperature=0, banned=[2]) == 1


def test_top_k_keeps_only_the_k_largest_and_banned_ids_never_come():
    rng = np.random.default_rng(2)
    ids = sample_next(np.tile(LOGITS, (400_000, 1)), rng, top_k=2)
    np.testing.assert_allclose(frequencies(ids), [0, 1 / 3, 2 / 3, 0], atol=0.005)
    assert set(sample_next(np.zeros((500, 4)), rng, top_k=1).tolist()) == {0, 1, 2, 3}  # ties kept
    assert (sample_next(np.tile(LOGITS, (1000, 1)), rng, top_k=1) == 2).all()
    ids = sample_next(np.tile(LOGITS, (5000, 1)), rng, banned=[2, 1])
    assert set(ids.tolist()) == {0, 3}


def test_same_seed_same_draws():
    draws = [sample_next(np.tile(LOGITS, (50, 1)), np.random.default_rng(7)) for _ in range(2)]
    np.testing.assert_array_equal(draws[0], draws[1])


@pytest.mark.parametrize("kwargs, message", [
    ({"temperature": -1}, "temperature must be a finite number >= 0"),
    ({"temperature": float("nan")}, "temperature must be a finite number >= 0"),
    ({"top_k": 0}, "top_k must be a positive integer or None"),
    ({"top_k": 1.5}, "top_k must be a positive integer or None"),
    ({"banned": [0, 1, 2, 3]}, "every token is banned"),
])
def test_sample_next_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sample_next(LOGITS, np.random.default_rng(0), **kwargs)


def test_sample_next_refuses_bad_logits_and_rng():
    with pytest.raises(ValueError, match="NaN or inf"):
        sample_next([0.0, np.nan], np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"shape \(B, V\) or \(V,\)"):
        sample_next(np.zeros((2, 2, 2)), np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        sample_next(LOGITS, 0)


# -- generate -----------------------------------------------------------------------------

def test_generate_is_deterministic_given_a_seed(model_and_vocab):
    model, vocab = model_and_vocab
    a = generate(model, vocab, length=60, prime="ROMEO:\n", seed=5)
    b = generate(model, vocab, length=60, prime="ROMEO:\n", seed=5)
    c = generate(model, vocab, length=60, prime="ROMEO:\n", seed=6)
    assert a.text == b.text and a.text != c.text
    assert len(a.text) == 60 and set(a.text) <= set(vocab.tokens)
    assert a.num_tokens == 60 and a.chars_per_second > 0
    assert model.training                                   # mode restored after eval-mode sampling


def test_greedy_generation_follows_the_argmax_of_the_model(model_and_vocab):
    model, vocab = model_and_vocab
    greedy = generate(model, vocab, length=20, prime="JULIET:", temperature=0)
    top1 = generate(model, vocab, length=20, prime="JULIET:", top_k=1, seed=9)
    model.eval()
    ids = list(vocab.encode("JULIET:"))
    with no_grad():
        for _ in range(20):
            logits, _ = model.forward(np.array(ids).reshape(-1, 1))
            ids.append(int(logits[-1, 0].argmax()))
    assert greedy.text == top1.text == vocab.decode(ids[7:])


def test_unknown_prime_characters_are_skipped_not_fatal(model_and_vocab):
    model, vocab = model_and_vocab
    result = generate(model, vocab, length=10, prime="RO\u20acMEO:\u2603\n", seed=1)
    assert result.prime == "ROMEO:\n" and result.skipped == ("\u20ac", "\u2603")
    plain = generate(model, vocab, length=10, prime="ROMEO:\n", seed=1)
    assert result.text == plain.text
    only_unknown = generate(model, vocab, length=10, prime="\u20ac", seed=1)
    assert only_unknown.prime == "" and len(only_unknown.text) == 10


def test_empty_prime_starts_after_a_newline(model_and_vocab):
    model, vocab = model_and_vocab
    assert generate(model, vocab, length=15, seed=2).text == \
        generate(model, vocab, length=15, prime="\n", seed=2).text


def test_word_level_generation_never_samples_specials():
    vocab = Vocabulary.build(TEXT * 3, level="word", pad_token="<pad>")
    model = LanguageModel(len(vocab), embed_size=8, hidden_size=12, seed=0)
    model.decoder.bias.data[list(vocab.special_ids)] = 50.0     # the model "prefers" them
    result = generate(model, vocab, length=30, prime="ROMEO: But zebra", seed=0)
    assert "<pad>" not in result.text and "<unk>" not in result.text
    assert result.prime == "ROMEO: But <unk>" and result.skipped == ("zebra",)
    assert result.num_tokens == 30


def test_generate_refuses_bad_arguments(model_and_vocab):
    model, vocab = model_and_vocab
    with pytest.raises(ValueError, match="length must be a positive integer"):
        generate(model, vocab, length=0)
    with pytest.raises(ValueError, match="temperature must be"):
        generate(model, vocab, temperature=-1)
    with pytest.raises(TypeError, match="prime must be a str"):
        generate(model, vocab, prime=3)
    with pytest.raises(ValueError, match="vocab has 3 tokens but the model predicts"):
        generate(model, Vocabulary.build("abc"))
