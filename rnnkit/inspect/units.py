"""Interpretable units: which units follow a simple property of the text.

Karpathy, Johnson & Fei-Fei (2015) found single cells of a character model that track
quotes, line length or indentation. Here each property is a number per character,
describing the state *after* reading it (what the model could know at that point), and
every unit is scored by the Pearson correlation of its activation with it::

    inside quotes      1 while an odd number of '"' has been read            (0/1)
    inside brackets    1 while more of ( [ { than of ) ] } have been read     (0/1)
    position in line   characters read since the last newline               (0, 1, 2, ...)
    line start         1 just after a newline: the next character starts a line
    speaker line       1 on a line that names the speaker ("First Witch:", the format
                       of the embedded Shakespeare), newline excluded

    r(unit j, feature f) = corr(a[:, j], f)        # a (N, U): N characters, U units

A unit or a feature that is constant over the text has r = 0. The ranking keeps the best
few units of each feature that varies over the text and lists them by |r|, the best first.
"""

from __future__ import annotations

import re

import numpy as np

from rnnkit.errors import InputError

_SPEAKER = re.compile(r"^[A-Z][A-Za-z.' -]{0,39}:$")
OPENING, CLOSING = "([{", ")]}"


def _speaker_line(text: str) -> np.ndarray:
    feature = np.zeros(len(text))
    start = 0
    for line in text.split("\n"):
        if _SPEAKER.match(line):
            feature[start:start + len(line)] = 1.0
        start += len(line) + 1
    return feature


def text_features(text: str) -> dict:
    """The features above for every character of ``text``: ``{name: (N,) float64}``."""
    if not isinstance(text, str) or not text:
        raise InputError("text must be a non-empty string")
    chars = np.array(list(text))
    quotes = np.cumsum(chars == '"') % 2
    depth = np.cumsum(np.isin(chars, list(OPENING)).astype(int)
                      - np.isin(chars, list(CLOSING)).astype(int))
    newline = chars == "\n"
    position, column = np.zeros(len(text)), 0
    for i, is_newline in enumerate(newline):
        column = 0 if is_newline else column + 1
        position[i] = column
    return {"inside quotes": quotes.astype(float),
            "inside brackets": (depth > 0).astype(float),
            "position in line": position,
            "line start": newline.astype(float),
            "speaker line": _speaker_line(text)}


def correlations(activations: np.ndarray, feature: np.ndarray) -> np.ndarray:
    """``(U,)`` Pearson correlation of each column of ``activations (N, U)`` with
    ``feature (N,)``; 0 where either is constant."""
    a = np.asarray(activations, np.float64)
    f = np.asarray(feature, np.float64)
    if a.ndim != 2 or f.shape != (a.shape[0],):
        raise InputError(f"activations must be (N, U) and feature (N,), got {a.shape} and {f.shape}")
    a = a - a.mean(axis=0)
    f = f - f.mean()
    norm = np.sqrt((a * a).sum(axis=0) * (f @ f))                      # (U,)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (f @ a) / norm
    return np.where(norm > 1e-12, r, 0.0)


def rank_units(activations: np.ndarray, features: dict, per_feature: int = 3) -> list[dict]:
    """The ``per_feature`` units of each feature with the largest ``|r|``, all pairs then
    sorted by ``|r|``, the best first: ``[{"feature", "unit", "r"}]``. A feature that is
    constant over the text (no quotes in it, say) is left out."""
    pairs = []
    for name, feature in features.items():
        if np.ptp(feature) == 0:
            continue
        r = correlations(activations, feature)
        for unit in np.argsort(-np.abs(r), kind="stable")[:per_feature]:
            pairs.append({"feature": name, "unit": int(unit), "r": float(r[unit])})
    pairs.sort(key=lambda p: -abs(p["r"]))
    return pairs


def token_features(pieces) -> dict:
    """The text features at the last character of each piece (each character at char level)."""
    text = "".join(pieces)
    ends = np.cumsum([len(p) for p in pieces]) - 1
    return {name: values[ends] for name, values in text_features(text).items()}
