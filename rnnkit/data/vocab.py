"""Vocabularies: the mapping between text tokens and integer ids.

A :class:`Vocabulary` is either character-level (every token is one character;
``encode`` reads text character by character) or word-level (text is split with
:func:`rnnkit.data.tokenize.word_tokenize`). Ids are assigned deterministically::

    ids 0.. : special tokens, in the order pad, bos, eos, unk (only those that are set)
    then    : char level -- every distinct character, sorted by code point
              word level -- tokens by descending count, ties alphabetical,
                            keeping those with count >= min_count, at most max_size

Unknown tokens (not in the vocabulary) are never a crash unless asked for:
``on_unknown="auto"`` maps them to ``unk_token`` when the vocabulary has one and
skips them otherwise; ``"unk"``, ``"skip"`` and ``"error"`` force one behaviour.
A character vocabulary has no unk token by default (it is exactly the characters
of its corpus, as in char-rnn); a word vocabulary has ``"<unk>"`` by default.

A sequence-to-sequence model also needs begin- and end-of-sequence tokens: with
``pad_token="<pad>", bos_token="<bos>", eos_token="<eos>"`` they get ids 0, 1, 2
(``pad_id``, ``bos_id``, ``eos_id``) and the unk token 3. They are never produced by
``encode`` (the caller appends them) and are left out of ``to_dict()`` when unset, so
vocabularies without them are stored exactly as before.

``to_dict()`` gives JSON-native data (stored in a model checkpoint's meta) and
``Vocabulary.from_dict`` rebuilds an equal vocabulary, checking every field.

Example (a sentiment classifier)::

    vocab = Vocabulary.build(train_texts, level="word", lowercase=True,
                             pad_token="<pad>", min_count=2, max_size=20000)
    ids = vocab.encode("A gripping, well-acted film")   # int64 (N,), unknown -> unk id
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np

from rnnkit._validation import check_scalar
from rnnkit.data.tokenize import detokenize, word_tokenize
from rnnkit.errors import InputError, InputTypeError

LEVELS = ("char", "word")
ON_UNKNOWN = ("auto", "unk", "skip", "error")
_AUTO = "auto"


class Vocabulary:
    """Token <-> id mapping for one level of text ("char" or "word").

    Parameters
    ----------
    tokens : sequence of str
        The tokens in id order, specials included; distinct, non-empty.
        At char level every non-special token is a single character.
    level : {"char", "word"}
    unk_token, pad_token, bos_token, eos_token : str or None
        Special tokens; when given they must be among ``tokens``.
    lowercase : bool
        Lower-case text before tokenizing (in ``encode`` and ``tokenize``).
    keep_newlines : bool
        Word level only: keep ``"\\n"`` as a token.
    """

    def __init__(self, tokens, level: str = "char", unk_token: str | None = None,
                 pad_token: str | None = None, lowercase: bool = False,
                 keep_newlines: bool = True, bos_token: str | None = None,
                 eos_token: str | None = None):
        if level not in LEVELS:
            raise InputError(f"level must be one of {LEVELS}, got {level!r}")
        if isinstance(tokens, str) or not isinstance(tokens, Iterable):
            raise InputTypeError(f"tokens must be a list of str, got {type(tokens).__name__}")
        tokens = list(tokens)
        if not tokens:
            raise InputError("tokens must not be empty")
        for i, token in enumerate(tokens):
            if not isinstance(token, str) or token == "":
                raise InputTypeError(f"tokens[{i}] must be a non-empty str, got {token!r}")
        if len(set(tokens)) != len(tokens):
            duplicates = sorted(t for t, n in Counter(tokens).items() if n > 1)
            raise InputError(f"tokens must be distinct; repeated: {duplicates[:10]}")
        named = (("unk_token", unk_token), ("pad_token", pad_token),
                 ("bos_token", bos_token), ("eos_token", eos_token))
        for name, special in named:
            if special is not None and special not in tokens:
                raise InputError(f"{name} {special!r} is not among the tokens")
        given = [special for _, special in named if special is not None]
        if (bos_token or eos_token) and len(set(given)) != len(given):
            raise InputError(f"the special tokens must be distinct, got {dict(named)}")
        specials = set(given)
        if level == "char":
            long = [t for t in tokens if len(t) != 1 and t not in specials]
            if long:
                raise InputError(
                    f"a char-level vocabulary holds single characters; got {long[:5]}")
        self.level = level
        self.unk_token = unk_token
        self.pad_token = pad_token
        self.bos_token = bos_token
        self.eos_token = eos_token
        self.lowercase = bool(lowercase)
        self.keep_newlines = bool(keep_newlines)
        self._tokens = tuple(tokens)
        self._index = {token: i for i, token in enumerate(tokens)}
        self._special_ids = tuple(sorted(self._index[t] for t in specials))
        if level == "char":
            self._build_char_table(specials)

    # -- construction --------------------------------------------------------
    @classmethod
    def build(cls, corpus, level: str = "char", min_count: int = 1, max_size: int | None = None,
              unk_token: str | None = _AUTO, pad_token: str | None = None,
              lowercase: bool = False, keep_newlines: bool = True,
              bos_token: str | None = None, eos_token: str | None = None) -> "Vocabulary":
        """Build a vocabulary from a text or an iterable of texts.

        Parameters
        ----------
        corpus : str or iterable of str
        level : {"char", "word"}
        min_count : int
            Keep only tokens seen at least this often (word level; at char
            level rare characters are kept unless this is raised).
        max_size : int or None
            At most this many tokens, specials included (the most frequent win).
        unk_token : str or None
            Default: None at char level, ``"<unk>"`` at word level.
        pad_token : str or None
            E.g. ``"<pad>"`` for padded batches; it gets id 0.
        bos_token, eos_token : str or None
            E.g. ``"<bos>"``, ``"<eos>"`` for a sequence-to-sequence decoder; they
            follow the pad token (ids 1, 2 with a pad token).
        lowercase, keep_newlines : bool
            See the class docstring.
        """
        if level not in LEVELS:
            raise InputError(f"level must be one of {LEVELS}, got {level!r}")
        if unk_token == _AUTO:
            unk_token = None if level == "char" else "<unk>"
        min_count = check_scalar(min_count, "min_count", int, low=1)
        max_size = check_scalar(max_size, "max_size", int, low=1, none_ok=True)
        texts = [corpus] if isinstance(corpus, str) else corpus
        counts: Counter = Counter()
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputTypeError(f"corpus must be a str or an iterable of str; item {i} is "
                                     f"{type(text).__name__}")
            if level == "char":
                counts.update(text.lower() if lowercase else text)
            else:
                counts.update(word_tokenize(text, lowercase, keep_newlines))
        specials = [t for t in (pad_token, bos_token, eos_token, unk_token) if t is not None]
        for special in specials:
            counts.pop(special, None)
        kept = [(t, n) for t, n in counts.items() if n >= min_count]
        if level == "char":
            kept.sort(key=lambda item: item[0])
        else:
            kept.sort(key=lambda item: (-item[1], item[0]))
        if max_size is not None:
            kept = kept[:max(0, max_size - len(specials))]
            if level == "char":
                kept.sort(key=lambda item: item[0])
        tokens = specials + [t for t, _ in kept]
        if not tokens:
            raise InputError("corpus is empty: no tokens to build a vocabulary from")
        return cls(tokens, level=level, unk_token=unk_token, pad_token=pad_token,
                   lowercase=lowercase, keep_newlines=keep_newlines,
                   bos_token=bos_token, eos_token=eos_token)

    def _build_char_table(self, specials) -> None:
        # Sorted code points and their ids: encode() maps a whole text with one
        # searchsorted instead of a Python loop (the corpus has millions of chars).
        chars = [(ord(t), i) for i, t in enumerate(self._tokens) if t not in specials]
        chars.sort()
        self._code_points = np.array([c for c, _ in chars], dtype=np.uint32)
        self._code_ids = np.array([i for _, i in chars], dtype=np.int64)

    # -- lookups -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token) -> bool:
        return token in self._index

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return (f"Vocabulary(level={self.level!r}, size={len(self)}, "
                f"unk_token={self.unk_token!r}, pad_token={self.pad_token!r})")

    @property
    def tokens(self) -> tuple[str, ...]:
        """All tokens in id order."""
        return self._tokens

    @property
    def unk_id(self) -> int | None:
        return None if self.unk_token is None else self._index[self.unk_token]

    @property
    def pad_id(self) -> int | None:
        return None if self.pad_token is None else self._index[self.pad_token]

    @property
    def bos_id(self) -> int | None:
        return None if self.bos_token is None else self._index[self.bos_token]

    @property
    def eos_id(self) -> int | None:
        return None if self.eos_token is None else self._index[self.eos_token]

    @property
    def special_ids(self) -> tuple[int, ...]:
        """Ids of the special tokens (pad, bos, eos, unk): never produced by sampling."""
        return self._special_ids

    def token_to_id(self, token: str) -> int:
        """Id of ``token``; KeyError naming it if unknown."""
        try:
            return self._index[token]
        except KeyError:
            raise KeyError(f"token {token!r} is not in the vocabulary") from None

    def id_to_token(self, token_id: int) -> str:
        token_id = check_scalar(token_id, "token_id", int, low=0, high=len(self), include_high=False)
        return self._tokens[token_id]

    # -- text <-> ids --------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        """Split text into tokens as this vocabulary does (characters or words)."""
        if not isinstance(text, str):
            raise InputTypeError(f"text must be a str, got {type(text).__name__}")
        if self.level == "char":
            return list(text.lower() if self.lowercase else text)
        return word_tokenize(text, lowercase=self.lowercase, keep_newlines=self.keep_newlines)

    def unknown(self, text: str) -> list[str]:
        """The distinct tokens of ``text`` that are not in the vocabulary, sorted."""
        return sorted({t for t in self.tokenize(text) if t not in self._index})

    def encode(self, text: str, on_unknown: str = "auto") -> np.ndarray:
        """Token ids of ``text``, int64 of shape (N,).

        ``on_unknown``: "auto" (unk if the vocabulary has one, else skip),
        "unk", "skip" or "error" (ValueError listing the unknown tokens).
        """
        if not isinstance(text, str):
            raise InputTypeError(f"text must be a str, got {type(text).__name__}")
        on_unknown = self._check_on_unknown(on_unknown)
        if self.level == "word":
            return self.encode_tokens(self.tokenize(text), on_unknown)
        if self.lowercase:
            text = text.lower()
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)   # (N,)
        pos = np.searchsorted(self._code_points, points)
        pos = np.minimum(pos, max(len(self._code_points) - 1, 0))
        known = (self._code_points[pos] == points) if len(self._code_points) else \
            np.zeros(points.shape, dtype=bool)
        ids = np.where(known, self._code_ids[pos] if len(self._code_ids) else 0, -1)
        if known.all():
            return ids.astype(np.int64)
        return self._resolve_unknown(ids, known, on_unknown, lambda: self.unknown(text))

    def encode_tokens(self, tokens, on_unknown: str = "auto") -> np.ndarray:
        """Ids of already tokenized text (a list of str), int64 of shape (N,)."""
        on_unknown = self._check_on_unknown(on_unknown)
        tokens = list(tokens)
        ids = np.array([self._index.get(t, -1) for t in tokens], dtype=np.int64)
        known = ids >= 0
        if known.all():
            return ids
        return self._resolve_unknown(
            ids, known, on_unknown, lambda: sorted({t for t in tokens if t not in self._index}))

    def _check_on_unknown(self, on_unknown: str) -> str:
        if on_unknown not in ON_UNKNOWN:
            raise InputError(f"on_unknown must be one of {ON_UNKNOWN}, got {on_unknown!r}")
        if on_unknown == "auto":
            return "skip" if self.unk_token is None else "unk"
        if on_unknown == "unk" and self.unk_token is None:
            raise InputError("on_unknown='unk' needs a vocabulary with an unk_token")
        return on_unknown

    def _resolve_unknown(self, ids, known, on_unknown, list_unknown) -> np.ndarray:
        if on_unknown == "error":
            missing = list_unknown()
            raise InputError(f"{len(missing)} token(s) not in the vocabulary: "
                             f"{', '.join(repr(t) for t in missing[:10])}")
        if on_unknown == "skip":
            return ids[known].astype(np.int64)
        return np.where(known, ids, self.unk_id).astype(np.int64)

    def decode(self, ids, skip_pad: bool = True) -> str:
        """Text of a sequence of ids. Pad ids are dropped (unless ``skip_pad=False``);
        the unk id reads as ``unk_token``."""
        arr = np.asarray(ids)
        if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
            raise InputTypeError(f"ids must be a 1-D sequence of integers, got shape {arr.shape} "
                                 f"dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= len(self)):
            raise InputError(f"ids must lie in [0, {len(self)}), got min {arr.min()} "
                             f"and max {arr.max()}")
        skip = self.pad_id if skip_pad else None
        tokens = [self._tokens[i] for i in arr.tolist() if i != skip]
        return "".join(tokens) if self.level == "char" else detokenize(tokens)

    # -- persistence ---------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-native description; ``Vocabulary.from_dict`` inverts it."""
        data = {"level": self.level, "tokens": list(self._tokens),
                "unk_token": self.unk_token, "pad_token": self.pad_token,
                "lowercase": self.lowercase, "keep_newlines": self.keep_newlines}
        for name in ("bos_token", "eos_token"):   # only when set: older data stays as it was
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        return data

    @classmethod
    def from_dict(cls, data) -> "Vocabulary":
        """Rebuild a vocabulary from ``to_dict()`` output; ValueError if malformed."""
        if not isinstance(data, dict):
            raise InputError(f"vocabulary data must be a dict, got {type(data).__name__}")
        missing = sorted({"level", "tokens"} - set(data))
        if missing:
            raise InputError(f"vocabulary data lacks {missing}")
        try:
            return cls(data["tokens"], level=data["level"], unk_token=data.get("unk_token"),
                       pad_token=data.get("pad_token"), lowercase=data.get("lowercase", False),
                       keep_newlines=data.get("keep_newlines", True),
                       bos_token=data.get("bos_token"), eos_token=data.get("eos_token"))
        except TypeError as exc:
            raise InputError(f"vocabulary data is malformed: {exc}") from None
