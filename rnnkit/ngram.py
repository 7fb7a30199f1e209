"""A character n-gram language model, for shallow fusion in CTC beam search.

An order-``n`` model predicts a label from the ``n - 1`` before it. Sentences are
padded on the left with ``n - 1`` start symbols and end with an end symbol, so the
first labels and the stop are predicted too. Counts are smoothed by interpolated
absolute discounting (Ney, Essen & Kneser 1994), recursively down to a uniform
distribution over the ``V`` labels and the end symbol::

    p(c | h) = max(count(h c) - d, 0) / count(h)  +  d * types(h) / count(h) * p(c | h')
    p(c | ()) from unigram counts the same way, backed off to 1 / (V + 1)

where ``h'`` is ``h`` without its oldest label, ``types(h)`` the number of distinct
labels seen after ``h``, and a history never seen gives ``p(c | h) = p(c | h')``. It is
what :func:`rnnkit.ctc_decoding.ctc_prefix_beam_search` calls as ``lm(prefix, label)``.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

from rnnkit._validation import check_positive_int, check_scalar
from rnnkit.errors import InputError

START, END = -1, -2           # the padding and stop symbols (never a label id)


class CharNgramLM:
    """Order-``order`` n-gram model over integer labels ``0 .. num_labels - 1``.

    ``fit(sequences)`` counts; ``lm(prefix, label)`` is ``log p(label | the last
    order - 1 labels of prefix)``; ``end_log_prob(prefix)`` is ``log p(stop | ...)``.
    ``to_dict`` / ``from_dict`` carry the counts in a checkpoint (JSON-safe).
    """

    def __init__(self, num_labels: int, order: int = 3, discount: float = 0.75):
        self.num_labels = check_positive_int(num_labels, "num_labels")
        self.order = check_positive_int(order, "order")
        self.discount = check_scalar(discount, "discount", float, low=0.0, high=1.0,
                                     include_low=False, include_high=False)
        self.counts: dict[tuple, Counter] = defaultdict(Counter)     # history -> next -> n
        self._cache: dict[tuple, float] = {}

    def fit(self, sequences) -> "CharNgramLM":
        """Add the n-gram counts of ``sequences`` (iterables of label ids)."""
        for sequence in sequences:
            labels = [int(c) for c in sequence]
            bad = [c for c in labels if not 0 <= c < self.num_labels]
            if bad:
                raise InputError(f"labels must lie in [0, {self.num_labels}), got {bad[0]}")
            padded = [START] * (self.order - 1) + labels + [END]
            for i in range(self.order - 1, len(padded)):
                for k in range(self.order):                        # every history length
                    self.counts[tuple(padded[i - k:i])][padded[i]] += 1
        self._cache.clear()
        return self

    def __call__(self, prefix, label) -> float:
        """``log p(label | prefix)`` (the shallow-fusion term of a beam search)."""
        return math.log(self._prob(self._history(prefix), int(label)))

    def end_log_prob(self, prefix) -> float:
        """``log p(stop | prefix)``: how likely the text ends after ``prefix``."""
        return math.log(self._prob(self._history(prefix), END))

    def log_prob(self, sequence) -> float:
        """``log p(sequence, stop)``: the whole text's log probability."""
        labels, total = [int(c) for c in sequence], 0.0
        for i, c in enumerate(labels):
            total += self(labels[:i], c)
        return total + self.end_log_prob(labels)

    def _history(self, prefix) -> tuple:
        n = self.order - 1
        if n == 0:
            return ()
        last = [int(c) for c in prefix[-n:]]                   # only the last n labels
        return tuple([START] * (n - len(last)) + last)

    def _prob(self, history: tuple, label: int) -> float:
        key = history + (label,)
        if key not in self._cache:
            self._cache[key] = self._interpolated(history, label)
        return self._cache[key]

    def _interpolated(self, history: tuple, label: int) -> float:
        lower = self._prob(history[1:], label) if history else 1.0 / (self.num_labels + 1)
        seen = self.counts.get(history)
        if not seen:
            return lower
        total = sum(seen.values())
        return (max(seen[label] - self.discount, 0.0) / total
                + self.discount * len(seen) / total * lower)

    def to_dict(self) -> dict:
        """JSON-safe counts: ``{"order", "num_labels", "discount", "counts": [[history,
        next, n], ...]}``."""
        rows = [[list(h), c, n] for h, following in self.counts.items()
                for c, n in following.items()]
        return {"order": self.order, "num_labels": self.num_labels,
                "discount": self.discount, "counts": rows}

    @classmethod
    def from_dict(cls, data: dict) -> "CharNgramLM":
        lm = cls(data["num_labels"], data["order"], data["discount"])
        for history, label, n in data["counts"]:
            lm.counts[tuple(history)][int(label)] = int(n)
        return lm
