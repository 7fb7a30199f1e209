"""`rnnkit imageseq`: IDX files, Fashion-MNIST, the digits, the user's .npz, a small training run."""

import gzip
import struct

import numpy as np
import pytest

from helpers import run_cli
from rnnkit.apps import _classify, imageseq
from rnnkit.classification import TrainConfig
from rnnkit.cli import main
from rnnkit.data.images import FASHION_DIR, load_fashion_mnist, read_idx, read_image_file


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


# -- IDX and Fashion-MNIST ----------------------------------------------------------------

def test_read_idx_plain_and_gzip(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.idx").write_bytes(_idx_bytes(images))
    with gzip.open(tmp_path / "a.idx.gz", "wb") as f:
        f.write(_idx_bytes(images))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx.gz"), images)


def test_read_idx_refuses_bad_magic_and_truncated_files(tmp_path):
    (tmp_path / "bad.idx").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="bad magic number"):
        read_idx(tmp_path / "bad.idx")
    (tmp_path / "short.idx").write_bytes(_idx_bytes(np.zeros((2, 2), np.uint8))[:-1])
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        read_idx(tmp_path / "short.idx")


def test_missing_fashion_mnist_says_how_to_install_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist("test", directory=tmp_path)
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_fashion_mnist("validation")


@pytest.mark.skipif(not (FASHION_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_test_set():
    images, labels = load_fashion_mnist("test")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1000] * 10
    assert labels[:5].tolist() == [9, 2, 1, 1, 6]


# -- the user's files and the digits ---------------------------------------------------------

def test_read_image_file_npz_and_its_errors(tmp_path):
    images = np.zeros((3, 4, 5))
    np.savez(tmp_path / "ok.npz", images=images, labels=np.array(["a", "b", "a"]))
    got, labels = read_image_file(tmp_path / "ok.npz")
    assert got.shape == (3, 4, 5) and labels.tolist() == ["a", "b", "a"]
    np.savez(tmp_path / "nolabels.npz", images=images)
    with pytest.raises(ValueError, match=r"missing \['labels'\]"):
        read_image_file(tmp_path / "nolabels.npz")
    assert read_image_file(tmp_path / "nolabels.npz", require_labels=False)[1] is None
    np.savez(tmp_path / "flat.npz", images=np.zeros((3, 20)), labels=np.zeros(3))
    with pytest.raises(ValueError, match=r"shape \(N, H, W\)"):
        read_image_file(tmp_path / "flat.npz")
    np.savez(tmp_path / "count.npz", images=images, labels=np.zeros(2))
    with pytest.raises(ValueError, match=r"labels must have shape \(N=3,\)"):
        read_image_file(tmp_path / "count.npz")
    np.savez(tmp_path / "empty.npz", images=np.zeros((0, 4, 5)), labels=np.zeros(0))
    with pytest.raises(ValueError, match="N, H, W >= 1"):
        read_image_file(tmp_path / "empty.npz")
    (tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(ValueError, match="expected an .npz or an IDX"):
        read_image_file(tmp_path / "x.png")


@pytest.mark.parametrize("damage, reason", [
    (lambda p, data: p.write_bytes(data[: len(data) // 2]), r"not a zip file"),
    (lambda p, data: p.write_bytes(data[:-1]), r"not a zip file"),
    (lambda p, data: p.write_text("images,labels\n"), r"not a zip file"),
    (lambda p, data: np.save(p.with_suffix(".npy"), np.zeros((2, 3, 3))) or
     p.write_bytes(p.with_suffix(".npy").read_bytes()), r"it is a single \.npy array"),
    (lambda p, data: p.write_bytes(data.replace(b"\x93NUMPY", b"\x93NUMPZ")), r"Bad CRC-32"),
], ids=["half", "last-byte-cut", "text", "npy", "flipped-bytes"])
def test_damaged_npz_is_a_one_line_value_error_naming_the_file(tmp_path, damage, reason):
    np.savez(tmp_path / "ok.npz", images=np.zeros((3, 4, 5)), labels=np.array([0, 1, 0]))
    path = tmp_path / "mine.npz"
    damage(path, (tmp_path / "ok.npz").read_bytes())
    with pytest.raises(ValueError, match=f"mine.npz: not a readable .npz archive \\(.*{reason}"):
        read_image_file(path)


def test_npz_with_an_object_array_says_so_without_mentioning_allow_pickle(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, images=np.zeros((2, 3, 3)), labels=np.array(["cat", None], dtype=object))
    with pytest.raises(ValueError, match=r"objects\.npz: array 'labels' holds Python objects") as info:
        read_image_file(path)
    assert "allow_pickle" not in str(info.value)


@pytest.mark.parametrize("action", ["predict", "train"])
def test_cli_reports_a_truncated_npz_in_one_line(tmp_path, capsys, action):
    np.savez(tmp_path / "ok.npz", images=np.zeros((3, 4, 5)), labels=np.array([0, 1, 0]))
    path = tmp_path / "cut.npz"
    path.write_bytes((tmp_path / "ok.npz").read_bytes()[:200])
    argv = {"predict": ["imageseq", "predict", str(path), "--model", str(tmp_path / "run")],
            "train": ["imageseq", "train", "--data", str(path), "--out", str(tmp_path / "run"),
                      "--quiet"]}[action]
    status, _, err = run_cli(argv, capsys)
    assert status == 2
    assert err == (f"rnnkit imageseq: error: {path}: not a readable .npz archive (not a zip file: "
                   f"truncated, or another kind of file?); save it with numpy.savez(path, "
                   f"images=..., labels=...)\n")


def test_idx_pair_is_found_by_name(tmp_path):
    images = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    (tmp_path / "my-images-idx3-ubyte").write_bytes(_idx_bytes(images))
    with pytest.raises(FileNotFoundError, match="my-labels-idx1-ubyte"):
        read_image_file(tmp_path / "my-images-idx3-ubyte")
    (tmp_path / "my-labels-idx1-ubyte").write_bytes(_idx_bytes(np.array([1, 0], np.uint8)))
    got, labels = read_image_file(tmp_path / "my-images-idx3-ubyte")
    np.testing.assert_array_equal(got, images)
    assert labels.tolist() == [1, 0]


def test_digits_split_is_fixed_80_20():
    train, train_labels = imageseq.load_images("digits", "train")
    test, test_labels = imageseq.load_images("digits", "test")
    assert train.shape == (1438, 8, 8) and test.shape == (359, 8, 8)
    assert sorted(set(test_labels), key=int) == [str(k) for k in range(10)]
    np.testing.assert_array_equal(imageseq.load_images("digits", "test")[0], test)


# -- training, eval, predict ----------------------------------------------------------------

def test_small_training_run_on_the_digits_then_eval_and_predict(tmp_path, capsys):
    config = TrainConfig(cell="gru", hidden_size=32, bidirectional=False, pooling="last",
                         dropout=0.0, epochs=3, batch_size=32, lr=1e-2, patience=None,
                         val_fraction=0.1, seed=0)
    out = tmp_path / "run"
    classifier, summary = imageseq.train("digits", out_dir=out, config=config, limit=640,
                                         progress=False)
    assert summary["step"] == 3 * 18 and summary["test"]["n"] == 359
    assert summary["test"]["accuracy"] > 0.7                            # chance: 0.1
    assert imageseq.evaluate(out)["accuracy"] == pytest.approx(summary["test"]["accuracy"])

    test, _ = imageseq.load_images("digits", "test")
    np.savez(tmp_path / "three.npz", images=test[:3])                  # no labels: predict only
    assert main(["imageseq", "predict", str(tmp_path / "three.npz"), "--model", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[1] for line in lines] == [label for label, _ in classifier.predict(test[:3])]

    # the same model twice is an ensemble that predicts exactly what the model predicts
    assert main(["imageseq", "eval", "--model", str(out), "--model", str(out), "--json"]) == 0
    assert f'"accuracy": {summary["test"]["accuracy"]}' in capsys.readouterr().out

    np.savez(tmp_path / "other.npz", images=np.zeros((2, 28, 28)), labels=np.array([0, 1]))
    with pytest.raises(SystemExit) as exit_info:
        main(["imageseq", "eval", "--model", str(out), "--data", str(tmp_path / "other.npz")])
    assert exit_info.value.code == 2
    assert "must be 8x8 like the training images" in capsys.readouterr().err


def test_eval_of_labels_the_model_never_saw_is_refused(tmp_path):
    images = np.random.default_rng(0).random((8, 3, 3))
    labels = ["a", "b"] * 4
    config = TrainConfig(hidden_size=4, epochs=1, patience=None, val_fraction=0.0)
    classifier, _ = _classify.train_classifier("imageseq", imageseq.RowScaler, images, labels,
                                               config, tmp_path, dataset="x", progress=False)
    with pytest.raises(ValueError, match="label 'c' .* is not one of the model's classes"):
        classifier.evaluate(images[:1], ["c"])


def test_resumed_training_ends_where_an_uninterrupted_run_ends(tmp_path):
    import dataclasses

    config = TrainConfig(cell="gru", hidden_size=8, bidirectional=False, pooling="last",
                         dropout=0.1, epochs=2, batch_size=50, lr=1e-2, patience=None,
                         val_fraction=0.2, seed=0)
    straight, _ = imageseq.train("digits", out_dir=tmp_path / "a", config=config, limit=200,
                                 progress=False)
    imageseq.train("digits", out_dir=tmp_path / "b", config=dataclasses.replace(config, epochs=1),
                   limit=200, progress=False)
    resumed, summary = imageseq.train("digits", out_dir=tmp_path / "b", config=config, limit=200,
                                      progress=False, resume=True)
    assert summary["step"] == 2 * 4
    for name, value in straight.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[name], value, err_msg=name)
