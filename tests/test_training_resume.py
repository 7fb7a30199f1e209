"""Checkpoints of the Trainer: kill-and-resume is bit-exact (float64), and a truncated,
corrupted or mismatching checkpoint is refused before anything is loaded."""

import importlib.util
import json
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from rnnkit.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from rnnkit.models import LanguageModel
from rnnkit.optim import SGD, Adam
from rnnkit.training import TokenStream, Trainer, checkpoint_meta, load_model

# One module builds the run, so the killed subprocess and this process train the same thing.
RUN_SCRIPT = textwrap.dedent('''
    import os, signal, sys
    import numpy as np
    from rnnkit.models import LanguageModel, SequenceClassifier
    from rnnkit.optim import Adam, RMSprop, WarmupCosine
    from rnnkit.training import SequenceBatches, TokenStream, Trainer

    def build(kind, out_dir, max_steps, kill_at=None):
        rng = np.random.default_rng(0)
        def on_step(trainer, record):
            if trainer.step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        common = dict(max_steps=max_steps, eval_every=3, patience=50, clip_grad_norm=0.5,
                      out_dir=out_dir, checkpoint_every=4, log_every=1, progress=False,
                      on_step=on_step, extra={"vocab": list("abcdef")})
        if kind == "lm":
            tokens = rng.integers(0, 6, 400)
            model = LanguageModel(6, 5, 7, num_layers=2, cell="lstm", dropout=0.3,
                                  dtype=np.float64, seed=1)
            opt = Adam(model.parameters(), lr=0.02)
            return Trainer(model, opt, TokenStream(tokens[:330], 3, 9), TokenStream(tokens[330:], 2, 9),
                           schedule=WarmupCosine(0.02, 3, 30), **common)
        seqs = [rng.standard_normal((n, 3)) for n in rng.integers(1, 7, 40)]
        labels = rng.integers(0, 3, 40)
        model = SequenceClassifier(3, input_size=3, hidden_size=5, num_layers=2, cell="gru",
                                   bidirectional=True, dropout=0.25, pooling="mean",
                                   dtype=np.float64, seed=2)
        opt = RMSprop(model.parameters(), lr=0.01, momentum=0.5)
        return Trainer(model, opt, SequenceBatches(seqs, labels, 6, seed=3),
                       SequenceBatches(seqs[:12], labels[:12], 6, shuffle=False), **common)

    if __name__ == "__main__":
        kind, out_dir, max_steps, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        build(kind, out_dir, max_steps, kill_at).fit()
''')


@pytest.fixture
def run_module(tmp_path):
    path = tmp_path / "run_script.py"
    path.write_text(RUN_SCRIPT)
    spec = importlib.util.spec_from_file_location("run_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, path


@pytest.mark.parametrize("kind", ["lm", "classifier"])
def test_sigkill_between_checkpoints_then_resume_is_bit_exact(tmp_path, run_module, kind):
    module, script = run_module
    N, kill_at = 14, 10                                  # checkpoints at 4 and 8; killed at 10
    killed = tmp_path / "killed"
    proc = subprocess.run([sys.executable, str(script), kind, str(killed), str(N), str(kill_at)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert checkpoint_meta(killed / "checkpoint.npz")["trainer"]["step"] == 8
    logged = [json.loads(line)["step"] for line in open(killed / "metrics.jsonl")]
    assert logged[-1] == kill_at                          # the lost steps 9 and 10 were logged

    resumed = module.build(kind, killed, N)
    summary = resumed.fit(resume=True)
    reference = module.build(kind, tmp_path / "reference", N)
    reference.fit()

    assert summary["step"] == N
    for (name, a), (_, b) in zip(reference.model.state_dict().items(),
                                 resumed.model.state_dict().items()):
        assert np.array_equal(a, b), name                 # bit for bit
    for (name, a), (_, b) in zip(reference.best_state_dict().items(),
                                 resumed.best_state_dict().items()):
        assert np.array_equal(a, b), name
    ref_opt, res_opt = reference.optimizer.state_dict(), resumed.optimizer.state_dict()
    assert ref_opt["meta"] == res_opt["meta"]
    for key in ref_opt["arrays"]:
        assert np.array_equal(ref_opt["arrays"][key], res_opt["arrays"][key]), key
    assert resumed.best_val_loss == reference.best_val_loss
    assert resumed.extra == {"vocab": list("abcdef")}
    # the log reads as one run: steps 1..N once each, identical losses
    steps = [json.loads(line)["step"] for line in open(killed / "metrics.jsonl")]
    assert steps == list(range(1, N + 1))
    losses = [json.loads(line)["train_loss"] for line in open(killed / "metrics.jsonl")]
    ref_losses = [json.loads(line)["train_loss"] for line in open(tmp_path / "reference" / "metrics.jsonl")]
    assert losses[8:] == ref_losses[8:]


def test_resume_in_process_continues_the_carried_state(tmp_path, run_module):
    module, _ = run_module
    first = module.build("lm", tmp_path / "a", 5)
    first.fit()
    assert checkpoint_meta(tmp_path / "a" / "checkpoint.npz")["carry"] == {"parts": 2, "tuple": True}
    second = module.build("lm", tmp_path / "a", 5)
    second.restore(tmp_path / "a" / "checkpoint.npz")
    for a, b in zip(first.carry, second.carry):
        assert np.array_equal(a, b)
    assert second.step == 5 and second.batch_index == first.batch_index


# ------------------------------------------------------------------ refusal, never half-loaded


def _small_run(tmp_path, hidden=6, optimizer=Adam, tokens_seed=0, steps=3):
    tokens = np.random.default_rng(tokens_seed).integers(0, 5, 200)
    model = LanguageModel(5, 3, hidden, dtype=np.float64, seed=0)
    opt = optimizer(model.parameters(), lr=0.05)
    return Trainer(model, opt, TokenStream(tokens, 2, 6), max_steps=steps, out_dir=tmp_path,
                   progress=False)


def _snapshot(trainer):
    return (trainer.model.state_dict(), trainer.optimizer.state_dict(), trainer.step, trainer.carry)


def _assert_unchanged(trainer, snapshot):
    weights, optim, step, carry = snapshot
    for name, value in trainer.model.state_dict().items():
        assert np.array_equal(value, weights[name]), name
    now = trainer.optimizer.state_dict()
    assert now["meta"] == optim["meta"]
    assert all(np.array_equal(now["arrays"][k], v) for k, v in optim["arrays"].items())
    assert trainer.step == step and trainer.carry is carry


@pytest.fixture
def saved(tmp_path):
    _small_run(tmp_path / "src").fit()
    return tmp_path / "src" / "checkpoint.npz"


def test_truncated_checkpoint_is_refused(tmp_path, saved):
    data = saved.read_bytes()
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(data[: len(data) // 2])
    target = _small_run(tmp_path / "t")
    before = _snapshot(target)
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        target.restore(bad)
    _assert_unchanged(target, before)
    with pytest.raises(CheckpointError):
        load_model(bad)


def test_corrupted_checkpoint_is_refused(tmp_path, saved):
    data = bytearray(saved.read_bytes())
    arrays, _ = load_checkpoint(saved)
    weight = arrays["model/decoder.weight"]
    offset = bytes(data).find(weight.tobytes())        # flip one bit inside the stored weights
    assert offset > 0
    data[offset + 3] ^= 0x10
    bad = tmp_path / "corrupted.npz"
    bad.write_bytes(bytes(data))
    target = _small_run(tmp_path / "t")
    before = _snapshot(target)
    with pytest.raises(CheckpointError, match="corrupted|CRC|Bad"):
        target.restore(bad)
    _assert_unchanged(target, before)


def test_wrong_architecture_is_refused_with_the_field_named(tmp_path, saved):
    target = _small_run(tmp_path / "t", hidden=9)
    before = _snapshot(target)
    with pytest.raises(CheckpointError, match="checkpoint has hidden_size=6, model has 9"):
        target.restore(saved)
    _assert_unchanged(target, before)


def test_mismatching_optimizer_or_data_is_refused_before_anything_loads(tmp_path, saved):
    target = _small_run(tmp_path / "t", optimizer=SGD)
    before = _snapshot(target)
    with pytest.raises(CheckpointError, match="optimizer state does not fit.*'Adam', expected 'SGD'"):
        target.restore(saved)
    _assert_unchanged(target, before)                    # weights were checked, not yet written
    other_data = _small_run(tmp_path / "d", tokens_seed=1)
    before = _snapshot(other_data)
    with pytest.raises(CheckpointError, match="trained on different data"):
        other_data.restore(saved)
    _assert_unchanged(other_data, before)


def test_tampered_array_shape_with_valid_digest_is_refused(tmp_path, saved):
    arrays, meta = load_checkpoint(saved)
    arrays["model/decoder.bias"] = np.zeros(7)           # rewritten consistently: digest is valid
    forged = tmp_path / "forged.npz"
    save_checkpoint(forged, arrays, meta)
    target = _small_run(tmp_path / "t")
    before = _snapshot(target)
    with pytest.raises(CheckpointError, match=r"decoder.bias: checkpoint has float64\[7\], model has float64\[5\]"):
        target.restore(forged)
    _assert_unchanged(target, before)


@pytest.mark.parametrize("forge,message", [
    (lambda m: m["position"].update(index=10**6), "is outside the training data"),
    (lambda m: m["trainer"].pop("step"), "invalid trainer state: KeyError"),
    (lambda m: m.update(model=[1]), r"meta\['model'\] is missing or malformed"),
    (lambda m: m["rngs"].popitem(), "has random generators"),
    (lambda m: m.update(scheduler={"step_count": 1}), "saved with an LR schedule"),
])
def test_malformed_meta_is_refused_before_anything_loads(tmp_path, saved, forge, message):
    arrays, meta = load_checkpoint(saved)
    forge(meta)
    forged = tmp_path / "forged.npz"
    save_checkpoint(forged, arrays, meta)
    target = _small_run(tmp_path / "t")
    before = _snapshot(target)
    with pytest.raises(CheckpointError, match=message):
        target.restore(forged)
    _assert_unchanged(target, before)


def test_plain_checkpoint_and_missing_file_are_refused(tmp_path):
    plain = tmp_path / "plain.npz"
    save_checkpoint(plain, {"w": np.zeros(2)}, {"hello": 1})
    with pytest.raises(CheckpointError, match="not an rnnkit trainer checkpoint"):
        load_model(plain)
    target = _small_run(tmp_path / "t")
    with pytest.raises(CheckpointError, match="does not exist"):
        target.fit(resume=True)
    assert target.step == 0
