"""`rnnkit textgen`: smoke runs on a tiny corpus (train -> sample -> eval -> resume) and
one-line errors with exit status 2 for every kind of bad input."""

import json

import numpy as np
import pytest

from rnnkit.apps import textgen
from helpers import run_cli as run
from rnnkit.training import load_model

CORPUS = "".join(
    f"{name}:\n{line}\n\n"
    for name, line in [("ROMEO", "But soft, what light through yonder window breaks?"),
                       ("JULIET", "O Romeo, Romeo! wherefore art thou Romeo?"),
                       ("MERCUTIO", "A plague o' both your houses!"),
                       ("NURSE", "Faith, I can tell how to look of love.")] * 12)
TINY = ["--hidden-size", "12", "--num-layers", "1", "--seq-len", "8", "--batch-size", "4", "--eval-every", "3",
        "--checkpoint-every", "2"]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(CORPUS, encoding="utf-8")
    return path


def train_argv(corpus, out, steps, *extra):
    return ["textgen", "train", "--corpus", str(corpus), "--out", str(out),
            "--max-steps", str(steps), *TINY, *extra]


def test_train_sample_eval_on_a_tiny_corpus(corpus, tmp_path, capsys):
    out = tmp_path / "model"
    status, stdout, stderr = run(train_argv(corpus, out, 6), capsys)
    assert status == 0, stderr
    assert "step 6 (max_steps" in stdout and "bits/char" in stdout
    assert {p.name for p in out.iterdir()} == {"checkpoint.npz", "metrics.jsonl", "loss_curve.png"}
    assert (out / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 6 and "val_loss" in records[-1]

    model, vocab, meta = textgen.load(out)
    assert vocab.tokens == tuple(sorted(set(CORPUS)))
    assert meta["extra"]["settings"]["hidden_size"] == 12 and model.hidden_size == 12

    unseeded = ["textgen", "sample", "--model", str(out), "--prime", "ROMEO:", "--length", "40",
                "--top-k", "5", "--temperature", "0.7"]
    argv = unseeded + ["--seed", "3"]
    status, first, stderr = run(argv, capsys)
    assert status == 0 and "characters/s" in stderr
    assert first.startswith("ROMEO:") and len(first) == len("ROMEO:") + 40 + 1   # + print's \n
    assert run(argv, capsys)[1] == first                                         # same seed
    status, text, stderr = run(unseeded, capsys)           # a random seed, printed on stderr
    seed = stderr.split("--seed ")[1].split()[0]
    assert status == 0 and run(unseeded + ["--seed", seed], capsys)[1] == text

    status, stdout, _ = run(["textgen", "eval", "--model", str(out)], capsys)
    expected = textgen.evaluate(out)
    assert status == 0
    assert f"{expected['bits_per_char']:.4f} bits/char" in stdout
    assert expected["nats_per_char"] == pytest.approx(expected["bits_per_char"] * np.log(2))
    assert 2.0 < expected["nats_per_char"] < np.log(len(vocab)) + 0.5   # near-uniform after 6 steps


def test_resume_continues_exactly_like_an_uninterrupted_run(corpus, tmp_path, capsys):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert run(train_argv(corpus, straight, 9), capsys)[0] == 0
    assert run(train_argv(corpus, split, 4), capsys)[0] == 0
    # resume takes every setting from the checkpoint; --max-steps counts the whole run
    status, stdout, stderr = run(["textgen", "train", "--out", str(split), "--resume",
                                  "--max-steps", "9"], capsys)
    assert status == 0, stderr
    assert "resuming" in stderr and "step 9" in stdout
    a, _ = load_model(straight / "checkpoint.npz", which="last")
    b, _ = load_model(split / "checkpoint.npz", which="last")
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)


def test_word_level_model(corpus, tmp_path, capsys):
    out = tmp_path / "words"
    assert run(train_argv(corpus, out, 3, "--level", "word", "--embed-size", "8"), capsys)[0] == 0
    _, vocab, _ = textgen.load(out)
    assert vocab.level == "word" and "Romeo" in vocab.tokens and vocab.unk_token == "<unk>"
    status, stdout, stderr = run(["textgen", "sample", "--model", str(out), "--prime", "ROMEO: zebra",
                                  "--length", "12", "--seed", "0"], capsys)
    assert status == 0 and stdout.startswith("ROMEO: <unk>") and "<pad>" not in stdout
    assert "note: prime words not in the vocabulary were read as <unk>: 'zebra'" in stderr
    status, stdout, _ = run(["textgen", "eval", "--model", str(out), "--split", "all"], capsys)
    assert status == 0 and "nats/word" in stdout


@pytest.mark.parametrize("action", [[], ["train"], ["sample"], ["eval"]])
def test_help_on_every_command(action, capsys):
    status, stdout, _ = run(["textgen", *action, "--help"], capsys)
    assert status == 0 and stdout.startswith("usage: rnnkit textgen")


def bad_inputs(tmp_path, corpus):
    binary = tmp_path / "image.bin"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b"caf\xe9")
    not_model = tmp_path / "not_model"
    not_model.mkdir()
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "checkpoint.npz").write_bytes(b"not a zip")
    model = str(tmp_path / "model")
    return [
        (["train", "--corpus", str(corpus)], "the following arguments are required: --out"),
        (["train", "--out", model, "--hidden-size", "0"], "argument --hidden-size: expected a positive integer, got '0'"),
        (["train", "--out", model, "--num-layers", "two"], "argument --num-layers: expected a positive integer"),
        (["train", "--out", model, "--lr", "-0.1"], "argument --lr: expected a number > 0"),
        (["train", "--out", model, "--dropout", "1"], "argument --dropout: expected a number >= 0 and < 1"),
        (["train", "--out", model, "--cell", "lstmm"], "argument --cell: invalid choice: 'lstmm'"),
        (["train", "--out", model, "--optimizer", "adagrad"], "argument --optimizer: invalid choice"),
        (["train", "--out", model, "--max-minutes", "inf"], "argument --max-minutes: expected a number > 0"),
        (["train", "--out", model, "--corpus", str(tmp_path / "missing.txt")], "does not exist"),
        (["train", "--out", model, "--corpus", str(binary)], "looks binary"),
        (["train", "--out", model, "--corpus", str(latin1)], "is not UTF-8 text"),
        (["train", "--out", model, "--corpus", str(tmp_path)], "is a directory"),
        (["train", "--out", str(corpus), "--corpus", str(corpus)], "is a file; give a directory"),
        (["train", "--out", str(not_model), "--resume"], "holds no checkpoint.npz"),
        (["train", "--out", model, "--threads", "0"], "argument --threads: expected 'auto' or a positive integer"),
        (["sample", "--model", model, "--temperature", "-1"], "argument --temperature: expected a number >= 0"),
        (["sample", "--model", model, "--top-k", "0"], "argument --top-k: expected a positive integer"),
        (["sample", "--model", model, "--length", "-5"], "argument --length: expected a positive integer"),
        (["sample", "--model", model], f"no model at '{model}': give the --out directory of `rnnkit textgen train`"),
        (["sample", "--model", str(not_model)], "holds no checkpoint.npz; it is not a trained model"),
        (["sample", "--model", str(corpus)], "is not a directory"),
        (["sample", "--model", str(fake)], "is not a readable rnnkit checkpoint"),
        (["sample"], "the following arguments are required: --model"),
        (["sample", "--model", model, "--bogus"], "unrecognized arguments: --bogus"),
        (["eval", "--model", str(not_model)], "holds no checkpoint.npz"),
        (["eval"], "the following arguments are required: --model"),
        (["fly"], "invalid choice: 'fly'"),
    ]


def test_bad_arguments_give_one_line_and_status_2(tmp_path, corpus, capsys):
    for argv, message in bad_inputs(tmp_path, corpus):
        status, stdout, stderr = run(["textgen", *argv], capsys)
        assert status == 2, (argv, stderr)
        assert stderr.count("\n") == 1 and stderr.startswith("rnnkit textgen"), (argv, stderr)
        assert message in stderr, (argv, stderr)
        assert "Traceback" not in stderr and stdout == ""


def test_trained_model_refuses_other_setups_and_corpora(corpus, tmp_path, capsys):
    out = tmp_path / "model"
    assert run(train_argv(corpus, out, 2), capsys)[0] == 0
    cases = [
        (train_argv(corpus, out, 4), "already holds a model (trained by `rnnkit textgen`); add --resume"),
        (["textgen", "train", "--out", str(out), "--resume", "--hidden-size", "64"],
         "cannot change --hidden-size 64 (the run used 12)"),
        (["textgen", "train", "--out", str(out), "--resume", "--lr", "0.1"],
         "cannot change --lr 0.1"),
        (["textgen", "eval", "--model", str(out), "--corpus", str(tmp_path / "none.txt")],
         "does not exist"),
    ]
    for argv, message in cases:
        status, _, stderr = run(argv, capsys)
        assert status == 2 and message in stderr and stderr.count("\n") == 1, stderr
    other = tmp_path / "other.txt"
    other.write_text("Zebra \u20ac unknown characters", encoding="utf-8")
    status, stdout, stderr = run(["textgen", "eval", "--model", str(out), "--corpus", str(other),
                                  "--split", "all"], capsys)
    assert status == 0 and "were skipped" in stderr and "bits/char" in stdout


def test_blas_threads_limits_numpy_blas():
    from rnnkit.apps._threads import blas_threads

    threadpoolctl = pytest.importorskip("threadpoolctl")
    with blas_threads(1):
        blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
        assert blas and all(i["num_threads"] == 1 for i in blas)


@pytest.mark.parametrize("app, action", [("textgen", "train"), ("textgen", "sample"),
                                         ("sentiment", "train"), ("vowels", "eval"),
                                         ("imageseq", "predict"), ("forecast", "train"),
                                         ("forecast", "predict")])
def test_every_computing_action_takes_the_idle_cores_by_default(app, action, capsys, monkeypatch):
    """The same --threads policy everywhere (applied once, in rnnkit/cli.py): by default the
    cores other jobs leave idle (2 on an idle 2-core machine, 1 with a busy job), or --threads."""
    import importlib

    from rnnkit.apps import _threads
    from rnnkit.cli import main

    threadpoolctl = pytest.importorskip("threadpoolctl")
    assert "--threads N|auto" in run([app, action, "--help"], capsys)[1]
    seen = []
    module = importlib.import_module(f"rnnkit.apps.{app}")
    name = {"train": "_run_train", "sample": "_run_sample", "eval": "_run_eval",
            "predict": "_run_predict"}[action]

    def record(args):
        seen.append([i["num_threads"] for i in threadpoolctl.threadpool_info()
                     if i["user_api"] == "blas"])
        return 0

    monkeypatch.setattr(module, name, record)
    monkeypatch.setattr(_threads, "usable_cores", lambda: 2)
    argv = {"train": ["--out", "x"], "sample": ["--model", "x"], "eval": ["--model", "x"],
            "predict": ["--model", "x"]}[action]
    if app == "forecast" and action == "train":
        argv += ["--series", "co2"]
    if app == "imageseq" and action == "predict":
        argv = ["file.npz", *argv]
    for idle, extra, threads in [(1.9, [], 2), (0.9, [], 1), (0.0, [], 1),
                                 (1.9, ["--threads", "1"], 1), (0.0, ["--threads", "2"], 2)]:
        monkeypatch.setattr(_threads, "idle_cores", lambda idle=idle: idle)
        seen.clear()
        assert main([app, action, *argv, *extra]) == 0
        assert seen and seen[0] and all(n == threads for n in seen[0]), (idle, extra, seen)


def test_auto_threads_is_the_idle_cores_at_least_one(monkeypatch):
    from rnnkit.apps import _threads

    for cores, idle, expected in [(1, 1.0, 1), (2, 2.0, 2), (2, 1.8, 2), (2, 1.7, 1),
                                  (2, 0.0, 1), (8, 4.8, 5), (8, 8.0, 8)]:
        monkeypatch.setattr(_threads, "usable_cores", lambda cores=cores: cores)
        monkeypatch.setattr(_threads, "idle_cores", lambda idle=idle: idle)
        assert _threads.auto_threads() == expected, (cores, idle)
    monkeypatch.setattr(_threads, "idle_cores", lambda: None)       # no /proc/stat: load average
    monkeypatch.setattr(_threads.os, "getloadavg", lambda: (1.2, 1.0, 1.0))
    assert _threads.auto_threads() == 7                             # 8 cores - 1.2
    assert _threads.thread_count("auto") == "auto" and _threads.thread_count("3") == 3


def test_idle_cores_reads_this_machine():
    from rnnkit.apps import _threads

    idle = _threads.idle_cores(0.05)
    assert idle is None or 0.0 <= idle <= _threads.usable_cores() + 1e-9
