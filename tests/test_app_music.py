"""`rnnkit music`: train on a MIDI folder, refuse a second train, resume, eval, sample (MIDI,
PNG, WAV, seeded), and the one-line errors of bad folders, files and arguments."""

import numpy as np
import pytest

from rnnkit.apps import music as app
from rnnkit.data.music import NUM_PITCHES, read_midi, write_midi

from helpers import run_cli

TINY = ["--hidden-size", "16", "--nade-hidden", "8", "--dropout", "0", "--batch-size", "4",
        "--quiet"]


def _folder(path, count=30, seed=0):
    """``count`` short random four-voice pieces as MIDI files."""
    rng = np.random.default_rng(seed)
    path.mkdir()
    for n in range(count):
        roll = np.zeros((int(rng.integers(6, 12)), NUM_PITCHES), np.uint8)
        for voice in range(4):
            roll[np.arange(len(roll)), 20 + 8 * voice + rng.integers(0, 5, len(roll))] = 1
        write_midi(roll, path / f"piece{n:02d}.mid")
    return path


def test_folder_split_is_stable_and_about_80_10_10():
    names = [f"piece{n}.mid" for n in range(2000)]
    shares = {s: sum(app.folder_split(n) == s for n in names) / 2000 for s in ("train", "val", "test")}
    assert abs(shares["train"] - 0.8) < 0.03 and abs(shares["val"] - 0.1) < 0.02
    assert [app.folder_split(n) for n in names[:50]] == [app.folder_split(n) for n in names[:50]]


def test_cli_train_resume_eval_sample(tmp_path, capsys):
    data = _folder(tmp_path / "midi")
    out = tmp_path / "run"
    code, printed, _ = run_cli(["music", "train", "--out", str(out), "--data", str(data),
                                "--epochs", "2", *TINY], capsys)
    splits = app.load_splits(str(data))
    steps_per_epoch = -(-len(splits["train"]) // 4)
    assert code == 0 and printed.startswith(f"trained {2 * steps_per_epoch} steps (2 epochs")
    assert f"({len(splits['test'])} pieces)" in printed
    before = (out / "checkpoint.npz").read_bytes()
    code, _, err = run_cli(["music", "train", "--out", str(out), "--data", str(data)], capsys)
    assert code == 2 and "--resume" in err and len(err.strip().splitlines()) == 1
    assert (out / "checkpoint.npz").read_bytes() == before
    code, printed, _ = run_cli(["music", "train", "--out", str(out), "--resume", "--epochs", "3",
                                "--quiet"], capsys)
    assert code == 0 and printed.startswith(f"trained {3 * steps_per_epoch} steps (3 epochs")
    code, printed, _ = run_cli(["music", "eval", "--model", str(out), "--data", str(data)], capsys)
    nll = app.evaluate(out, str(data))["nll"]
    assert code == 0 and f"NLL {nll:.3f} nats per time step (30 pieces" in printed
    # sample: MIDI + PNG (+ WAV where fluidsynth is installed), the same seed the same piece
    code, printed, err = run_cli(["music", "sample", "--model", str(out), "--midi",
                                  str(tmp_path / "a.mid"), "--steps", "12", "--seed", "3"], capsys)
    assert code == 0 and "wrote 12 steps" in printed
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    from rnnkit.data.music import fluidsynth_available
    assert (tmp_path / "a.wav").exists() == fluidsynth_available()
    run_cli(["music", "sample", "--model", str(out), "--midi", str(tmp_path / "b.mid"),
             "--steps", "12", "--seed", "3", "--no-png", "--no-wav"], capsys)
    assert not (tmp_path / "b.png").exists()
    first = read_midi(tmp_path / "a.mid")
    assert np.array_equal(first, read_midi(tmp_path / "b.mid"))
    # a prime: the written piece starts with it
    prime = data / "piece00.mid"
    code, printed, _ = run_cli(["music", "sample", "--model", str(out), "--midi",
                                str(tmp_path / "c.mid"), "--steps", "5", "--prime", str(prime),
                                "--prime-steps", "4", "--no-wav"], capsys)
    assert code == 0 and "wrote 9 steps" in printed
    assert np.array_equal(read_midi(tmp_path / "c.mid")[:4], read_midi(prime)[:4])


@pytest.mark.parametrize("make, expected", [
    (lambda d: None, "does not exist|not found|no such"),
    (lambda d: d.mkdir(), "no .*mid"),
    (lambda d: (d.mkdir(), (d / "a.mid").write_text("not midi")), "a.mid"),
])
def test_cli_bad_folders_one_line(tmp_path, capsys, make, expected):
    import re

    folder = tmp_path / "midi"
    make(folder)
    code, _, err = run_cli(["music", "train", "--out", str(tmp_path / "run"), "--data",
                            str(folder)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert re.search(expected, err, re.IGNORECASE), err
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_cli_sample_errors_one_line(tmp_path, capsys):
    data = _folder(tmp_path / "midi", count=12)
    out = tmp_path / "run"
    run_cli(["music", "train", "--out", str(out), "--data", str(data), "--epochs", "1",
             "--output", "nade", *TINY], capsys)
    (tmp_path / "bad.mid").write_bytes(b"MThd junk")
    for argv, expected in [
        (["--prime", str(tmp_path / "bad.mid")], "bad.mid"),
        (["--threshold", "0.5"], "threshold applies to output='bernoulli' only"),
        (["--temperature", "0"], "--temperature"),
        (["--steps", "0"], "--steps"),
    ]:
        code, _, err = run_cli(["music", "sample", "--model", str(out), "--midi",
                                str(tmp_path / "x.mid"), *argv], capsys)
        assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err
    code, _, err = run_cli(["music", "sample", "--model", str(out), "--midi",
                            str(tmp_path / "no" / "x.mid")], capsys)
    assert code == 2 and "folder" in err and "does not exist" in err and ".tmp" not in err
    code, _, err = run_cli(["music", "eval", "--model", str(tmp_path / "nothing")], capsys)
    assert code == 2 and "no model at" in err
