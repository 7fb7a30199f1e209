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
        ends = self._word_ends(probs, partial, mass)
        if ends == 0:
            return math.log(FLOOR)
        following = self._distribution(self._next_history(history, partial))[0]
        return math.log(ends * (1.0 - following[-1]))

    def end_log_prob(self, prefix) -> float:
        """``log p(stop | prefix)``: how likely the transcript ends after ``prefix``."""
        history, partial = self._state(prefix)
        if history is None:
            return math.log(FLOOR)
        probs, cumulative = self._distribution(history)
        if not partial:                              # nothing typed, or a trailing space
            return math.log(probs[-1]) if not prefix else math.log(FLOOR)
        ends = self._word_ends(probs, partial, self._mass(cumulative, partial))
        if ends == 0:
            return math.log(FLOOR)
        following = self._distribution(self._next_history(history, partial))[0]
        return math.log(ends * following[-1])

    def log_prob(self, transcript) -> float:
        """``log p(transcript, stop)``, character by character."""
        labels, total = [int(c) for c in transcript], 0.0
        for i, c in enumerate(labels):
            total += self(labels[:i], c)
        return total + self.end_log_prob(labels)

    def _state(self, prefix):
        """``(history, partial)``: the ids of the last ``order - 1`` finished words and
        the characters since the last space; history None if a finished word is not in
        the lexicon or two spaces meet."""
        labels = tuple(int(c) for c in prefix)
        cut = len(labels) - labels[::-1].index(self.space) if self.space in labels else 0
        partial, finished = labels[cut:], self._split(labels[:cut])
        doubled = any(a == b == self.space for a, b in zip(labels, labels[1:]))
        if cut and (labels[0] == self.space or doubled):
            return None, partial
        ids = []
        for word in finished[-(self.order - 1):] if self.order > 1 else []:
            i = bisect.bisect_left(self.words, word)
            if i == len(self.words) or self.words[i] != word:
                return None, partial
            ids.append(i)
        return tuple(ids), partial

    def _next_history(self, history, partial) -> tuple:
        if self.order == 1:
            return ()
        return (history + (bisect.bisect_left(self.words, partial),))[-(self.order - 1):]

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

    def _word_ends(self, probs, partial, mass) -> float:
        """``P_h(partial) / M_h(partial)``: 0 if ``partial`` is not a lexicon word."""
        i = bisect.bisect_left(self.words, partial)
        if not partial or i == len(self.words) or self.words[i] != partial or mass <= 0:
            return 0.0
        return float(probs[i]) / mass

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
