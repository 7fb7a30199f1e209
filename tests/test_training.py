"""Trainer, loaders and objectives: TBPTT state carry, determinism, early stopping,
the JSONL log, best weights, the loss curve and bad arguments."""

import json

import numpy as np
import pytest

import rnnkit
from rnnkit.losses import MSELoss
from rnnkit.models import LanguageModel, SequenceClassifier, SequenceRegressor
from rnnkit.optim import SGD, Adam, Constant
from rnnkit.training import (
    LanguageModeling, SequenceBatches, Supervised, TokenStream, Trainer, load_model,
)

F64 = np.float64


def _tokens(n=400, vocab=6, seed=0):
    return np.random.default_rng(seed).integers(0, vocab, n)


def _lm(seed=0, dropout=0.0, cell="lstm"):
    return LanguageModel(6, 4, 8, num_layers=2, cell=cell, dropout=dropout, dtype=F64, seed=seed)


# ------------------------------------------------------------------ loaders


def test_token_stream_layout_and_targets():
    tokens = np.arange(23)
    data = TokenStream(tokens, batch_size=2, seq_len=4)       # streams 0..10 and 11..21
    assert data.num_batches == 3                               # 10 transitions / 4 -> 4, 4, 2
    first, last = data.batch(0, 0), data.batch(0, 2)
    np.testing.assert_array_equal(first.inputs, [[0, 11], [1, 12], [2, 13], [3, 14]])
    np.testing.assert_array_equal(first.targets, first.inputs + 1)
    np.testing.assert_array_equal(last.inputs, [[8, 19], [9, 20]])
    np.testing.assert_array_equal(last.targets, [[9, 20], [10, 21]])
    assert first.num_tokens == 8 and last.num_tokens == 4
    # chunk i+1 of a column continues chunk i of that column
    np.testing.assert_array_equal(data.batch(0, 1).inputs[0], first.targets[-1])


def test_token_stream_bad_input():
    with pytest.raises(TypeError, match="tokens must be a 1-D integer array"):
        TokenStream(np.zeros(10), 2, 3)
    with pytest.raises(ValueError, match="too few for batch_size=4"):
        TokenStream(np.arange(7), 4, 3)
    with pytest.raises(ValueError, match="seq_len must be a positive integer"):
        TokenStream(np.arange(70), 4, 0)


def test_sequence_batches_pad_shuffle_per_epoch_and_seed():
    rng = np.random.default_rng(0)
    seqs = [rng.standard_normal((n, 3)) for n in (2, 5, 3, 4, 1)]
    targets = np.arange(5)
    data = SequenceBatches(seqs, targets, batch_size=2, seed=7)
    assert data.num_batches == 3
    b = data.batch(0, 0)
    order = data.order(0)
    np.testing.assert_array_equal(b.targets, order[:2])
    assert b.inputs.shape == (max(len(seqs[i]) for i in order[:2]), 2, 3)
    for col, n in enumerate(order[:2]):
        np.testing.assert_array_equal(b.inputs[: len(seqs[n]), col], seqs[n])
        assert np.all(b.inputs[len(seqs[n]):, col] == 0)
        assert b.lengths[col] == len(seqs[n])
    assert sorted(np.concatenate([data.order(1)])) == list(range(5))
    assert not all(np.array_equal(data.order(0), data.order(e)) for e in range(1, 4))
    np.testing.assert_array_equal(SequenceBatches(seqs, targets, 2, seed=7).order(3), data.order(3))
    plain = SequenceBatches(seqs, targets, 2, shuffle=False)
    np.testing.assert_array_equal(plain.batch(5, 1).targets, [2, 3])


def test_sequence_batches_from_padded_array_and_bad_input():
    x = np.arange(24).reshape(4, 6)
    data = SequenceBatches(x, [0, 1, 0, 1], batch_size=4, lengths=[6, 2, 3, 1], shuffle=False)
    b = data.batch(0, 0)
    assert b.inputs.shape == (6, 4)
    np.testing.assert_array_equal(b.inputs[:, 1], [6, 7, 0, 0, 0, 0])
    with pytest.raises(ValueError, match=r"targets must have shape \(N=4, ...\)"):
        SequenceBatches(x, [0, 1], batch_size=2)
    with pytest.raises(ValueError, match=r"lengths must be \(N=4,\) integers in \[1, T=6\]"):
        SequenceBatches(x, [0] * 4, batch_size=2, lengths=[0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"sequences\[1\] has shape"):
        SequenceBatches([np.zeros((2, 3)), np.zeros((2, 4))], [0, 1], batch_size=2)


# ------------------------------------------------------------------ truncated BPTT


def test_tbptt_carried_state_equals_whole_stream_state():
    """Training with lr=0 visits the chunks exactly as one long forward pass would."""
    tokens = _tokens(203)
    data = TokenStream(tokens, batch_size=3, seq_len=7)
    model = _lm()
    seen = []
    trainer = Trainer(model, SGD(model.parameters(), lr=0.0), data, max_steps=data.num_batches - 1,
                      progress=False, on_step=lambda t, r: seen.append(t.carry))
    trainer.fit()
    streams = data._streams                                       # (L, B)
    with rnnkit.no_grad():
        _, (h, c) = model.forward(streams[: 7 * (data.num_batches - 1)])
    carried_h, carried_c = seen[-1]
    np.testing.assert_allclose(carried_h, h, atol=1e-12)
    np.testing.assert_allclose(carried_c, c, atol=1e-12)


def test_tbptt_gradient_does_not_cross_the_chunk_boundary():
    """The step's gradient equals that of the chunk alone with the carried state as a constant."""
    tokens = _tokens(120)
    data = TokenStream(tokens, batch_size=2, seq_len=5)
    model = _lm()
    objective = LanguageModeling()
    with rnnkit.no_grad():
        _, state = model.forward(data.batch(0, 0).inputs)
    model.zero_grad()
    objective.train_step(model, data.batch(0, 1), state)
    grads = [p.grad.copy() for p in model.parameters()]

    # the same chunk, fed as the tail of the two-chunk sequence, backpropagating only into it
    twin = _lm()
    both = np.concatenate([data.batch(0, 0).inputs, data.batch(0, 1).inputs])
    targets = np.concatenate([data.batch(0, 0).targets, data.batch(0, 1).targets])
    twin.zero_grad()
    logits, _ = twin.forward(both)
    loss = rnnkit.CrossEntropyLoss()
    mask = np.zeros(targets.shape, bool)
    mask[5:] = True
    loss.forward(logits, targets, mask=mask)
    twin.backward(loss.backward())
    full = [p.grad for p in twin.parameters()]
    # full BPTT also sends gradient through chunk 0: the recurrent weights differ ...
    assert not np.allclose(full[1], grads[1])
    # ... while the decoder, which sees only chunk-1 outputs, agrees exactly
    np.testing.assert_allclose(full[-1], grads[-1], atol=1e-12)
    np.testing.assert_allclose(full[-2], grads[-2], atol=1e-12)


def test_state_reset_at_every_epoch():
    data = TokenStream(_tokens(60), batch_size=2, seq_len=10)     # 3 batches per epoch
    model = _lm()
    starts = []
    original = LanguageModeling.train_step

    class Spy(LanguageModeling):
        def train_step(self, model, batch, state):
            starts.append(state is None)
            return original(self, model, batch, state)

    Trainer(model, SGD(model.parameters(), lr=0.01), data, objective=Spy(), max_epochs=2,
            progress=False).fit()
    assert starts == [True, False, False, True, False, False]


# ------------------------------------------------------------------ the loop


def _fit(tmp_path, name, **kwargs):
    model = _lm(dropout=0.3)
    data = TokenStream(_tokens(500), batch_size=4, seq_len=8)
    val = TokenStream(_tokens(120, seed=1), batch_size=2, seq_len=8)
    options = dict(max_steps=12, eval_every=4, clip_grad_norm=1.0, log_every=2, progress=False,
                   out_dir=tmp_path / name)
    options.update(kwargs)
    trainer = Trainer(model, Adam(model.parameters(), lr=0.01), data, val, **options)
    return trainer, trainer.fit()


def test_training_is_deterministic_and_learns(tmp_path):
    a, summary = _fit(tmp_path, "a")
    b, _ = _fit(tmp_path, "b")
    for (name, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        np.testing.assert_array_equal(x, y, err_msg=name)
    records = [json.loads(line) for line in open(tmp_path / "a" / "metrics.jsonl")]
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    assert summary["stop_reason"] == "max_steps" and summary["step"] == 12


def test_jsonl_log_contents(tmp_path):
    trainer, summary = _fit(tmp_path, "log")
    records = [json.loads(line) for line in open(tmp_path / "log" / "metrics.jsonl")]
    assert [r["step"] for r in records] == [2, 4, 6, 8, 10, 12]
    for r in records:
        assert {"step", "epoch", "train_loss", "lr", "tokens_per_s", "elapsed_s", "grad_norm"} <= set(r)
        assert r["lr"] == 0.01 and r["tokens_per_s"] > 0 and np.isfinite(r["train_loss"])
    evals = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in evals] == [4, 8, 12]
    for r in evals:
        assert r["val_bits_per_token"] == pytest.approx(r["val_loss"] / np.log(2))
        assert r["best_val_loss"] == min(e["val_loss"] for e in evals if e["step"] <= r["step"])
    assert records[2]["epoch"] == pytest.approx(6 / 16)            # 124 transitions / 8 -> 16 batches
    assert records == trainer.history
    assert (tmp_path / "log" / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_early_stopping_and_best_weights(tmp_path):
    model = _lm()
    data = TokenStream(_tokens(500), batch_size=4, seq_len=8)
    val = TokenStream(_tokens(120, seed=1), batch_size=2, seq_len=8)
    snapshots = {}
    trainer = Trainer(model, SGD(model.parameters(), lr=5.0), data, val, max_steps=200,
                      eval_every=2, patience=3, progress=False, out_dir=tmp_path,
                      on_step=lambda t, r: snapshots.__setitem__(t.step, t.model.state_dict()))
    summary = trainer.fit()                                        # lr=5 diverges: val gets worse
    records = [r for r in trainer.history if "val_loss" in r]
    best = min(records, key=lambda r: r["val_loss"])
    assert summary["stop_reason"] == "early_stopping"
    assert summary["best_step"] == best["step"] and summary["best_val_loss"] == best["val_loss"]
    assert summary["step"] == best["step"] + 2 * 3                 # three evaluations without improvement
    for name, value in trainer.best_state_dict().items():
        np.testing.assert_array_equal(value, snapshots[best["step"]][name])
    loaded, meta = load_model(tmp_path / "checkpoint.npz")
    for name, value in loaded.state_dict().items():
        np.testing.assert_array_equal(value, snapshots[best["step"]][name])
    last, _ = load_model(tmp_path / "checkpoint.npz", which="last")
    np.testing.assert_array_equal(last.decoder.weight.data, model.decoder.weight.data)
    assert meta["trainer"]["best_step"] == best["step"]


def test_max_epochs_schedule_and_classifier_training():
    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 9, 64)
    labels = rng.integers(0, 2, 64)
    # the label is the sign of the first feature at the last valid step: learnable
    seqs = [rng.standard_normal((n, 2)) for n in lengths]
    for s, y in zip(seqs, labels):
        s[-1, 0] = 2.0 if y else -2.0
    data = SequenceBatches(seqs, labels, batch_size=16, seed=0)
    model = SequenceClassifier(2, input_size=2, hidden_size=8, dtype=F64, seed=0)
    lrs = []
    trainer = Trainer(model, Adam(model.parameters(), lr=0.05), data, data, max_epochs=6,
                      schedule=lambda step: 0.05 if step < 12 else 0.02, progress=False,
                      on_step=lambda t, r: lrs.append(r["lr"]))
    summary = trainer.fit()
    assert summary["stop_reason"] == "max_epochs" and summary["step"] == 24
    assert lrs == [0.05] * 12 + [0.02] * 12
    assert trainer.history[-1]["val_accuracy"] >= 0.9
    assert trainer.history[0]["step"] == 4                         # evaluated once per epoch


def test_regression_objective_squeezes_single_output():
    rng = np.random.default_rng(0)
    seqs = [rng.standard_normal((5, 1)) for _ in range(16)]
    targets = np.array([s.sum() for s in seqs])
    data = SequenceBatches(seqs, targets, batch_size=8, seed=0)
    model = SequenceRegressor(1, input_size=1, hidden_size=6, pooling="mean", dtype=F64, seed=0)
    trainer = Trainer(model, Adam(model.parameters(), lr=0.02), data, data, objective=Supervised(MSELoss()),
                      max_epochs=10, progress=False)
    trainer.fit()
    first, last = trainer.history[0], trainer.history[-1]
    assert last["val_loss"] < first["val_loss"]
    assert last["val_rmse"] == pytest.approx(np.sqrt(last["val_loss"]))


def test_nan_loss_is_reported_with_the_step():
    model = _lm()
    data = TokenStream(_tokens(200), batch_size=2, seq_len=5)
    model.decoder.weight.data[0, 0] = np.inf
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), data, max_steps=3, progress=False)
    with pytest.raises(ValueError, match="NaN or inf"):
        trainer.fit()


def test_trainer_bad_arguments():
    model = _lm()
    data = TokenStream(_tokens(200), batch_size=2, seq_len=5)
    opt = SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="at least one of max_steps, max_epochs and max_minutes"):
        Trainer(model, opt, data)
    with pytest.raises(ValueError, match="clip_grad_norm must be a positive number"):
        Trainer(model, opt, data, max_steps=1, clip_grad_norm=-1)
    with pytest.raises(TypeError, match="optimizer must be an rnnkit.optim optimizer"):
        Trainer(model, "adam", data, max_steps=1)
    with pytest.raises(TypeError, match="train_data must be a loader"):
        Trainer(model, opt, [1, 2, 3], max_steps=1)
    with pytest.raises(ValueError, match="patience must be a positive int"):
        Trainer(model, opt, data, max_steps=1, patience=0)
    with pytest.raises(ValueError, match="patience .* needs val_data"):
        Trainer(model, opt, data, max_steps=1, patience=2)
    with pytest.raises(ValueError, match="resume=True needs out_dir"):
        Trainer(model, opt, data, max_steps=1, schedule=Constant(0.1)).fit(resume=True)


def test_progress_bar_is_quiet_off_a_tty_and_in_ci(monkeypatch):
    from rnnkit.training.progress import ProgressBar, progress_enabled

    class FakeStderr:
        def __init__(self, tty):
            self.tty = tty

        def isatty(self):
            return self.tty

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr("sys.stderr", FakeStderr(True))
    assert progress_enabled(None) is True
    monkeypatch.setenv("CI", "true")
    assert progress_enabled(None) is False
    monkeypatch.delenv("CI")
    monkeypatch.setattr("sys.stderr", FakeStderr(False))
    assert progress_enabled(None) is False
    assert progress_enabled(True) is True and progress_enabled(False) is False
    quiet = ProgressBar(False, total=3)
    quiet.update(1.0, 100.0)                                       # a no-op, no tqdm involved
    assert quiet._bar is None


def test_max_minutes_stops_on_the_clock(monkeypatch):
    import rnnkit.training.trainer as trainer_module

    clock = iter(range(0, 10_000, 20))                             # every reading is 20 s later
    monkeypatch.setattr(trainer_module.time, "perf_counter", lambda: float(next(clock)))
    model = _lm()
    data = TokenStream(_tokens(200), batch_size=2, seq_len=5)
    summary = Trainer(model, SGD(model.parameters(), lr=0.1), data, max_minutes=1.5,
                      progress=False).fit()
    assert summary["stop_reason"] == "max_minutes"
    assert 1 <= summary["step"] < 10


def test_loss_curve_skipped_with_a_note_without_matplotlib(monkeypatch, tmp_path, capsys):
    from rnnkit.training.plot import plot_loss_curve

    monkeypatch.setitem(__import__("sys").modules, "matplotlib.figure", None)
    assert plot_loss_curve([{"step": 1, "train_loss": 1.0}], tmp_path / "curve.png") is None
    assert "matplotlib is not installed" in capsys.readouterr().err
    assert not (tmp_path / "curve.png").exists()


def test_import_rnnkit_stays_free_of_tqdm_matplotlib_and_torch():
    import subprocess
    import sys

    code = ("import sys, rnnkit, rnnkit.training, rnnkit.models\n"
            "print(sorted(m for m in ('tqdm', 'matplotlib', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_module_docstring_example_runs(tmp_path, monkeypatch):
    import textwrap

    import rnnkit.training

    doc = rnnkit.training.__doc__
    example = doc.split("tests/test_training.py runs it)::")[1].split("Classification uses")[0]
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(textwrap.dedent(example), namespace)
    assert namespace["summary"]["step"] == 60
    assert namespace["summary"]["best_val_loss"] < 1.0            # from ln(11) = 2.4 at the start
    assert (tmp_path / "runs" / "hello" / "loss_curve.png").exists()
