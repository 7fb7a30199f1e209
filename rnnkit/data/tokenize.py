"""A small, documented word tokenizer (and its inverse) for word-level models.

Rule, applied left to right::

    word        = letters/digits/underscore, with inner apostrophes or hyphens
                  joined ("don't", "o'er", "well-a-day", "3rd")
    punctuation = any other single non-space character (".", ",", "!", "'", "--" is two "-")
    newline     = "\\n" kept as its own token when keep_newlines=True
    whitespace  = separates tokens and is otherwise dropped

``lowercase=True`` lower-cases the text first (what a sentiment classifier wants;
a text generator usually keeps case). ``detokenize`` joins tokens with single
spaces, writes no space before closing punctuation or after an opening one, and
none around a newline, so ``detokenize(word_tokenize(s, keep_newlines=True))``
gives ``s`` back up to whitespace and lost spaces around punctuation.
"""

from __future__ import annotations

import re

from rnnkit.errors import InputTypeError

_WORD = r"[^\W_]+(?:['\-][^\W_]+)*|_+"   # unicode letters/digits, inner ' or - joins
_TOKEN = re.compile(rf"{_WORD}|\n|[^\w\s]")
_TOKEN_NO_NEWLINE = re.compile(rf"{_WORD}|[^\w\s]")

# No space goes *before* these, nor *after* the opening ones.
_CLOSING = set(".,;:!?)]}")
_OPENING = set("([{")


def word_tokenize(text: str, lowercase: bool = False, keep_newlines: bool = False) -> list[str]:
    """Split ``text`` into words and punctuation marks (see the module docstring).

    Parameters
    ----------
    text : str
    lowercase : bool
        Lower-case the text before splitting.
    keep_newlines : bool
        Keep each ``"\\n"`` as a token (line structure matters for generation).

    Returns
    -------
    list of str
    """
    if not isinstance(text, str):
        raise InputTypeError(f"text must be a str, got {type(text).__name__}")
    if lowercase:
        text = text.lower()
    pattern = _TOKEN if keep_newlines else _TOKEN_NO_NEWLINE
    return pattern.findall(text)


def detokenize(tokens) -> str:
    """Join word tokens back into readable text (inverse of ``word_tokenize`` up to spacing)."""
    pieces: list[str] = []
    previous = "\n"
    for token in tokens:
        if not (token == "\n" or previous == "\n" or previous in _OPENING or token in _CLOSING):
            pieces.append(" ")
        pieces.append(token)
        previous = token
    return "".join(pieces)
