"""Reading a user's text file: UTF-8 decoding and CSV rows, with errors that name the file.

Every reader of a user's text (a corpus, a sentiment CSV, a vowels .ts/.csv, a
forecasting CSV) goes through this module, so they all accept the same
files and refuse the same ones with the same words:

* ``read_utf8(path, what)`` / ``decode_utf8(data, source)``: UTF-8 only; a leading
  byte-order mark (Excel's "CSV UTF-8", Notepad) is dropped; any other encoding
  is refused with the file name and the offset of the first bad byte, so a user
  who gave two files knows which one to convert.
* ``csv_rows(text, source, delimiter)``: every row of a CSV/TSV text as lists of
  strings. A field may be of any length (a long review is legitimate input, and
  the ``csv`` module's default limit of 131,072 characters is not a property of
  the data); a malformed row is reported with the file and line.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from rnnkit.errors import InputError

# csv.field_size_limit takes a C long: 2**31 - 1 fits on every platform.
_FIELD_SIZE_LIMIT = 2**31 - 1


def decode_utf8(data: bytes, source: str) -> str:
    """``data`` decoded as UTF-8, a leading byte-order mark dropped.

    ``source`` starts the error message: "SOURCE is not UTF-8 text (invalid byte
    0xe9 at offset 1234); save it as UTF-8 ...", an ``InputError`` (a ``ValueError``).
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source} is not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at "
                         f"offset {exc.start}); save it as UTF-8 (e.g. `iconv -f latin1 -t UTF-8`)"
                         ) from None


def read_utf8(path, what: str = "file") -> str:
    """The text of the file at ``path``, read as UTF-8 (see :func:`decode_utf8`).

    Errors name it as ``what`` and the path ("text file 'reviews.csv' is not UTF-8
    text ..."). Newlines are kept as they are, so quoted CSV fields spanning lines survive.
    """
    return decode_utf8(Path(path).read_bytes(), f"{what} {str(path)!r}")


def csv_rows(text: str, source: str, delimiter: str = ",") -> list[list[str]]:
    """All rows of CSV/TSV ``text`` (blank rows included), fields of any length.

    Raises ``InputError`` (a ``ValueError``) "SOURCE, line N: ..." for a row the
    ``csv`` module refuses.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    previous = csv.field_size_limit(_FIELD_SIZE_LIMIT)
    try:
        return list(reader)
    except csv.Error as exc:
        raise InputError(f"{source}, line {reader.line_num}: {exc}") from None
    finally:
        csv.field_size_limit(previous)   # leave the process-wide setting as it was
