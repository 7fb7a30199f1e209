"""Labelled multivariate sequences: JapaneseVowels and the user's own files.

A data set here is a list of ``(T_i, D)`` float arrays (time steps x features,
``T_i`` may differ) and a list of string labels, one per sequence.

JapaneseVowels (Kudo, Toyama & Shimbo 1999; UCI): nine male speakers say the
vowels /ae/; each utterance is 7–29 frames of 12 LPC cepstrum coefficients; the
task is to name the speaker. 270 training and 370 test sequences, read from the
``.ts`` files inside the pinned ``sktime`` wheel (``archive_path("sktime")``);
sktime itself is never imported.

User files (UTF-8; a byte-order mark is dropped), chosen by suffix:

``.ts`` (the sktime / UEA format)
    ``#`` comment lines, ``@`` header lines, then ``@data``; each data line is
    one sequence: ``dim_1 : dim_2 : ... : dim_D : label``, each ``dim_k`` being
    the comma-separated values of feature ``k`` over time (``?`` = missing is
    refused). ``@timeStamps true`` is not supported.

``.csv`` / ``.tsv`` (long format, one row per time step)
    a header row naming the sequence-id column and the label column
    (``id`` and ``label`` by default) and the feature columns (every other
    column, in order). Rows of one sequence must be consecutive and in time
    order; every row of a sequence must carry the same label.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from rnnkit.data.textfile import csv_rows, read_utf8
from rnnkit.errors import InputError, MissingFileError

VOWELS_MEMBER = "sktime/datasets/data/JapaneseVowels/JapaneseVowels_{split}.ts"
VOWELS_SPLITS = ("train", "test")


def load_japanese_vowels(split: str = "train"):
    """The JapaneseVowels ``split`` ("train" 270 or "test" 370 sequences).

    Returns ``(sequences, labels)``: a list of ``(T_i, 12)`` float64 arrays and a
    list of speaker labels ``"1"`` .. ``"9"``.
    """
    if split not in VOWELS_SPLITS:
        raise InputError(f"split must be one of {VOWELS_SPLITS}, got {split!r}")
    from rnnkit.datasets import archive_path

    wheel = archive_path("sktime")
    member = VOWELS_MEMBER.format(split=split.upper())
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(member).decode("utf-8")
    return parse_ts(text, source=f"{wheel.name}:{member}")


def read_sequence_file(path, id_column: str = "id", label_column: str = "label",
                       with_ids: bool = False):
    """Read the user's labelled sequences from a ``.ts`` or long-format ``.csv``/``.tsv`` file.

    Returns ``(sequences, labels)`` as :func:`load_japanese_vowels`; with ``with_ids``
    ``(sequences, labels, ids)``, ``ids`` the sequence ids (the ``id_column`` values, as
    strings) of a .csv/.tsv and None for a .ts file (which has none). Raises
    ``ValueError`` naming the file and line for malformed input.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"sequence file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix not in (".ts", ".csv", ".tsv"):
        raise InputError(f"sequence file {str(path)!r}: expected a .ts, .csv or .tsv file, got {suffix!r}")
    text = read_utf8(path, "sequence file")
    if suffix == ".ts":
        sequences, labels = parse_ts(text, source=str(path))
        return (sequences, labels, None) if with_ids else (sequences, labels)
    return parse_long_csv(text, str(path), id_column, label_column,
                          delimiter="\t" if suffix == ".tsv" else ",", with_ids=with_ids)


def parse_ts(text: str, source: str = "<string>"):
    """Parse the text of a ``.ts`` file holding a labelled (multivariate) data set."""
    header, in_data = {}, False
    sequences, labels = [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise InputError(f"{source}, line {number}: expected an @ header line before @data")
            key, _, value = line[1:].partition(" ")
            key = key.lower()
            if key == "data":
                in_data = True
            else:
                header[key] = value.strip()
            continue
        sequence, label = _parse_ts_line(line, header, source, number)
        sequences.append(sequence)
        labels.append(label)
    if not in_data:
        raise InputError(f"{source}: no @data line; is this a .ts file?")
    if not sequences:
        raise InputError(f"{source}: the file holds no sequences after @data")
    _check_same_width(sequences, source)
    return sequences, labels


def _parse_ts_line(line, header, source, number):
    where = f"{source}, line {number}"
    if header.get("timestamps", "false").lower() == "true":
        raise InputError(f"{source}: @timeStamps true is not supported; write plain values")
    if not header.get("classlabel", "false").lower().startswith("true"):
        raise InputError(f"{source}: @classLabel must be true (labels are needed to train)")
    *dims, label = line.split(":")
    label = label.strip()
    if not dims or not label:
        raise InputError(f"{where}: expected 'values : ... : label', found no label")
    columns = []
    for k, dim in enumerate(dims, start=1):
        dim = dim.strip()
        if not dim:
            raise InputError(f"{where}: sequence of length 0 (dimension {k} holds no values)")
        try:
            values = [float(v) for v in dim.split(",")]
        except ValueError:
            raise InputError(f"{where}: dimension {k} holds a value that is not a number "
                             f"(missing values '?' are not supported)") from None
        columns.append(values)
    lengths = {len(c) for c in columns}
    if len(lengths) != 1:
        raise InputError(f"{where}: the dimensions have different lengths {sorted(lengths)}")
    sequence = np.array(columns, dtype=np.float64).T                      # (T, D)
    if not np.isfinite(sequence).all():
        raise InputError(f"{where}: NaN or infinite values")
    return sequence, label


def parse_long_csv(text: str, source: str, id_column: str = "id", label_column: str = "label",
                   delimiter: str = ",", with_ids: bool = False):
    """Parse a long-format table: one row per time step, sequence id, label, feature columns.

    Returns ``(sequences, labels)``, or ``(sequences, labels, ids)`` with ``with_ids``."""
    rows = [r for r in csv_rows(text, source, delimiter) if any(cell.strip() for cell in r)]
    if not rows:
        raise InputError(f"{source}: the file is empty")
    header = [c.strip() for c in rows[0]]
    for flag, name in (("id_column", id_column), ("label_column", label_column)):
        if name not in header:
            raise InputError(f"{source}: no column named {name!r} ({flag}); the header has {header}")
    i_id, i_label = header.index(id_column), header.index(label_column)
    features = [i for i in range(len(header)) if i not in (i_id, i_label)]
    if not features:
        raise InputError(f"{source}: no feature columns besides {id_column!r} and {label_column!r}")
    if len(rows) == 1:
        raise InputError(f"{source}: the file has a header but no rows")
    order, steps, seq_labels = [], {}, {}
    for number, row in enumerate(rows[1:], start=2):
        where = f"{source}, row {number}"
        if len(row) != len(header):
            raise InputError(f"{where}: expected {len(header)} columns as in the header, got {len(row)}")
        key, label = row[i_id].strip(), row[i_label].strip()
        if not label:
            raise InputError(f"{where}: the label ({label_column!r}) is missing")
        if key not in steps:
            order.append(key)
            steps[key], seq_labels[key] = [], label
        elif order[-1] != key:
            raise InputError(f"{where}: the rows of sequence {key!r} are not consecutive")
        elif seq_labels[key] != label:
            raise InputError(f"{where}: sequence {key!r} changes label from {seq_labels[key]!r} to {label!r}")
        try:
            steps[key].append([float(row[i]) for i in features])
        except ValueError:
            raise InputError(f"{where}: a feature value is not a number") from None
    sequences = [np.array(steps[k], dtype=np.float64) for k in order]   # each (T_i, D)
    for k, seq in zip(order, sequences):
        if not np.isfinite(seq).all():
            raise InputError(f"{source}: sequence {k!r} holds NaN or infinite values")
    labels = [seq_labels[k] for k in order]
    return (sequences, labels, order) if with_ids else (sequences, labels)


def _check_same_width(sequences, source):
    widths = {s.shape[1] for s in sequences}
    if len(widths) != 1:
        raise InputError(f"{source}: the sequences have different numbers of features {sorted(widths)}")
