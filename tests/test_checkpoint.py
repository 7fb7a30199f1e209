"""Checkpoint file format: round trip, atomic replace, refusal of damaged or foreign files."""

import json
import os
import pickle
import zipfile

import numpy as np
import pytest

from rnnkit import checkpoint as ckpt
from rnnkit.checkpoint import (
    CheckpointError,
    check_arrays_match,
    check_compatible,
    load_checkpoint,
    rng_from_json,
    rng_state_to_json,
    save_checkpoint,
)


def sample_arrays():
    rng = np.random.default_rng(0)
    return {
        "model.W_hh": rng.standard_normal((8, 8)).astype(np.float32),
        "model.b": rng.standard_normal(8),  # float64
        "optim.step": np.array(12345678901234, dtype=np.int64),
        "data.order": rng.permutation(50).astype(np.int64),
        "mask": np.array([True, False, True]),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "file": np.arange(3, dtype=np.uint8),  # would clash with np.savez's own argument
        "strided": rng.standard_normal((6, 4))[::2, ::-1],  # non-contiguous view
    }


def sample_meta():
    return {
        "config": {"cell": "lstm", "hidden_size": 128, "num_layers": 2, "lr": 1e-3},
        "vocab": ["\n", " ", "a", "é", "日"],
        "data_position": {"epoch": 3, "batch": 17},
        "best_loss": None,
        "flags": [True, False],
    }


def tmp_files(directory):
    return sorted(p for p in os.listdir(directory) if p.endswith(".tmp"))


def test_round_trip_is_bit_exact(tmp_path):
    path = tmp_path / "run.ckpt"
    arrays, meta = sample_arrays(), sample_meta()
    save_checkpoint(path, arrays, meta)
    loaded, loaded_meta = load_checkpoint(path)
    assert loaded_meta == meta
    assert sorted(loaded) == sorted(arrays)
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype, name
        assert loaded[name].shape == array.shape, name
        assert loaded[name].tobytes() == np.ascontiguousarray(array).tobytes(), name
    assert tmp_files(tmp_path) == []


def test_file_is_a_plain_npz_readable_without_pickle(tmp_path):
    path = tmp_path / "run.ckpt"
    save_checkpoint(path, {"w": np.ones(3)}, {"k": 1})
    with np.load(path, allow_pickle=False) as npz:
        header = json.loads(npz["__meta__"].tobytes().decode("utf-8"))
        np.testing.assert_array_equal(npz["w"], np.ones(3))
    assert header["format"] == "rnnkit-checkpoint"
    assert header["format_version"] == 1
    assert header["meta"] == {"k": 1}


def test_save_replaces_previous_checkpoint(tmp_path):
    path = tmp_path / "run.ckpt"
    save_checkpoint(path, {"w": np.zeros(2)}, {"step": 1})
    save_checkpoint(path, {"w": np.ones(2)}, {"step": 2})
    arrays, meta = load_checkpoint(path)
    assert meta == {"step": 2}
    np.testing.assert_array_equal(arrays["w"], np.ones(2))


@pytest.mark.parametrize(
    "meta, error, fragment",
    [
        ({"x": object()}, TypeError, "meta['x']"),
        ({"shape": (1, 2)}, TypeError, "use a list"),
        ({"loss": float("nan")}, ValueError, "meta['loss']"),
        ({"nested": {"deep": [1, np.int64(2)]}}, TypeError, "meta['nested']['deep'][1]"),
        ({1: "a"}, TypeError, "JSON keys must be str"),
    ],
)
def test_bad_meta_leaves_previous_checkpoint_intact(tmp_path, meta, error, fragment):
    path = tmp_path / "run.ckpt"
    save_checkpoint(path, {"w": np.zeros(2)}, {"step": 1})
    before = path.read_bytes()
    with pytest.raises(error, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        save_checkpoint(path, {"w": np.ones(2)}, meta)
    assert path.read_bytes() == before
    assert tmp_files(tmp_path) == []


def test_failed_replace_leaves_previous_checkpoint_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "run.ckpt"
    save_checkpoint(path, {"w": np.zeros(2)}, {"step": 1})
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(ckpt.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        save_checkpoint(path, {"w": np.ones(2)}, {"step": 2})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["run.ckpt"]


def test_failed_write_midway_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "run.ckpt"

    def broken_write(f, members):
        f.write(b"partial")
        raise OSError("no space left")

    monkeypatch.setattr(ckpt, "_write_npz", broken_write)
    with pytest.raises(OSError, match="no space left"):
        save_checkpoint(path, {"w": np.ones(2)}, {})
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "arrays, error, fragment",
    [
        ({"w": [1.0, 2.0]}, TypeError, "arrays\\['w'\\] must be a numpy.ndarray"),
        ({"w": np.array([{}], dtype=object)}, TypeError, "arrays\\['w'\\] has dtype object"),
        ({"w": np.array(["a"])}, TypeError, "store text in meta"),
        ({3: np.ones(1)}, TypeError, "keys must be str"),
        ({"": np.ones(1)}, ValueError, "not a valid name"),
        ({"__meta__": np.ones(1)}, ValueError, "reserved"),
    ],
)
def test_bad_arrays_are_refused(tmp_path, arrays, error, fragment):
    with pytest.raises(error, match=fragment):
        save_checkpoint(tmp_path / "run.ckpt", arrays, {})
    assert os.listdir(tmp_path) == []


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "run.ckpt"
    save_checkpoint(path, sample_arrays(), sample_meta())
    data = path.read_bytes()
    cut_path = tmp_path / "cut.ckpt"
    for cut in [0, 1, 4, 30, 100, len(data) // 3, len(data) // 2, len(data) - 23, len(data) - 1]:
        cut_path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="cut.ckpt"):
            load_checkpoint(cut_path)


def test_every_flipped_data_byte_is_caught(tmp_path):
    path = tmp_path / "run.ckpt"
    save_checkpoint(path, {"w": np.arange(64, dtype=np.float64)}, {"step": 1})
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("w.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    rng = np.random.default_rng(1)
    for offset in rng.integers(start + 128, start + info.compress_size, size=20):  # inside the data
        damaged = data.copy()
        damaged[offset] ^= 0x01
        path.write_bytes(bytes(damaged))
        with pytest.raises(CheckpointError, match="run.ckpt"):
            load_checkpoint(path)


def test_digest_catches_valid_zip_with_rewritten_array(tmp_path):
    path = tmp_path / "run.ckpt"
    save_checkpoint(path, {"w": np.zeros(4), "v": np.ones(2)}, {"step": 1})
    with np.load(path, allow_pickle=False) as npz:
        members = {name: npz[name] for name in npz.files}
    members["w"] = members["w"] + 1.0  # zip CRCs will be recomputed, so only the digest sees it
    with open(path, "wb") as f:
        ckpt._write_npz(f, members)
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(path)


def test_dropped_array_is_caught(tmp_path):
    path = tmp_path / "run.ckpt"
    save_checkpoint(path, {"w": np.zeros(4), "v": np.ones(2)}, {"step": 1})
    with np.load(path, allow_pickle=False) as npz:
        members = {name: npz[name] for name in npz.files if name != "v"}
    with open(path, "wb") as f:
        ckpt._write_npz(f, members)
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(path)


class Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > should_not_exist",))


def write_raw(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make",
    [
        lambda p: write_raw(p, pickle.dumps({"w": np.ones(3)})),
        lambda p: write_raw(p, pickle.dumps(Boom())),
        lambda p: write_raw(p, np.random.default_rng(0).bytes(500)),
        lambda p: write_raw(p, b""),
        lambda p: p,  # missing file
    ],
    ids=["pickle", "malicious-pickle", "random-bytes", "empty", "missing"],
)
def test_foreign_files_are_refused_with_path(tmp_path, monkeypatch, make):
    monkeypatch.chdir(tmp_path)
    path = make(tmp_path / "foreign.ckpt")
    with pytest.raises(CheckpointError, match="foreign.ckpt"):
        load_checkpoint(path)
    assert not (tmp_path / "should_not_exist").exists()


def test_object_array_is_refused_without_unpickling(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.ckpt"
    np.savez(path, w=np.array([Boom()], dtype=object), __meta__=np.zeros(1, np.uint8))
    os.replace(str(path) + ".npz", path)
    with pytest.raises(CheckpointError, match="evil.ckpt.*pickle") as info:
        load_checkpoint(path)
    assert "not an rnnkit checkpoint" in str(info.value) and "allow_pickle" not in str(info.value)
    assert not (tmp_path / "should_not_exist").exists()


def make_foreign_npz(directory, kind):
    """A file named .npz that rnnkit did not write."""
    path = directory / f"{kind}.npz"
    if kind == "plain":
        np.savez(path, w=np.ones(3))
    elif kind == "object":
        np.savez(path, w=np.array([{"a": 1}, None], dtype=object))
    else:
        path.write_text("these are my notes, not a model\n")
    return path


@pytest.mark.parametrize("kind", ["plain", "object", "text"])
def test_a_foreign_npz_is_not_an_rnnkit_checkpoint_and_no_word_of_allow_pickle(tmp_path, kind):
    path = make_foreign_npz(tmp_path, kind)
    with pytest.raises(CheckpointError, match=f"{kind}.npz' .*not (an|a readable) rnnkit checkpoint") as info:
        load_checkpoint(path)
    assert "allow_pickle" not in str(info.value)


@pytest.mark.parametrize("kind", ["plain", "object", "text"])
def test_cli_refuses_a_foreign_npz_as_model_in_one_line(tmp_path, capsys, kind):
    from helpers import run_cli

    path = make_foreign_npz(tmp_path, kind)
    model_dir = tmp_path / "run"
    model_dir.mkdir()
    (model_dir / "checkpoint.npz").write_bytes(path.read_bytes())
    for argv in (["textgen", "sample", "--model", str(model_dir)],
                 ["vowels", "eval", "--model", str(path), "--data", str(path)]):
        status, _, err = run_cli(argv, capsys)
        assert status == 2 and err.count("\n") == 1, err
        assert "rnnkit checkpoint" in err and "allow_pickle" not in err, err


def test_plain_npz_without_meta_and_wrong_format_are_refused(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, w=np.ones(2))
    with pytest.raises(CheckpointError, match="plain.npz.*__meta__"):
        load_checkpoint(path)

    header = {"format": "other", "format_version": 1, "arrays_sha256": "", "meta": {}}
    meta = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(path, "wb") as f:
        ckpt._write_npz(f, {"__meta__": meta})
    with pytest.raises(CheckpointError, match="format 'other'"):
        load_checkpoint(path)

    header.update(format="rnnkit-checkpoint", format_version=99)
    meta = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(path, "wb") as f:
        ckpt._write_npz(f, {"__meta__": meta})
    with pytest.raises(CheckpointError, match="format_version 99"):
        load_checkpoint(path)

    with open(path, "wb") as f:
        ckpt._write_npz(f, {"__meta__": np.frombuffer(b"{not json", dtype=np.uint8)})
    with pytest.raises(CheckpointError, match="unreadable metadata"):
        load_checkpoint(path)


def test_rng_state_round_trip_continues_stream_bit_exactly(tmp_path):
    rng = np.random.default_rng(2024)
    rng.standard_normal(7)
    rng.integers(0, 2**32, size=3, dtype=np.uint32)  # leaves a buffered 32-bit half
    state = rng_state_to_json(rng)
    path = tmp_path / "run.ckpt"
    save_checkpoint(path, {}, {"rng": state})
    _, meta = load_checkpoint(path)
    # Every number is a JSON string or a small int: safe for float-only JSON readers.
    assert all(isinstance(v, str) for v in meta["rng"]["state"].values())
    restored = rng_from_json(meta["rng"])
    expected = (
        rng.integers(0, 2**32, size=5, dtype=np.uint32),
        rng.random(5),
        rng.permutation(20),
    )
    got = (
        restored.integers(0, 2**32, size=5, dtype=np.uint32),
        restored.random(5),
        restored.permutation(20),
    )
    for e, g in zip(expected, got):
        assert e.tobytes() == g.tobytes()


def test_rng_bad_inputs():
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        rng_state_to_json(np.random.RandomState(0))
    with pytest.raises(TypeError, match="MT19937"):
        rng_state_to_json(np.random.Generator(np.random.MT19937(0)))
    with pytest.raises(CheckpointError, match="RNG state"):
        rng_from_json({"bit_generator": "PCG64"})


def test_architecture_mismatch_lists_every_field(tmp_path):
    saved = {"cell": "lstm", "hidden_size": 256, "num_layers": 2, "lr": 0.1}
    model = {"cell": "lstm", "hidden_size": 128, "num_layers": 2, "dropout": 0.0}
    with pytest.raises(CheckpointError) as info:
        keys = ["cell", "hidden_size", "num_layers", "dropout"]
        check_compatible(saved, model, keys=keys, path=tmp_path / "a.ckpt")
    message = str(info.value)
    assert "a.ckpt" in message
    assert "checkpoint has hidden_size=256, model has 128" in message
    assert "checkpoint has no dropout, model has 0.0" in message
    assert "cell" not in message and "lr" not in message
    check_compatible(saved, model, keys=["cell", "num_layers"])  # equal fields: no error


@pytest.mark.skipif(os.name != "posix", reason="umask is POSIX")
def test_saved_file_gets_ordinary_permissions(tmp_path):
    (tmp_path / "plain").write_bytes(b"")
    save_checkpoint(tmp_path / "run.ckpt", {}, {})
    mode = os.stat(tmp_path / "run.ckpt").st_mode & 0o777
    assert mode == os.stat(tmp_path / "plain").st_mode & 0o777


def test_weight_shape_mismatch_is_refused_before_any_copy():
    model = {"W_hh": np.zeros((4, 4), np.float32), "b": np.zeros(4, np.float32)}
    saved = {"W_hh": np.zeros((8, 8), np.float32), "extra": np.zeros(1)}
    with pytest.raises(CheckpointError) as info:
        check_arrays_match(saved, model)
    message = str(info.value)
    assert "missing ['b']" in message and "unexpected ['extra']" in message
    assert "W_hh: checkpoint has float32[8, 8], model has float32[4, 4]" in message
    check_arrays_match(dict(model), model)
