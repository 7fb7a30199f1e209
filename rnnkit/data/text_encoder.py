"""Texts -> token-id sequences through a word vocabulary, saved with the model.

The ``sentiment`` app's encoder (the encoder protocol of :mod:`rnnkit.classification`:
``fit`` classmethod, ``transform``, ``model_inputs``, ``to_dict``/``from_dict``)::

    vocab = the training words (lower-cased rnnkit.data.word_tokenize) seen at least
            min_count times, the max_size most frequent; "<pad>" id 0, "<unk>" id 1
    ids   = vocab.encode(text)       # (L,) int64, unseen words -> <unk>
"""

from __future__ import annotations

import numpy as np

from rnnkit.data.vocab import Vocabulary
from rnnkit.errors import InputError, InputTypeError


class TextEncoder:
    """Texts -> token-id arrays ``(L,)`` through a word :class:`~rnnkit.data.Vocabulary`."""

    def __init__(self, vocab: Vocabulary):
        self.vocab = vocab

    @classmethod
    def fit(cls, texts, min_count: int = 2, max_size: int | None = 30000) -> "TextEncoder":
        """The vocabulary of the training ``texts`` (a list of strings)."""
        return cls(Vocabulary.build(texts, level="word", lowercase=True, min_count=min_count,
                                    max_size=max_size, unk_token="<unk>", pad_token="<pad>",
                                    keep_newlines=False))

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


__all__ = ["TextEncoder"]
