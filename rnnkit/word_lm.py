"""A word n-gram language model over a lexicon, asked one character at a time.

CTC beam search grows a transcript a character at a time; a word model knows whole
words. :class:`WordLexiconLM` turns one into the other exactly, the way a lexicon
prefix tree with language-model look-ahead does (DeepSpeech's scorer, Kaldi's lexicon
FST). With ``h`` the last ``order - 1`` finished words, ``u`` the characters typed
since the last space, ``P_h(w)`` the word n-gram
(:class:`rnnkit.ngram.CharNgramLM` over word ids: interpolated absolute
discounting) and ``M_h(u) = sum of P_h(w) over the lexicon words w that start with u``::

    letter c:  p(c | h, u)     = M_h(u + c) / M_h(u)
    space:     p(" " | h, u)   = P_h(u) / M_h(u) * (1 - P_{h,u}(stop))   # u ends, a word follows
    end:       p(stop | h, u)  = P_h(u) / M_h(u) * P_{h,u}(stop)         # u ends the transcript

except at the very start, where ``M(()) = 1`` (a letter or the stop of an empty
transcript, ``P(stop)``). The characters of a transcript ``w1 w2 .. wn`` multiply to
``P(w1) P(w2 | w1) .. P(stop | .. wn)``, the word model's own probability. A character that
leaves the lexicon (``M_h(u + c) = 0``), a space after no letter or a word that is not
in the lexicon gets ``FLOOR`` instead of zero: out-of-lexicon transcripts stay possible
but pay ``log FLOOR`` (-23) for every such character, so with a weight ``w`` a beam only
keeps one where the acoustic evidence is ``23 w`` nats stronger than for any word.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

from rnnkit._validation import check_positive_int, check_scalar
from rnnkit.errors import InputError
from rnnkit.ngram import CharNgramLM

FLOOR = 1e-10                   # probability of a character outside the lexicon
STATES = 1 << 16                # prefixes whose parse is kept (a beam asks each ~28 times)


class WordLexiconLM:
    """Word n-gram of order ``order`` over the words of the fitted transcripts.

    Transcripts are sequences of character labels with ``space`` between words.
    ``lm(prefix, label)`` is ``log p(label | prefix)`` as the module docstring computes
    it and ``end_log_prob(prefix)`` ``log p(stop | prefix)``:
    :func:`rnnkit.ctc_decoding.ctc_prefix_beam_search` calls both.
    """

    def __init__(self, space: int, order: int = 2, discount: float = 0.75):
        self.space = check_scalar(space, "space", int, low=0)
        self.order = check_positive_int(order, "order")
        self.discount = check_scalar(discount, "discount", float, low=0.0, high=1.0,
                                     include_low=False, include_high=False)
        self.words: list[tuple] = []            # the lexicon, sorted
        self._ngram = None                      # CharNgramLM over word ids
        self._by_history: dict[tuple, tuple] = {}  # word-id history -> _distribution
        self._states: dict[tuple, tuple] = {}      # prefix -> _state, at most STATES

    def fit(self, transcripts) -> "WordLexiconLM":
        """Build the lexicon and the word n-gram counts of ``transcripts`` (sequences of
        character labels), replacing any earlier fit."""
        sentences = [self._split(t) for t in transcripts]
        self.words = sorted({w for s in sentences for w in s})
        if not self.words:
            raise InputError("no words to fit: every transcript is empty")
        index = {w: i for i, w in enumerate(self.words)}
        self._ngram = CharNgramLM(len(self.words), self.order, self.discount).fit(
            [[index[w] for w in s] for s in sentences])
        self._by_history.clear()
        self._states.clear()
        return self

    def _split(self, transcript) -> list[tuple]:
        """The words of ``transcript``: runs of labels between spaces."""
        words, word = [], []
        for c in [int(c) for c in transcript] + [self.space]:
            if c != self.space:
                word.append(c)
            elif word:
                words.append(tuple(word))
                word = []
        return words

    # ------------------------------------------------------------------ scoring

    def __call__(self, prefix, label) -> float:
        """``log p(label | prefix)`` (the shallow-fusion term of a beam search)."""
        history, partial = self._state(prefix)
        if history is None:                          # an earlier word left the lexicon
            return math.log(FLOOR)
        label = int(label)
        probs, cumulative = self._distribution(history)
        mass = self._mass(cumulative, partial) if prefix else 1.0     # the stop is the rest
        if label != self.space:
            grown = self._mass(cumulative, partial + (label,))
            return math.log(grown / mass) if grown > 0 else math.log(FLOOR)
        ends, stop = self._word_ends(history, partial, probs, mass)
        return math.log(ends * (1.0 - stop)) if ends > 0 else math.log(FLOOR)

    def end_log_prob(self, prefix) -> float:
        """``log p(stop | prefix)``: how likely the transcript ends after ``prefix``."""
        history, partial = self._state(prefix)
        if history is None:
            return math.log(FLOOR)
        probs, cumulative = self._distribution(history)
        if not partial:                              # nothing typed, or a trailing space
            return math.log(probs[-1]) if not prefix else math.log(FLOOR)
        ends, stop = self._word_ends(history, partial, probs, self._mass(cumulative, partial))
        return math.log(ends * stop) if ends > 0 else math.log(FLOOR)

    def log_prob(self, transcript) -> float:
        """``log p(transcript, stop)``, character by character."""
        labels, total = [int(c) for c in transcript], 0.0
        for i, c in enumerate(labels):
            total += self(labels[:i], c)
        return total + self.end_log_prob(labels)

    def _state(self, prefix):
        """``(history, partial)``: the ids of the last ``order - 1`` finished words and
        the characters since the last space; history None if a finished word is not in
        the lexicon or two spaces meet. Parsed once per prefix: the beam asks about
        every label after the same prefix."""
        key = tuple(prefix)
        state = self._states.get(key)
        if state is None:
            if len(self._states) >= STATES:
                self._states.clear()
            state = self._states[key] = self._parse(key)
        return state

    def _parse(self, prefix):
        labels = tuple(int(c) for c in prefix)
        cut = len(labels) - labels[::-1].index(self.space) if self.space in labels else 0
        partial, finished = labels[cut:], self._split(labels[:cut])
        doubled = any(a == b == self.space for a, b in zip(labels, labels[1:]))
        if cut and (labels[0] == self.space or doubled):
            return None, partial
        ids = [self._word_id(word) for word in self._context(finished)]
        if None in ids:
            return None, partial
        return tuple(ids), partial

    def _context(self, words):
        """The last ``order - 1`` of ``words``: what the n-gram conditions on."""
        return words[max(0, len(words) - self.order + 1):]

    def _word_id(self, word) -> int | None:
        """The lexicon index of ``word`` (a tuple of labels), None if it is not a word."""
        i = bisect.bisect_left(self.words, word)
        return i if word and i < len(self.words) and self.words[i] == word else None

    def _distribution(self, history):
        """``(probs (V + 1,), cumulative (V + 1,))``: ``P_h`` over the sorted lexicon
        then the stop, and the running sums of the V word probabilities (0 first)."""
        if self._ngram is None:
            raise InputError("the word model has no words yet: fit it on transcripts first")
        if history not in self._by_history:
            lm = self._ngram
            probs = np.array([math.exp(lm(history, w)) for w in range(len(self.words))]
                             + [math.exp(lm.end_log_prob(history))])
            cumulative = np.concatenate(([0.0], np.cumsum(probs[:-1])))
            self._by_history[history] = probs, cumulative
        return self._by_history[history]

    def _mass(self, cumulative, partial) -> float:
        """``M_h(partial)``: the probability of the words that start with ``partial``."""
        lo = bisect.bisect_left(self.words, partial)
        hi = bisect.bisect_left(self.words, partial + (math.inf,))
        return float(cumulative[hi] - cumulative[lo])

    def _word_ends(self, history, partial, probs, mass) -> tuple:
        """``(P_h(partial) / M_h(partial), P(stop | h, partial))``: how likely the word
        being spelled ends here, and the transcript after it; ``(0, 0)`` if ``partial`` is
        not a lexicon word."""
        i = self._word_id(partial)
        if i is None or mass <= 0:
            return 0.0, 0.0
        stop = self._distribution(self._context(history + (i,)))[0][-1]
        return float(probs[i]) / mass, float(stop)

    # ------------------------------------------------------------------ storage

    def to_dict(self) -> dict:
        """JSON-safe: the lexicon, the word-id transcripts' n-gram counts."""
        return {"space": self.space, "order": self.order, "discount": self.discount,
                "words": [list(w) for w in self.words], "ngram": self._ngram.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> "WordLexiconLM":
        lm = cls(data["space"], data["order"], data["discount"])
        lm.words = [tuple(w) for w in data["words"]]
        lm._ngram = CharNgramLM.from_dict(data["ngram"])
        return lm
