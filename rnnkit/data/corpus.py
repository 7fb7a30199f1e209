"""Text corpora: reading a user's UTF-8 file and the fixed train/validation split.

``load_text(path)`` returns the file's text with newlines normalised to ``"\\n"``
and refuses, with one clear message each, a path that does not exist or is a
directory, an empty (or whitespace-only) file, a binary file (it holds NUL
bytes) and a file that is not valid UTF-8 (the message gives the byte offset).
A leading UTF-8 byte-order mark is dropped.

``split_text(text, val_fraction=0.1)`` is the one split rule used everywhere
(a user's corpus, the embedded Shakespeare, the quality benchmark): the first
90% of the characters train, the last 10% validate. The cut is moved forward to
the next line start so no line is split between the two parts.
"""

from __future__ import annotations

import os
from pathlib import Path

from rnnkit._validation import check_scalar
from rnnkit.data.textfile import decode_utf8
from rnnkit.errors import InputError, InputTypeError, MissingFileError

VAL_FRACTION = 0.1


def load_text(path) -> str:
    """Read a UTF-8 text corpus.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    str
        The text, with ``\\r\\n`` and ``\\r`` turned into ``\\n``.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        The path is missing or is a directory.
    ValueError
        The file is empty, binary or not UTF-8.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputTypeError(f"corpus path must be a str or path, got {type(path).__name__}")
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"corpus file {str(path)!r} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"corpus {str(path)!r} is a directory; give a UTF-8 text file")
    data = path.read_bytes()
    if b"\x00" in data:
        raise InputError(f"corpus file {str(path)!r} looks binary (it contains NUL bytes); "
                         f"give a UTF-8 text file")
    text = decode_utf8(data, f"corpus file {str(path)!r}")
    if not text.strip():
        raise InputError(f"corpus file {str(path)!r} is empty")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def split_text(text: str, val_fraction: float = VAL_FRACTION) -> tuple[str, str]:
    """Split a corpus into (train, validation): the first and the last part.

    The validation part is the last ``val_fraction`` of the characters, its
    start moved forward to the next line start (if there is one before the end).

    Raises ValueError if either part would be empty.
    """
    if not isinstance(text, str):
        raise InputTypeError(f"text must be a str, got {type(text).__name__}")
    check_scalar(val_fraction, "val_fraction", float, low=0.0, high=1.0, include_low=False,
                 include_high=False)
    cut = int(round(len(text) * (1.0 - val_fraction)))
    newline = text.find("\n", cut - 1) if cut > 0 else -1
    if 0 <= newline < len(text) - 1:
        cut = newline + 1
    train, val = text[:cut], text[cut:]
    if not train or not val:
        raise InputError(f"text of {len(text)} characters is too short to split into "
                         f"train and validation (val_fraction={val_fraction})")
    return train, val
