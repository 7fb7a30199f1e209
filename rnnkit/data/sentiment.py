"""Labelled sentences: the movie-review polarity set (MR) and the user's CSV/TSV files.

MR (Pang & Lee 2005, "sentence polarity dataset v1.0"): 10,605 one-sentence
movie-review snippets, 5,331 positive and 5,274 negative (the original release
has 5,331 of each; Hutto & Gilbert kept 10,605 of them). It ships inside the
pinned ``vaderSentiment==3.3.2`` sdist (``archive_path("vader")``) as the inner
archive ``additional_resources/hutto_ICWSM_2014.tar.gz``, member
``movieReviewSnippets_GroundTruth.txt``: tab-separated ``id, mean rating, text``.
The polarity label is the *original* one, given by the id: ids 1–5331 are the
positive snippets, the rest negative. (The mean crowd rating in column 2 agrees
with it for 94% of the snippets; it is not used.)

User files: a UTF-8 ``.csv`` or ``.tsv`` (``.txt`` = tab) with a header row (a
byte-order mark is dropped; fields may be of any length); the text and label
columns are chosen by name (``text`` and ``label`` by default), other columns
are ignored.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from rnnkit.data.textfile import csv_rows, read_utf8
from rnnkit.errors import InputError, MissingFileError

MR_INNER_ARCHIVE = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
MR_MEMBER = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
MR_LAST_POSITIVE_ID = 5331
MR_SIZE = 10605
MR_CLASSES = ("negative", "positive")


def load_movie_reviews():
    """MR: ``(texts, labels)``, 10,605 sentences and their labels "negative"/"positive" in file order."""
    from rnnkit.datasets import archive_path

    sdist = archive_path("vader")
    with tarfile.open(sdist) as outer:
        inner_bytes = outer.extractfile(MR_INNER_ARCHIVE).read()
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        raw = inner.extractfile(MR_MEMBER).read()
    texts, labels = parse_mr(raw.decode("utf-8"), source=f"{sdist.name}:{MR_MEMBER}")
    if len(texts) != MR_SIZE:
        raise InputError(f"{sdist.name}: expected {MR_SIZE} movie-review sentences, found {len(texts)}")
    return texts, labels


def parse_mr(text: str, source: str = "<string>"):
    """Parse ``id <tab> rating <tab> sentence`` lines; label by id (<= 5331 positive)."""
    texts, labels = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            raise InputError(f"{source}, line {number}: expected 'id<TAB>rating<TAB>text'")
        texts.append(parts[2].strip())
        labels.append(MR_CLASSES[int(parts[0]) <= MR_LAST_POSITIVE_ID])
    return texts, labels


def read_labeled_texts(path, text_column: str = "text", label_column: str = "label",
                       delimiter: str | None = None):
    """The user's labelled texts from a CSV/TSV file with a header row.

    ``delimiter``: None chooses by suffix (``.csv`` -> ``,``; ``.tsv``/``.txt`` -> tab).
    Returns ``(texts, labels)`` as lists of strings. Raises ``ValueError``
    naming the file, row and column for an empty file, a missing column, an
    empty text or a missing label.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"text file {str(path)!r} does not exist")
    if delimiter is None:
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".tsv", ".txt"):
            raise InputError(f"text file {str(path)!r}: expected .csv, .tsv or .txt, "
                             f"or pass the delimiter explicitly")
        delimiter = "," if suffix == ".csv" else "\t"
    rows = csv_rows(read_utf8(path, "text file"), str(path), delimiter)
    rows = [r for r in rows if any(c.strip() for c in r)]
    return parse_text_table(rows, str(path), text_column, label_column)


def parse_text_table(rows, source, text_column="text", label_column="label"):
    """Rows (header first) -> ``(texts, labels)``; see :func:`read_labeled_texts`."""
    if not rows:
        raise InputError(f"{source}: the file is empty")
    header = [c.strip() for c in rows[0]]
    for flag, name in (("text_column", text_column), ("label_column", label_column)):
        if name not in header:
            raise InputError(f"{source}: no column named {name!r} ({flag}); the header has {header}")
    i_text, i_label = header.index(text_column), header.index(label_column)
    if len(rows) == 1:
        raise InputError(f"{source}: the file has a header but no rows")
    texts, labels = [], []
    for number, row in enumerate(rows[1:], start=2):
        where = f"{source}, row {number}"
        if len(row) <= max(i_text, i_label):
            raise InputError(f"{where}: expected {len(header)} columns as in the header, got {len(row)}")
        text, label = row[i_text].strip(), row[i_label].strip()
        if not text:
            raise InputError(f"{where}: the text ({text_column!r}) is empty (a sequence of length 0)")
        if not label:
            raise InputError(f"{where}: the label ({label_column!r}) is missing")
        texts.append(text)
        labels.append(label)
    return texts, labels
