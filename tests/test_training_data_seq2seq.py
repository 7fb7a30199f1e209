"""Sequence-pair batches (translation, CTC): each side padded on its own, seeded order,
exact resume, ModelLoss in the Trainer, and bad input."""

import numpy as np
import pytest

from rnnkit.module import Module, Parameter
from rnnkit.optim import SGD
from rnnkit.training import (
    CheckpointError, ModelLoss, Seq2SeqBatches, SequenceBatches, Supervised, Trainer,
)
from rnnkit.training.objectives import default_objective

SOURCES = [np.array([1, 2, 3]), np.array([4]), np.array([5, 6])]
TARGETS = [np.array([7]), np.array([8, 9, 10]), np.array([11, 12])]


def pairs(n=11, seed=0):
    """Sources (L, 2) features; targets[n] = 0, 1, ..., L (mod 4), one longer than its source."""
    rng = np.random.default_rng(seed)
    sources = [rng.standard_normal((int(L), 2)) for L in rng.integers(1, 6, n)]
    targets = [np.arange(len(s) + 1) % 4 for s in sources]          # lengths 2 .. 6
    return sources, targets


def test_each_side_is_padded_to_its_own_longest_sequence():
    data = Seq2SeqBatches(SOURCES, TARGETS, batch_size=2, shuffle=False, target_pad_value=-1)
    first = data.batch(0, 0)
    np.testing.assert_array_equal(first.inputs, [[1, 4], [2, 0], [3, 0]])          # (T=3, B=2)
    np.testing.assert_array_equal(first.lengths, [3, 1])
    np.testing.assert_array_equal(first.targets, [[7, 8], [-1, 9], [-1, 10]])     # (S=3, B=2)
    np.testing.assert_array_equal(first.target_lengths, [1, 3])
    assert first.targets.dtype == np.int64 and first.num_tokens == 4
    last = data.batch(0, 1)
    np.testing.assert_array_equal(last.inputs, [[5], [6]])
    np.testing.assert_array_equal(last.targets, [[11], [12]])
    assert data.num_batches == len(data) == 2 and last.num_tokens == 2
    assert len(list(data)) == 2


def test_feature_sources_keep_their_pairs_in_every_shuffled_batch():
    sources, targets = pairs()
    data = Seq2SeqBatches(sources, targets, batch_size=4, seed=3, pad_value=9.0)
    for epoch in range(3):
        seen = []
        for index in range(data.num_batches):
            batch = data.batch(epoch, index)
            chosen = data.order(epoch)[index * 4:(index + 1) * 4]
            assert batch.inputs.shape == (batch.lengths.max(), len(chosen), 2)
            for col, n in enumerate(chosen):
                L, S = batch.lengths[col], batch.target_lengths[col]
                np.testing.assert_array_equal(batch.inputs[:L, col], sources[n])
                assert np.all(batch.inputs[L:, col] == 9.0)
                np.testing.assert_array_equal(batch.targets[:S, col], targets[n])
                assert np.all(batch.targets[S:, col] == 0) and S == L + 1
            seen.extend(chosen)
        assert sorted(seen) == list(range(11))


def test_order_is_seeded_per_epoch_like_sequence_batches():
    sources, targets = pairs()
    data = Seq2SeqBatches(sources, targets, batch_size=3, seed=5)
    twin = SequenceBatches(sources, np.arange(11), batch_size=3, seed=5)
    for epoch in range(4):
        np.testing.assert_array_equal(data.order(epoch), twin.order(epoch))
    assert not np.array_equal(data.order(0), data.order(1))
    assert not np.array_equal(data.order(0), Seq2SeqBatches(sources, targets, 3, seed=6).order(0))
    np.testing.assert_array_equal(Seq2SeqBatches(sources, targets, 3, shuffle=False).order(2),
                                  np.arange(11))
    assert Seq2SeqBatches(sources, targets, 3, drop_last=True).num_batches == 3


def test_a_fresh_loader_continues_from_a_saved_position():
    sources, targets = pairs()
    data = Seq2SeqBatches(sources, targets, batch_size=4, seed=1)
    run = [(e, i, data.batch(e, i)) for e in range(3) for i in range(data.num_batches)]
    position = (1, 2)                                          # (epoch, index) of a checkpoint
    fresh = Seq2SeqBatches(pairs()[0], pairs()[1], batch_size=4, seed=1)
    assert fresh.describe() == data.describe()
    resumed = [(e, i) for e, i, _ in run if (e, i) >= position]
    assert len(resumed) == 4
    for e, i, batch in run:
        if (e, i) >= position:
            again = fresh.batch(e, i)
            for field in ("inputs", "lengths", "targets", "target_lengths"):
                np.testing.assert_array_equal(getattr(again, field), getattr(batch, field))
    other = Seq2SeqBatches(sources, [t[::-1] for t in targets], batch_size=4, seed=1)
    assert other.describe()["sha256"] != data.describe()["sha256"]


# ------------------------------------------------------------------ the Trainer


class TargetUnigram(Module):
    """A toy model with its own loss: -mean log softmax(w)[y] over the valid target tokens."""

    def __init__(self, vocab_size):
        self.w = Parameter(np.zeros(vocab_size))

    def _valid_targets(self, batch):
        S = batch.targets.shape[0]
        return batch.targets[np.arange(S)[:, None] < batch.target_lengths[None, :]]

    def loss(self, batch):
        z = self.w.data - self.w.data.max()
        return float(-(z - np.log(np.exp(z).sum()))[self._valid_targets(batch)].mean())

    def loss_and_backward(self, batch):
        y = self._valid_targets(batch)
        p = np.exp(self.w.data - self.w.data.max())
        self.w.grad += p / p.sum() - np.bincount(y, minlength=len(p)) / len(y)
        return self.loss(batch)


def _trainer(data, out_dir=None, max_steps=60):
    model = TargetUnigram(4)
    return Trainer(model, SGD(model.parameters(), lr=1.0), data, data, max_steps=max_steps,
                   eval_every=20, out_dir=out_dir, checkpoint_every=3, progress=False)


def test_trainer_runs_model_loss_on_sequence_pairs():
    sources, targets = pairs(40)
    data = Seq2SeqBatches(sources, targets, batch_size=8, seed=0)
    assert isinstance(default_objective(data), ModelLoss)
    trainer = _trainer(data)
    summary = trainer.fit()
    assert isinstance(trainer.objective, ModelLoss)
    counts = np.bincount(np.concatenate(targets), minlength=4)
    freq = counts / counts.sum()
    p = np.exp(trainer.model.w.data) / np.exp(trainer.model.w.data).sum()
    np.testing.assert_allclose(p, freq, atol=0.03)                 # the unigram of the targets
    assert summary["best_val_loss"] == pytest.approx(-(freq * np.log(freq)).sum(), abs=0.01)
    assert summary["tokens_seen"] == 60 // 5 * sum(len(s) for s in sources)    # 12 epochs
    plain = Module()
    plain.w = Parameter(np.zeros(4))                               # no loss_and_backward
    with pytest.raises(TypeError, match="Module has no loss_and_backward"):
        Trainer(plain, SGD(plain.parameters(), lr=0.1), data, max_steps=1, progress=False).fit()
    assert isinstance(default_objective(SequenceBatches(sources, np.zeros(40, int), 8)), Supervised)


def test_trainer_resumes_sequence_pairs_exactly(tmp_path):
    sources, targets = pairs(23)
    straight = _trainer(Seq2SeqBatches(sources, targets, 4, seed=2), max_steps=13)
    straight.fit()
    first = _trainer(Seq2SeqBatches(sources, targets, 4, seed=2), tmp_path / "run", max_steps=7)
    first.fit()
    second = _trainer(Seq2SeqBatches(sources, targets, 4, seed=2), tmp_path / "run", max_steps=13)
    second.fit(resume=True)
    assert second.step == 13 and (second.epoch, second.batch_index) == (2, 1)
    np.testing.assert_array_equal(second.model.w.data, straight.model.w.data)
    changed = _trainer(Seq2SeqBatches(sources, [t + 1 for t in targets], 4, seed=2),
                       tmp_path / "run", max_steps=20)
    with pytest.raises(CheckpointError, match="different data"):
        changed.fit(resume=True)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("sources, targets, error, message", [
    (SOURCES, TARGETS[:2], ValueError, "sources has 3 sequences but targets has 2"),
    ([], [], ValueError, "sources is empty"),
    ([np.array([1]), np.array([], int)], TARGETS[:2], ValueError,
     r"sources\[1\] must have shape \(L,\) or \(L, D\) with L >= 1, got \(0,\)"),
    (SOURCES, [np.array([1]), np.array([], int), np.array([2])], ValueError,
     r"targets\[1\] must have shape \(L,\) or \(L, D\) with L >= 1"),
    (SOURCES, [t.astype(float) for t in TARGETS], TypeError,
     "targets must be 1-D integer arrays"),
    (SOURCES, [np.zeros((2, 2), int)] * 3, TypeError, r"targets must be 1-D .* got shape \(2, 2\)"),
    ([np.array(["a", "b"])], [np.array([1])], TypeError,
     "sources must hold integer ids or float features"),
    ([np.zeros((2, 3)), np.zeros((2, 4))], TARGETS[:2], ValueError, r"sources\[1\] has shape"),
])
def test_bad_pairs_are_refused_with_the_argument_named(sources, targets, error, message):
    with pytest.raises(error, match=message):
        Seq2SeqBatches(sources, targets, batch_size=2)


def test_bad_loader_settings():
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        Seq2SeqBatches(SOURCES, TARGETS, batch_size=0)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        Seq2SeqBatches(SOURCES, TARGETS, batch_size=2, seed=-1)
    with pytest.raises(ValueError, match="target_pad_value must be an integer"):
        Seq2SeqBatches(SOURCES, TARGETS, batch_size=2, target_pad_value=0.5)
    with pytest.raises(ValueError, match="3 sequences make no batch of batch_size=4"):
        Seq2SeqBatches(SOURCES, TARGETS, batch_size=4, drop_last=True)
    with pytest.raises(IndexError, match=r"index must lie in \[0, 2\)"):
        Seq2SeqBatches(SOURCES, TARGETS, batch_size=2).batch(0, 2)
