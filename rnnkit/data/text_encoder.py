"""Texts -> token-id sequences through a word vocabulary, saved with the model.

The ``sentiment`` app's encoder (the encoder protocol of :mod:`rnnkit.classification`:
``fit`` classmethod, ``transform``, ``model_inputs``, ``to_dict``/``from_dict``)::

    vocab = the training words (lower-cased rnnkit.data.word_tokenize) seen at least
            min_count times, or once if in `known` (e.g. the words that have a pretrained
            vector), the max_size most frequent; "<pad>" id 0, "<unk>" id 1
    ids   = vocab.encode(text)       # (L,) int64, unseen words -> <unk>
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from rnnkit.data.tokenize import word_tokenize
from rnnkit.data.vocab import Vocabulary
from rnnkit.errors import InputError, InputTypeError


class TextEncoder:
    """Texts -> token-id arrays ``(L,)`` through a word :class:`~rnnkit.data.Vocabulary`."""

    def __init__(self, vocab: Vocabulary):
        self.vocab = vocab

    @classmethod
    def fit(cls, texts, min_count: int = 2, max_size: int | None = 30000,
            known=None) -> "TextEncoder":
        """The vocabulary of the training ``texts`` (a list of strings); words in the set
        ``known`` are kept when seen once."""
        if known is None:
            return cls(Vocabulary.build(texts, level="word", lowercase=True, min_count=min_count,
                                        max_size=max_size, unk_token="<unk>", pad_token="<pad>",
                                        keep_newlines=False))
        if isinstance(texts, str):
            raise InputTypeError("texts must be a list of strings, not one string")
        counts = Counter(word for text in texts for word in word_tokenize(text, lowercase=True))
        counts.pop("<pad>", None)
        counts.pop("<unk>", None)
        kept = sorted((w for w, n in counts.items() if n >= min_count or w in known),
                      key=lambda w: (-counts[w], w))                   # most frequent first
        if max_size is not None:
            kept = kept[:max(0, max_size - 2)]
        return cls(Vocabulary(["<pad>", "<unk>", *kept], level="word", unk_token="<unk>",
                              pad_token="<pad>", lowercase=True, keep_newlines=False))

    def transform(self, texts) -> list[np.ndarray]:
        """One ``(L,)`` int64 array per text; a text without words is refused."""
        if isinstance(texts, str):
            raise InputTypeError("texts must be a list of strings, not one string")
        ids = []
        for n, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputTypeError(f"texts[{n}] must be a str, got {type(text).__name__}")
            row = self.vocab.encode(text, on_unknown="unk")                 # (L,) int64
            if row.size == 0:
                raise InputError(f"texts[{n}] ({text!r}) has no words (a sequence of length 0)")
            ids.append(row)
        return ids

    def model_inputs(self) -> dict:
        return {"vocab_size": len(self.vocab)}

    def to_dict(self) -> dict:
        return {"vocab": self.vocab.to_dict()}

    @classmethod
    def from_dict(cls, data) -> "TextEncoder":
        return cls(Vocabulary.from_dict(data["vocab"]))


class PretrainedTextEncoder(TextEncoder):
    """A :class:`TextEncoder` for a model whose embedding starts from pretrained vectors:
    its vocabulary keeps every training word that has a GloVe vector, even one seen once
    (:func:`rnnkit.data.glove.glove_words`), and its ``model_inputs`` carry the vocabulary
    so that the model's builder can look the vectors up. Saved and loaded as a
    :class:`TextEncoder` (the checkpoint holds the vectors as the model's weights)."""

    @classmethod
    def fit(cls, texts, min_count: int = 2, max_size: int | None = 30000,
            known=None) -> "PretrainedTextEncoder":
        from rnnkit.data.glove import glove_words

        return super().fit(texts, min_count, max_size, glove_words() if known is None else known)

    def model_inputs(self) -> dict:
        return {"vocab_size": len(self.vocab), "vocab": self.vocab}


__all__ = ["TextEncoder", "PretrainedTextEncoder"]
