"""Text data: tokenizers, vocabularies, corpora (a user's file or the embedded Shakespeare)."""

from rnnkit.data.tokenize import detokenize, word_tokenize
from rnnkit.data.vocab import Vocabulary

__all__ = ["Vocabulary", "word_tokenize", "detokenize"]
