"""A small reader of SWORD Bible modules (the zText format), verse by verse, markup stripped.

SWORD (CrossWire's Bible library) ships translations as *modules*; Debian packages
them as ``sword-text-*`` under ``/usr/share/sword``: a config file
``mods.d/<name>.conf`` and the data in ``modules/texts/ztext/<name>/``. rnnkit reads
them itself, because ``pysword``'s reader decompresses a whole book for every verse
(35 s for one Bible; this reader takes 0.5 s). Only the versification tables (how
many verses each chapter has, in canon order) come from ``pysword.canons`` (MIT,
imported lazily).

zText layout, one set of three files per testament (``ot``, ``nt``); the middle
letter of the suffix is the block type (``b`` book, ``c`` chapter, ``v`` verse)::

    ot.bzs   per block:  uint32 offset, uint32 size, uint32 uncompressed size  (12 bytes, LE)
    ot.bzz   the blocks, each zlib-compressed (CompressType=ZIP)
    ot.bzv   per entry:  uint32 block, uint32 start, uint16 length            (10 bytes, LE)

Entry ``i`` is ``decompress(block)[start:start + length]``. Entries follow the
versification in order: 0 the module heading, 1 the testament heading, then for each
book its heading, and for each chapter its heading and its verses::

    index 2: book 1 heading, 3: chapter 1 heading, 4: 1:1, 5: 1:2, ..., chapter 2 heading, ...

Markup (OSIS, and GBF in older modules) is removed by :func:`strip_markup`: footnotes
(``<note>...</note>``, GBF ``<RF>...<Rf>``) and non-canonical headings (``<title>``
without ``canonical="true"``) lose their text; every other tag (``<w lemma="strong:H7225">``
Strong's numbers, ``<transChange>``, ``<divineName>``, milestones) goes and its text
stays, as do canonical titles (the psalm superscriptions, which the KJV module keeps
in markup and other Bibles print in the verse). The pilcrow ``¶`` is dropped and
spaces are normalised (none before ``, . ; : ! ?`` or after ``¡ ¿``).
"""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

from rnnkit.errors import InputError, MissingFileError

SWORD_DIR = Path("/usr/share/sword")
_BLOCK_LETTER = {"BOOK": "b", "CHAPTER": "c", "VERSE": "v"}
_TESTAMENTS = ("ot", "nt")

_DROP_WITH_TEXT = re.compile(
    r"<note\b.*?</note>|<title\b(?![^>]*canonical=\"true\")[^>]*>.*?</title>|<RF>.*?<Rf>",
    re.S)
_TAG = re.compile(r"<[^>]*>")
_SPACE_BEFORE = re.compile(r"\s+([,.;:!?])")
_SPACE_AFTER = re.compile(r"([¡¿])\s+")


def read_conf(name: str, library=SWORD_DIR) -> dict[str, str]:
    """The ``key=value`` settings of module ``name`` (``mods.d/<name>.conf``, any case)."""
    conf_dir = Path(library) / "mods.d"
    matches = [p for p in sorted(conf_dir.glob("*.conf")) if p.stem.lower() == name.lower()]
    if not matches:
        raise MissingFileError(f"SWORD module {name!r} is not installed "
                               f"(no {conf_dir}/{name}.conf)")
    settings = {}
    for line in matches[0].read_text(encoding="utf-8", errors="replace").splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#") and key.strip() not in settings:
            settings[key.strip()] = value.strip()
    return settings


def read_ztext_entries(directory, testament: str, block_letter: str = "b",
                       encoding: str = "utf-8") -> list[str]:
    """Every index entry of one testament of a zText module, in index order (see above).

    Each block is decompressed once; an entry of length 0 (a verse the module lacks) is "".
    """
    directory = Path(directory)
    stem = directory / f"{testament}.{block_letter}z"
    blocks_index = Path(f"{stem}s").read_bytes()
    verse_index = Path(f"{stem}v").read_bytes()
    compressed = Path(f"{stem}z").read_bytes()
    blocks = []
    for offset, size, uncompressed_size in struct.iter_unpack("<III", blocks_index):
        block = zlib.decompress(compressed[offset:offset + size])
        if len(block) != uncompressed_size:
            raise InputError(f"{stem}z: block {len(blocks)} holds {len(block)} bytes, its index "
                             f"says {uncompressed_size}")
        blocks.append(block)
    entries = []
    whole_records = verse_index[:len(verse_index) // 10 * 10]
    for block, start, length in struct.iter_unpack("<IIH", whole_records):
        entries.append(blocks[block][start:start + length].decode(encoding, "replace")
                       if length else "")
    return entries


def verse_positions(books) -> list[tuple[str, int, int, int]]:
    """``(book, chapter, verse, index)`` of every verse of one testament's ``books``.

    ``books``: ``(osis_name, verses_per_chapter)`` in canon order. Index 0 and 1 are the
    module and testament headings; each book and each chapter has a heading entry first.
    """
    positions = []
    index = 2
    for osis_name, chapter_lengths in books:
        index += 1                                   # the book heading
        for chapter, length in enumerate(chapter_lengths, start=1):
            index += 1                               # the chapter heading
            for verse in range(1, length + 1):
                positions.append((osis_name, chapter, verse, index))
                index += 1
    return positions


def strip_markup(text: str) -> str:
    """Plain text of one verse: footnotes and non-canonical headings dropped, tags removed."""
    text = _DROP_WITH_TEXT.sub(" ", text)
    text = _TAG.sub(" ", text).replace("¶", " ")
    text = " ".join(text.split())
    return _SPACE_AFTER.sub(r"\1", _SPACE_BEFORE.sub(r"\1", text))


def read_bible(name: str, library=SWORD_DIR) -> dict[str, str]:
    """Every verse of the SWORD Bible module ``name``: ``{"Gen.1.1": "In the beginning ...", ...}``.

    References are OSIS (``book.chapter.verse``) in canon order; the text is
    :func:`strip_markup`'s, "" where the module has no text for a verse. Raises
    ``MissingFileError`` when the module is not installed.
    """
    from pysword.canons import canons   # lazily: an `apps` extra, only its tables are used

    conf = read_conf(name, library)
    driver = conf.get("ModDrv", "").lower()
    if driver != "ztext":
        raise InputError(f"SWORD module {name!r} uses the {conf.get('ModDrv')!r} driver; "
                         f"only zText modules are read")
    if conf.get("CompressType", "ZIP").upper() != "ZIP":
        raise InputError(f"SWORD module {name!r} is compressed with {conf['CompressType']}; "
                         f"only ZIP (zlib) is read")
    versification = conf.get("Versification", "KJV").lower()
    if versification not in canons:
        raise InputError(f"SWORD module {name!r} uses the versification {versification!r}, "
                         f"which pysword does not know")
    block_letter = _BLOCK_LETTER.get(conf.get("BlockType", "CHAPTER").upper(), "c")
    encoding = "utf-8" if conf.get("Encoding", "").upper() == "UTF-8" else "latin-1"
    directory = Path(library) / conf.get("DataPath", "").lstrip("./")
    verses = {}
    for testament in _TESTAMENTS:
        if not (directory / f"{testament}.{block_letter}zv").is_file():
            continue                                  # a New-Testament-only module
        entries = read_ztext_entries(directory, testament, block_letter, encoding)
        books = [(book[1], book[3]) for book in canons[versification][testament]]
        for book, chapter, verse, index in verse_positions(books):
            raw = entries[index] if index < len(entries) else ""
            verses[f"{book}.{chapter}.{verse}"] = strip_markup(raw)
    if not verses:
        raise MissingFileError(f"SWORD module {name!r}: no text files in {directory}")
    return verses
