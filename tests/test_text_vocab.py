"""Vocabularies and the word tokenizer: ids, round trips, unknown tokens, persistence."""

import json

import numpy as np
import pytest

from rnnkit.data import Vocabulary, detokenize, word_tokenize

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"


# -- char level -------------------------------------------------------------------

def test_char_vocab_is_the_sorted_characters_and_round_trips():
    vocab = Vocabulary.build(TEXT)
    assert vocab.level == "char"
    assert list(vocab.tokens) == sorted(set(TEXT))
    assert vocab.unk_token is None and vocab.special_ids == ()
    ids = vocab.encode(TEXT)
    assert ids.dtype == np.int64 and ids.shape == (len(TEXT),)
    assert ids[0] == vocab.token_to_id("F")
    assert vocab.decode(ids) == TEXT


def test_char_unknown_is_skipped_by_default_mapped_to_unk_or_refused():
    vocab = Vocabulary.build("abc")
    assert vocab.encode("aXbé\u2603c").tolist() == [0, 1, 2]         # skipped, no crash
    assert vocab.unknown("aXbéX") == ["X", "é"]
    with pytest.raises(ValueError, match=r"2 token\(s\) not in the vocabulary: 'X', 'é'"):
        vocab.encode("aXbé", on_unknown="error")
    with pytest.raises(ValueError, match="needs a vocabulary with an unk_token"):
        vocab.encode("aX", on_unknown="unk")
    with_unk = Vocabulary.build("abc", unk_token="<unk>")
    assert with_unk.tokens == ("<unk>", "a", "b", "c")
    assert with_unk.encode("aXc").tolist() == [1, 0, 3]
    assert with_unk.decode([1, 0, 3]) == "a<unk>c"
    assert with_unk.encode("aXc", on_unknown="skip").tolist() == [1, 3]


def test_char_vocab_handles_characters_beyond_the_bmp_and_empty_text():
    vocab = Vocabulary.build("a\U0001F600b")
    assert vocab.decode(vocab.encode("b\U0001F600a")) == "b\U0001F600a"
    assert vocab.encode("").shape == (0,)
    assert vocab.decode([]) == ""


def test_lowercase_char_vocab():
    vocab = Vocabulary.build("AbC", lowercase=True)
    assert vocab.tokens == ("a", "b", "c")
    assert vocab.decode(vocab.encode("CAB")) == "cab"


# -- word level -------------------------------------------------------------------

def test_word_tokenizer_rule():
    text = "'Tis o'er, my lord--well-a-day!\nGo (now) 3rd."
    assert word_tokenize(text) == [
        "'", "Tis", "o'er", ",", "my", "lord", "-", "-", "well-a-day", "!",
        "Go", "(", "now", ")", "3rd", "."]
    assert word_tokenize(text, lowercase=True, keep_newlines=True)[9:12] == ["!", "\n", "go"]
    assert detokenize(word_tokenize("Speak, speak.\nAll: (yes) go!", keep_newlines=True)) \
        == "Speak, speak.\nAll: (yes) go!"
    with pytest.raises(TypeError, match="text must be a str"):
        word_tokenize(b"bytes")


def test_word_vocab_orders_by_count_then_alphabet_with_specials_first():
    texts = ["the cat sat", "the dog sat", "a cat"]
    vocab = Vocabulary.build(texts, level="word", pad_token="<pad>")
    assert vocab.tokens == ("<pad>", "<unk>", "cat", "sat", "the", "a", "dog")
    assert (vocab.pad_id, vocab.unk_id, vocab.special_ids) == (0, 1, (0, 1))
    small = Vocabulary.build(texts, level="word", min_count=2, max_size=4)
    assert small.tokens == ("<unk>", "cat", "sat", "the")
    assert small.encode("the dog sat").tolist() == [3, 0, 2]          # dog -> <unk>
    assert small.encode("the dog sat", on_unknown="skip").tolist() == [3, 2]


def test_word_vocab_round_trip_keeps_lines():
    vocab = Vocabulary.build(TEXT, level="word")
    assert "\n" in vocab.tokens
    assert vocab.decode(vocab.encode(TEXT)) == TEXT
    lowered = Vocabulary.build(["Good FILM", "bad film"], level="word", lowercase=True)
    assert lowered.encode("GOOD Film").tolist() == [lowered.token_to_id("good"),
                                                    lowered.token_to_id("film")]


def test_decode_drops_pad_and_checks_ids():
    vocab = Vocabulary.build(["a b"], level="word", pad_token="<pad>")
    a, b = vocab.token_to_id("a"), vocab.token_to_id("b")
    assert vocab.decode([a, 0, b, 0]) == "a b"
    assert vocab.decode([a, 0], skip_pad=False) == "a <pad>"
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 4\)"):
        vocab.decode([7])
    with pytest.raises(TypeError, match="1-D sequence of integers"):
        vocab.decode([0.5])
    with pytest.raises(KeyError, match="'zebra' is not in the vocabulary"):
        vocab.token_to_id("zebra")


# -- persistence and validation ---------------------------------------------------

@pytest.mark.parametrize("level", ["char", "word"])
def test_to_dict_is_json_and_from_dict_rebuilds_an_equal_vocabulary(level):
    vocab = Vocabulary.build(TEXT, level=level)
    data = json.loads(json.dumps(vocab.to_dict()))
    again = Vocabulary.from_dict(data)
    assert again == vocab
    np.testing.assert_array_equal(again.encode(TEXT), vocab.encode(TEXT))


@pytest.mark.parametrize("data, message", [
    ([1, 2], "must be a dict"),
    ({"tokens": ["a"]}, r"lacks \['level'\]"),
    ({"level": "byte", "tokens": ["a"]}, "level must be one of"),
    ({"level": "char", "tokens": ["a", "a"]}, "tokens must be distinct"),
    ({"level": "char", "tokens": ["ab"]}, "holds single characters"),
    ({"level": "char", "tokens": []}, "tokens must not be empty"),
    ({"level": "word", "tokens": ["a", 3]}, r"tokens\[1\] must be a non-empty str"),
    ({"level": "word", "tokens": ["a"], "unk_token": "<unk>"}, "unk_token '<unk>' is not among"),
])
def test_from_dict_refuses_malformed_data(data, message):
    with pytest.raises(ValueError, match=message):
        Vocabulary.from_dict(data)


def test_build_validates_its_arguments():
    with pytest.raises(ValueError, match="corpus is empty"):
        Vocabulary.build("")
    with pytest.raises(TypeError, match="item 1 is int"):
        Vocabulary.build(["a", 3], level="word")
    with pytest.raises(ValueError, match="min_count must be a positive integer"):
        Vocabulary.build("a", min_count=0)
    with pytest.raises(ValueError, match="max_size must be a positive integer"):
        Vocabulary.build("a", max_size=0)
    with pytest.raises(ValueError, match="on_unknown must be one of"):
        Vocabulary.build("a").encode("a", on_unknown="ignore")
