"""Reading users' text files: UTF-8 with a byte-order mark, other encodings, long CSV fields.

The same rules hold for every reader (sentiment CSV, vowels .ts/.csv, forecast CSV,
textgen corpus), because they all go through ``rnnkit/data/textfile.py``.
"""

import csv

import numpy as np
import pytest

from helpers import run_cli
from rnnkit.data.corpus import load_text
from rnnkit.data.sentiment import read_labeled_texts
from rnnkit.data.speech import read_sequence_file
from rnnkit.data import textfile
from rnnkit.data.textfile import csv_rows, decode_utf8, read_utf8
from rnnkit.forecasting.series import read_csv

BOM = "\ufeff".encode("utf-8")
LONG = 200_000          # characters in one field; the csv module's default limit is 131,072


# -- the shared helpers -----------------------------------------------------------------------

def test_decode_utf8_drops_a_byte_order_mark_and_names_the_bad_byte():
    assert decode_utf8(BOM + "café".encode("utf-8"), "x.csv") == "café"
    with pytest.raises(ValueError, match=r"^x\.csv is not UTF-8 text \(invalid byte 0xe9 at offset 8\); "
                                         r"save it as UTF-8"):
        decode_utf8("text\ncaf".encode("utf-8") + b"\xe9\n", "x.csv")


def test_read_utf8_keeps_newlines_and_names_the_file(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b'text,label\r\n"two\r\nlines",1\r\n')
    assert read_utf8(path) == 'text,label\r\n"two\r\nlines",1\r\n'
    path.write_bytes(b"\xff\xfet\x00")          # UTF-16
    with pytest.raises(ValueError, match=r"^table '.*a\.csv' is not UTF-8 text \(invalid byte 0xff "
                                         r"at offset 0\)"):
        read_utf8(path, "table")


def test_csv_rows_reads_a_long_field_and_leaves_the_limit_as_it_was():
    before = csv.field_size_limit()
    rows = csv_rows(f'text,label\n"{"a" * LONG}",1\n', "r.csv")
    assert len(rows[1][0]) == LONG and rows[1][1] == "1"
    assert csv.field_size_limit() == before


def test_csv_rows_reports_what_csv_refuses_with_file_and_line(monkeypatch):
    # Python 3.11's csv refuses almost nothing; a tiny field limit makes it refuse a row.
    monkeypatch.setattr(textfile, "_FIELD_SIZE_LIMIT", 5)
    before = csv.field_size_limit()
    with pytest.raises(ValueError, match=r"^r\.csv, line 3: field larger than field limit \(5\)$"):
        csv_rows("text,label\nabc,1\nabcdefgh,1\n", "r.csv")
    assert csv.field_size_limit() == before


# -- long fields in each CSV reader ----------------------------------------------------------

def test_a_review_longer_than_the_csv_field_limit_loads(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text(f'text,label\n"{"word " * (LONG // 5)}",pos\nshort,neg\n', encoding="utf-8")
    texts, labels = read_labeled_texts(path)
    assert len(texts[0]) == LONG - 1 and labels == ["pos", "neg"]      # stripped trailing space


def test_a_long_field_in_a_vowels_csv_and_a_forecast_csv_loads(tmp_path):
    note = "n" * LONG
    vowels = tmp_path / "frames.csv"
    vowels.write_text(f"id,label,f\n{note},a,0.5\n{note},a,0.25\n", encoding="utf-8")
    (sequence,), labels = read_sequence_file(vowels)
    assert labels == ["a"]
    np.testing.assert_array_equal(sequence, [[0.5], [0.25]])
    series = tmp_path / "sales.csv"
    series.write_text(f"t,y,note\n1,1,{note}\n2,2,x\n", encoding="utf-8")
    ts, _ = read_csv(series, "t", ["y"])
    assert ts.values[:, 0].tolist() == [1.0, 2.0]


# -- byte-order marks (Excel's "CSV UTF-8") ----------------------------------------------------

def test_sentiment_and_vowels_csv_strip_a_byte_order_mark(tmp_path):
    reviews = tmp_path / "reviews.csv"
    reviews.write_bytes(BOM + b"text,label\ngood,pos\n")
    assert read_labeled_texts(reviews) == (["good"], ["pos"])
    frames = tmp_path / "frames.csv"
    frames.write_bytes(BOM + b"id,label,f\n1,a,0.5\n")
    assert read_sequence_file(frames)[1] == ["a"]
    ts_file = tmp_path / "d.ts"
    ts_file.write_bytes(BOM + b"@classLabel true a\n@data\n1,2:a\n")
    assert read_sequence_file(ts_file)[1] == ["a"]


# -- other encodings: the message names the file and the byte ---------------------------------

@pytest.mark.parametrize("read, what", [
    (lambda p: read_labeled_texts(p), "text file"),
    (lambda p: read_sequence_file(p), "sequence file"),
    (lambda p: read_csv(p, "text", ["label"]), "CSV file"),
], ids=["sentiment", "vowels", "forecast"])
def test_latin1_csv_is_refused_naming_the_file_and_the_offset(tmp_path, read, what):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\ncafé,1\n".encode("latin-1"))
    with pytest.raises(ValueError, match=rf"^{what} '.*latin1\.csv' is not UTF-8 text \(invalid "
                                         rf"byte 0xe9 at offset 14\); save it as UTF-8"):
        read(path)


def test_corpus_error_is_the_same_sentence(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_bytes(b"caf\xe9 au lait")
    with pytest.raises(ValueError, match=r"^corpus file '.*corpus\.txt' is not UTF-8 text "
                                         r"\(invalid byte 0xe9 at offset 3\)"):
        load_text(path)


def test_cli_names_which_of_data_and_test_data_is_not_utf8(tmp_path, capsys):
    good, bad = tmp_path / "train.csv", tmp_path / "test.csv"
    good.write_text("text,label\ngood,pos\nbad,neg\n", encoding="utf-8")
    bad.write_bytes("text,label\nmauvais,négatif\n".encode("latin-1"))
    status, _, err = run_cli(["sentiment", "train", "--data", str(good), "--test-data", str(bad),
                              "--out", str(tmp_path / "run"), "--quiet"], capsys)
    assert status == 2
    assert err == (f"rnnkit sentiment: error: text file {str(bad)!r} is not UTF-8 text (invalid byte "
                   f"0xe9 at offset 20); save it as UTF-8 (e.g. `iconv -f latin1 -t UTF-8`)\n")
