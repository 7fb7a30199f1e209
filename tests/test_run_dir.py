"""The run directory every app shares (rnnkit/apps/_run.py) and what a user sees through
it: an existing model is never replaced silently, --resume restores every saved option
and refuses the ones it cannot change, Ctrl-C saves a checkpoint and says how to resume."""

import os
import signal

import numpy as np
import pytest
from helpers import run_cli

import rnnkit
from rnnkit.apps import _run, textgen
from rnnkit.optim import Adam
from rnnkit.training import TokenStream, Trainer
from rnnkit.training.trainer import TrainingInterrupted

CORPUS = "ROMEO:\nBut soft, what light through yonder window breaks?\n\n" * 40


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(CORPUS, encoding="utf-8")
    return path


def textgen_argv(corpus, out, *extra):
    return ["textgen", "train", "--corpus", str(corpus), "--out", str(out), "--hidden-size", "8",
            "--num-layers", "1", "--seq-len", "8", "--batch-size", "4", *extra]


def interrupt_at(monkeypatch, step):
    """Send SIGINT to this process when the trainer records ``step``."""
    record = Trainer._record

    def record_then_interrupt(self, *args):
        if self.step == step:
            os.kill(os.getpid(), signal.SIGINT)
        return record(self, *args)

    monkeypatch.setattr(Trainer, "_record", record_then_interrupt)


def test_existing_model_is_refused_untouched_then_replaced_only_with_overwrite(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(textgen_argv(corpus, out, "--max-steps", "2"), capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    status, _, err = run_cli(textgen_argv(corpus, out, "--max-steps", "3"), capsys)
    assert status == 2 and "already holds a model (trained by `rnnkit textgen`)" in err
    assert "--overwrite" in err and {p.name: p.read_bytes() for p in out.iterdir()} == before
    status, _, err = run_cli(textgen_argv(corpus, out, "--max-steps", "3", "--overwrite"), capsys)
    assert status == 0, err
    assert rnnkit.training.checkpoint_meta(out / "checkpoint.npz")["trainer"]["step"] == 3


def test_model_of_another_app_is_named(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(textgen_argv(corpus, out, "--max-steps", "1"), capsys)[0] == 0
    with pytest.raises(ValueError, match="was trained by `rnnkit textgen`, not `rnnkit vowels`"):
        _run.read_meta(out, "vowels")
    with pytest.raises(ValueError, match="already holds a model"):
        _run.prepare_out(out, "vowels")
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        _run.prepare_out(tmp_path / "empty", "textgen", resume=True)


def test_ctrl_c_saves_a_checkpoint_and_resume_keeps_max_steps(corpus, tmp_path, capsys, monkeypatch):
    """A run stopped at step 3 of --max-steps 6 and resumed without flags stops at step 6
    (it used to train for the default 10 minutes instead)."""
    out = tmp_path / "run"
    interrupt_at(monkeypatch, 3)
    status, _, err = run_cli(textgen_argv(corpus, out, "--max-steps", "6"), capsys)
    assert status == 130
    assert f"interrupted at step 3; checkpoint saved to {out / 'checkpoint.npz'}" in err
    assert f"continue with `rnnkit textgen train --out {out} --resume`" in err
    monkeypatch.undo()
    monkeypatch.setattr(textgen, "DEFAULT_MINUTES", 0.02)      # a lost limit shows quickly
    status, stdout, err = run_cli(["textgen", "train", "--out", str(out), "--resume"], capsys)
    assert status == 0, err
    assert "step 6 (max_steps" in stdout


def test_resume_reports_options_it_changes(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(textgen_argv(corpus, out, "--max-steps", "2", "--clip", "5"), capsys)[0] == 0
    status, _, err = run_cli(["textgen", "train", "--out", str(out), "--resume", "--max-steps",
                              "3", "--clip", "1"], capsys)
    assert status == 0 and "resuming with clip 5.0 -> 1.0, max_steps 2 -> 3" in err


def test_interrupted_trainer_resumes_to_the_same_weights(tmp_path, monkeypatch):
    def make(out):
        model = rnnkit.LanguageModel(5, embed_size=3, hidden_size=4, seed=0)
        data = TokenStream(np.arange(400) % 5, batch_size=2, seq_len=5)
        return Trainer(model, Adam(model.parameters(), lr=0.01), data, max_steps=6,
                       out_dir=out, progress=False)

    whole = make(tmp_path / "whole")
    whole.fit()
    interrupt_at(monkeypatch, 2)
    split = make(tmp_path / "split")
    with pytest.raises(TrainingInterrupted) as info:
        split.fit()
    assert info.value.step == 2 and info.value.checkpoint == str(tmp_path / "split" / "checkpoint.npz")
    monkeypatch.undo()
    resumed = make(tmp_path / "split")
    assert resumed.fit(resume=True)["step"] == 6
    for name, value in whole.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[name], value)


@pytest.fixture
def tiny_images(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "images.npz"
    np.savez(path, images=rng.random((24, 4, 4)), labels=np.array([0, 1] * 12))
    return path


def imageseq_argv(data, out, *extra):
    return ["imageseq", "train", "--data", str(data), "--out", str(out), "--hidden-size", "4",
            "--batch-size", "8", "--patience", "9", "--quiet", *extra]


def test_classification_train_never_replaces_a_model_silently(tiny_images, tmp_path, capsys):
    """`rnnkit imageseq|vowels|sentiment train` used to overwrite --out (default runs/<app>)."""
    out = tmp_path / "run"
    assert run_cli(imageseq_argv(tiny_images, out, "--epochs", "1"), capsys)[0] == 0
    before = (out / "checkpoint.npz").read_bytes()
    status, _, err = run_cli(imageseq_argv(tiny_images, out, "--epochs", "2"), capsys)
    assert status == 2 and "already holds a model (trained by `rnnkit imageseq`)" in err
    assert (out / "checkpoint.npz").read_bytes() == before
    status, _, err = run_cli(["vowels", "train", "--out", str(out), "--quiet"], capsys)
    assert status == 2 and "trained by `rnnkit imageseq`" in err
    assert (out / "checkpoint.npz").read_bytes() == before
    assert run_cli(imageseq_argv(tiny_images, out, "--epochs", "2", "--overwrite"), capsys)[0] == 0
    assert rnnkit.training.checkpoint_meta(out / "checkpoint.npz")["trainer"]["step"] == 2 * 3


def test_classification_resume_restores_the_saved_flags(tiny_images, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(imageseq_argv(tiny_images, out, "--epochs", "1", "--num-layers", "2",
                                 "--cell", "lstm"), capsys)[0] == 0
    # --num-layers, --cell, --hidden-size are not given again: they come from the checkpoint
    status, _, err = run_cli(["imageseq", "train", "--data", str(tiny_images), "--out", str(out),
                              "--resume", "--epochs", "2", "--quiet"], capsys)
    assert status == 0, err
    assert "resuming with epochs 1 -> 2" in err
    meta = rnnkit.training.checkpoint_meta(out / "checkpoint.npz")
    assert meta["trainer"]["step"] == 2 * 3 and meta["model"]["config"]["num_layers"] == 2
    status, _, err = run_cli(["imageseq", "train", "--data", str(tiny_images), "--out", str(out),
                              "--resume", "--lr", "0.5", "--quiet"], capsys)
    assert status == 2 and "cannot change --lr 0.5 (the run used 0.002)" in err


def test_help_shows_every_default_and_no_placeholders(capsys):
    for app in ("textgen", "sentiment", "vowels", "imageseq", "forecast", "translate"):
        for action in ("train", "eval"):
            status, stdout, _ = run_cli([app, action, "--help"], capsys)
            assert status == 0 and "%%" not in stdout and "runs/<app>" not in stdout, (app, action)
    stdout = run_cli(["vowels", "train", "--help"], capsys)[1]
    assert "(default: 64)" in stdout and "(default: runs/vowels)" in stdout


def test_forecast_predict_keeps_the_holdout_plot_and_train_refuses_a_model(tmp_path, capsys):
    csv = tmp_path / "monthly.csv"
    rows = [f"2000-{m:02d}" if y == 0 else f"{2000 + y}-{m:02d}" for y in range(10) for m in range(1, 13)]
    values = 100 + 10 * np.sin(np.arange(len(rows)) * 2 * np.pi / 12)
    csv.write_text("month,sales\n" + "".join(f"{t},{v:.3f}\n" for t, v in zip(rows, values)))
    out = tmp_path / "run"
    argv = ["forecast", "train", "--csv", str(csv), "--time-column", "month", "--value-columns", "sales",
            "--out", str(out), "--epochs", "2", "--no-baselines"]
    assert run_cli(argv, capsys)[0] == 0
    holdout = (out / "forecast.png").read_bytes()
    assert run_cli(["forecast", "predict", "--model", str(out)], capsys)[0] == 0
    assert (out / "forecast.png").read_bytes() == holdout and (out / "prediction.png").exists()
    status, _, err = run_cli(argv, capsys)
    assert status == 2 and "already holds a model (trained by `rnnkit forecast`)" in err
    assert (out / "forecast.png").read_bytes() == holdout
    assert run_cli(argv + ["--overwrite"], capsys)[0] == 0
    assert not (out / "prediction.png").exists()


def test_the_command_prints_rnnkit_errors_in_one_line_and_keeps_a_bugs_traceback(monkeypatch, capsys):
    from rnnkit.apps import vowels
    from rnnkit.cli import main
    from rnnkit.errors import InputError

    def fail_with(exc):
        def run(args):
            raise exc
        monkeypatch.setattr(vowels, "_run_eval", run)

    fail_with(InputError("--data 'x.csv': no column 'id'"))
    with pytest.raises(SystemExit) as info:
        main(["vowels", "eval"])
    assert info.value.code == 2
    assert capsys.readouterr().err == "rnnkit vowels: error: --data 'x.csv': no column 'id'\n"
    fail_with(ValueError("operands could not be broadcast together"))     # a bug, not a user error
    with pytest.raises(ValueError, match="broadcast"):
        main(["vowels", "eval"])
    fail_with(KeyError("weight_hh_l0"))
    with pytest.raises(KeyError):
        main(["vowels", "eval"])


def test_each_app_names_the_app_that_trained_a_model(tiny_images, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(imageseq_argv(tiny_images, out, "--epochs", "1"), capsys)[0] == 0
    for argv in (["textgen", "sample", "--model", str(out)], ["vowels", "eval", "--model", str(out)],
                 ["sentiment", "predict", "--model", str(out), "good"],
                 ["forecast", "predict", "--model", str(out)],
                 ["inspect", "--model", str(out), "--out", str(tmp_path / "page.html")]):
        status, _, err = run_cli(argv, capsys)
        assert status == 2 and "was trained by `rnnkit imageseq`, not `rnnkit " in err, (argv, err)


def test_every_option_of_every_action_has_help_with_its_default():
    import argparse
    import importlib

    from rnnkit.cli import APPS

    missing = []
    for app, (module, _) in APPS.items():
        parser = argparse.ArgumentParser(prog=app)
        importlib.import_module(module).build_parser(parser)
        actions = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)),
                       None)
        subparsers = actions.choices if actions is not None else {"(no action)": parser}
        for name, sub in subparsers.items():         # `rnnkit export` has no actions
            for option in sub._actions:
                if isinstance(option, argparse._HelpAction) or not option.option_strings:
                    continue
                text = option.help or ""
                switch = option.nargs == 0 or isinstance(option, argparse._AppendAction)
                if not text or not (switch or option.required or "default" in text):
                    missing.append(f"{app} {name} {option.option_strings[0]}: {text!r}")
    assert not missing, missing


def test_forecast_resume_continues_on_the_saved_data_and_settings(tmp_path, capsys):
    csv = tmp_path / "monthly.csv"
    rows = [f"{2000 + y}-{m:02d}" for y in range(10) for m in range(1, 13)]
    values = 100 + 10 * np.sin(np.arange(len(rows)) * 2 * np.pi / 12)
    csv.write_text("month,sales\n" + "".join(f"{t},{v:.3f}\n" for t, v in zip(rows, values)))
    out = tmp_path / "run"
    argv = ["forecast", "train", "--csv", str(csv), "--time-column", "month", "--value-columns",
            "sales", "--out", str(out), "--no-baselines", "--patience", "50", "--hidden-size", "4"]
    assert run_cli(argv + ["--epochs", "2"], capsys)[0] == 0
    steps = rnnkit.training.checkpoint_meta(out / "checkpoint.npz")["trainer"]["step"]
    status, _, err = run_cli(["forecast", "train", "--out", str(out), "--resume", "--epochs", "4",
                              "--no-baselines"], capsys)
    assert status == 0, err
    assert "resuming with epochs 2 -> 4" in err
    meta = rnnkit.training.checkpoint_meta(out / "checkpoint.npz")
    assert meta["trainer"]["step"] == 2 * steps and meta["model"]["config"]["hidden_size"] == 4
    status, _, err = run_cli(["forecast", "train", "--out", str(out), "--resume",
                              "--hidden-size", "8"], capsys)
    assert status == 2 and "cannot change --hidden-size 8 (the run used 4)" in err
    status, _, err = run_cli(["forecast", "train", "--out", str(out), "--resume", "--series",
                              "co2"], capsys)
    assert status == 2 and "a resumed run keeps its data" in err


def test_one_flag_naming_across_apps(capsys):
    for app in ("textgen", "sentiment", "vowels", "imageseq", "forecast", "translate"):
        stdout = run_cli([app, "train", "--help"], capsys)[1]
        for flag in ("--hidden-size", "--num-layers", "--batch-size", "--out", "--resume",
                     "--overwrite", "--threads", "--seed", "--max-minutes"):
            assert flag in stdout, (app, flag)
        for old in ("--hidden ", "--layers ", "--batch ", "--embed ", "--time-col ", "--value-cols "):
            assert old not in stdout, (app, old)
