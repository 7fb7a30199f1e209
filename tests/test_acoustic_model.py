"""AcousticModel (rnnkit/models/acoustic.py): frame stacking by hand, finite-difference checks of
the whole model with its CTC loss in float64, the torch.nn twin of acoustic_interop.py (logits,
loss and every gradient), SpecAugment inside the model (seeded, inside the lengths, training
only), checkpoints through the Trainer (load and exact resume), a tiny overfit decoded with
rnnkit.ctc_decoding, and bad input."""

import json
from dataclasses import replace

import numpy as np
import pytest
from helpers import GRAD_TOL, TORCH_TOL, model_loss_gradient_errors

import rnnkit
from rnnkit.augment import SpecAugment
from rnnkit.ctc_decoding import ctc_greedy
from rnnkit.gradcheck import numerical_gradient, relative_error
from rnnkit.models import AcousticModel, model_class
from rnnkit.models.acoustic import ctc_min_frames, stack_frames, stack_frames_backward
from rnnkit.optim import Adam
from rnnkit.training import Batch, Seq2SeqBatches, Trainer, load_model

F64 = np.float64
F, C = 3, 5                                     # features; classes: blank 0 and labels 1..4
VARIANTS = [(cell, bidirectional, subsample) for cell in ("gru", "lstm")
            for bidirectional in (True, False) for subsample in (1, 3)]


def _model(cell="gru", bidirectional=True, subsample=1, hidden_size=2, num_layers=2, seed=0, **kwargs):
    return AcousticModel(F, C, hidden_size=hidden_size, num_layers=num_layers, cell=cell,
                         bidirectional=bidirectional, subsample=subsample, dtype=F64, seed=seed, **kwargs)


def _batch(seed=0, lengths=(10, 4, 7), target_lengths=(3, 1, 2), pad=-1):
    """Features (T, B, F) with random values (not zeros) past each length, label ids in [1, C)
    with one repeat in the first transcript (which needs 4 frames), targets (S, B) padded
    with ``pad``."""
    rng = np.random.default_rng(seed)
    lengths, target_lengths = np.array(lengths), np.array(target_lengths)
    x = rng.standard_normal((lengths.max(), len(lengths), F))
    targets = rng.integers(1, C, (target_lengths.max(), len(lengths)))
    targets[1, 0] = targets[0, 0]
    targets[2, 0] = targets[1, 0] % (C - 1) + 1                         # one repeat only
    targets[np.arange(len(targets))[:, None] >= target_lengths] = pad
    return Batch(x, targets, lengths, int(lengths.sum()), target_lengths)


# ------------------------------------------------------------------ frame stacking


def test_stack_frames_by_hand():
    x = np.arange(1, 1 + 5 * 2 * 2, dtype=F64).reshape(5, 2, 2)        # (T=5, B=2, F=2)
    lengths = np.array([5, 3])
    z, out = stack_frames(x, lengths, 2)
    assert z.shape == (3, 2, 4) and out.tolist() == [3, 2]
    f = lambda t, b: x[t, b].tolist() if t < lengths[b] else [0.0, 0.0]   # noqa: E731
    for t in range(3):
        for b in range(2):
            assert z[t, b].tolist() == f(2 * t, b) + f(2 * t + 1, b), (t, b)
    z3, out3 = stack_frames(x, np.array([5, 1]), 3)
    assert z3.shape == (2, 2, 6) and out3.tolist() == [2, 1]
    assert z3[1, 0].tolist() == x[3, 0].tolist() + x[4, 0].tolist() + [0.0, 0.0]   # the tail padded
    assert z3[0, 1].tolist() == x[0, 1].tolist() + [0.0] * 4
    z1, out1 = stack_frames(x, lengths, 1)                               # k = 1: x, 0 past lengths
    assert out1.tolist() == [5, 3] and np.array_equal(z1[:, 0], x[:, 0]) and not z1[3:, 1].any()
    # the backward is the adjoint: <stack(x), dz> = <x, stack_backward(dz)>
    dz = np.random.default_rng(0).standard_normal(z3.shape)
    dx = stack_frames_backward(dz, 5, np.array([5, 1]), 3)
    assert dx.shape == x.shape and not dx[1:, 1].any()
    assert np.isclose((z3 * dz).sum(), (x * dx).sum(), rtol=1e-14)
    assert dx[4, 0].tolist() == dz[1, 0, 2:4].tolist()


def test_output_lengths_and_ctc_min_frames():
    model = _model(subsample=3)
    assert model.output_lengths([1, 3, 4, 9, 10]).tolist() == [1, 1, 2, 3, 4]
    targets = np.array([[1, 1, 2, 2], [3, 4, 3, 0], [2, 2, 0, 0]])       # (B, S), padded with 0
    assert ctc_min_frames(targets, np.array([4, 3, 1])).tolist() == [6, 3, 1]


# ------------------------------------------------------------------ gradients


def _check_gradients(model, batch, before_forward=lambda: None):
    """Every parameter's gradient of the CTC loss and dL/dx, against central differences."""
    errors, loss = model_loss_gradient_errors(model, batch, 1e-5, before_forward)
    # dL/dx from backward(dlogits) of a fresh forward
    logits, out_lengths = model.forward(batch.inputs, batch.lengths)
    model.criterion.forward(logits, batch.targets.T, out_lengths, batch.target_lengths)
    dx = model.backward(model.criterion.backward())
    errors["x"] = relative_error(dx, numerical_gradient(loss, batch.inputs, eps=1e-5))
    assert max(errors.values()) < GRAD_TOL, errors
    return errors


@pytest.mark.parametrize("cell,bidirectional,subsample", VARIANTS)
def test_gradients_two_layers_variable_lengths(cell, bidirectional, subsample):
    model = _model(cell, bidirectional, subsample)
    errors = _check_gradients(model, _batch(seed=subsample))
    assert len(errors) == 1 + 2 + 4 * (2 if bidirectional else 1) * 2     # x, head, rnn


def test_gradients_in_training_mode_with_dropout_and_spec_augment():
    model = _model("lstm", True, 2, dropout=0.3, spec_augment=SpecAugment(1, 1, 1, 3, 1.0))
    batch = _batch(seed=4)
    model.spec_augment_rng = np.random.default_rng(8)
    masked = replace(batch, inputs=model.augment(batch.inputs, batch.lengths))
    assert not np.array_equal(masked.inputs, batch.inputs)              # masks were drawn

    def loss_of_masked():                                                # same dropout masks each time
        model.rnn.dropout_rng = np.random.default_rng(7)
        with rnnkit.no_grad():
            return model.loss(masked)

    model.zero_grad()
    model.spec_augment_rng = np.random.default_rng(8)
    model.rnn.dropout_rng = np.random.default_rng(7)
    value = model.loss_and_backward(batch)                              # masks batch as `masked`
    assert value == pytest.approx(loss_of_masked(), abs=0, rel=1e-14)
    errors = {name: relative_error(p.grad, numerical_gradient(loss_of_masked, p.data, eps=1e-5))
              for name, p in model.named_parameters()}
    assert max(errors.values()) < GRAD_TOL, errors
    with rnnkit.no_grad():
        assert model.eval().loss(masked) != value                       # dropout was on


# ------------------------------------------------------------------ the torch twin


@pytest.mark.parametrize("cell,bidirectional,subsample", VARIANTS)
def test_matches_torch_modules(cell, bidirectional, subsample):
    pytest.importorskip("torch")
    from rnnkit.models.acoustic_interop import from_torch, to_torch

    model = _model(cell, bidirectional, subsample, hidden_size=4, seed=3)
    batch = _batch(seed=5, lengths=(9, 3, 12, 6), target_lengths=(2, 1, 3, 2))
    twin = to_torch(model)
    model.zero_grad()
    loss = model.loss_and_backward(batch)
    with rnnkit.no_grad():
        logits, out_lengths = model.forward(batch.inputs, batch.lengths)
    ref_logits, ref_lengths = twin(batch.inputs, batch.lengths)
    ref_loss = twin.loss(batch)
    ref_loss.backward()
    assert out_lengths.tolist() == ref_lengths.tolist()
    worst = {"logits": float(np.abs(logits - ref_logits.detach().numpy()).max()),
             "loss": abs(loss - ref_loss.item())}
    torch_params = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        worst[name] = float(np.abs(p.grad - torch_params[name].grad.numpy()).max())
    assert len(torch_params) == len(worst) - 2
    assert max(worst.values()) < TORCH_TOL, worst
    assert np.abs(model.head.weight.grad).max() > 1e-3                  # gradients did flow
    back = from_torch(twin)
    for (name, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)


# ------------------------------------------------------------------ SpecAugment in the model


def test_spec_augment_is_seeded_and_stays_inside_each_length():
    settings = SpecAugment(freq_masks=1, freq_width=1, time_masks=2, time_width=4, max_time_fraction=0.5)
    lengths = np.array([20, 6, 13])
    x = np.ones((20, 3, F))
    x[np.arange(20)[:, None] >= lengths] = 7.0                          # padding stands out
    a = _model(spec_augment=settings, seed=11).augment(x, lengths)
    b = _model(spec_augment=settings, seed=11).augment(x, lengths)
    model = _model(spec_augment=settings, seed=12)
    c = model.augment(x, lengths)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(c, model.augment(x, lengths))             # the generator moves on
    assert np.all(x == np.where(np.arange(20)[:, None] < lengths, 1.0, 7.0)[..., None])   # pure
    for out in (a, c):
        for i, n in enumerate(lengths):
            np.testing.assert_array_equal(out[n:, i], x[n:, i])        # past the length: untouched
            rows = np.all(out[:n, i] == 0, axis=1)          # time-masked (a freq mask is 1 of 3 bins)
            edges = np.diff(np.concatenate([[0], rows.astype(int), [0]]))
            assert np.all(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1) <= 2 * min(4, n // 2))
        assert set(np.unique(out)) <= {0.0, 1.0, 7.0}
    assert _model().augment(x, lengths) is x                            # no settings: no copy


def test_spec_augment_only_in_training_loss_and_backward():
    model = _model(spec_augment=SpecAugment(1, 2, 1, 3, 1.0), seed=2)
    batch = _batch(seed=6)
    state = json.dumps(model.spec_augment_rng.bit_generator.state)
    with rnnkit.no_grad():
        clean = model.loss(batch)                                        # evaluation never masks
    assert json.dumps(model.spec_augment_rng.bit_generator.state) == state
    model.eval()
    assert model.loss_and_backward(batch) == clean                      # eval mode: no masks
    assert json.dumps(model.spec_augment_rng.bit_generator.state) == state
    model.train()
    masked = [model.loss_and_backward(batch) for _ in range(3)]
    assert json.dumps(model.spec_augment_rng.bit_generator.state) != state
    assert all(v != clean for v in masked) and len(set(masked)) == 3
    plain = _model(seed=2)
    assert plain.loss_and_backward(batch) == clean                      # without settings: none


# ------------------------------------------------------------------ training and checkpoints


def _utterances(n=6, seed=0, num_features=F):
    """n random feature sequences (12-16 frames) and transcripts of 2-3 labels."""
    rng = np.random.default_rng(seed)
    features = [rng.standard_normal((int(rng.integers(12, 17)), num_features)) for _ in range(n)]
    labels = [rng.integers(1, C, int(rng.integers(2, 4))) for _ in range(n)]
    return features, labels


def _trainer(out_dir, max_steps, seed=0):
    features, labels = _utterances()
    data = Seq2SeqBatches(features, labels, batch_size=3, seed=seed, target_pad_value=0)
    model = _model("gru", True, 2, hidden_size=4, dropout=0.2, spec_augment=SpecAugment(1, 1, 1, 3, 0.5))
    return Trainer(model, Adam(model.parameters(), lr=0.01), data, data, max_steps=max_steps,
                   eval_every=2, checkpoint_every=3, out_dir=out_dir, progress=False)


def test_checkpoint_rebuilds_the_model_and_resume_is_exact(tmp_path):
    assert model_class("AcousticModel") is AcousticModel
    first = _trainer(tmp_path / "a", 3)
    first.fit()
    loaded, meta = load_model(tmp_path / "a" / "checkpoint.npz", which="last")
    assert type(loaded) is AcousticModel and not loaded.training
    assert meta["model"]["config"] == first.model.config()
    assert meta["model"]["config"]["spec_augment"] == {"freq_masks": 1, "freq_width": 1, "time_masks": 1,
                                                       "time_width": 3, "max_time_fraction": 0.5}
    assert sorted(meta["rngs"]) == ["rnn.dropout_rng", "spec_augment_rng"]
    batch = first.train_data.batch(0, 0)
    first.model.eval()
    for a, b in zip(loaded.log_probs(batch.inputs, batch.lengths),
                    first.model.log_probs(batch.inputs, batch.lengths)):
        np.testing.assert_array_equal(a, b)
    # resuming (weights, Adam, the dropout and SpecAugment generators) continues the same run
    resumed = _trainer(tmp_path / "a", 6)
    resumed.fit(resume=True)
    reference = _trainer(tmp_path / "b", 6)
    reference.fit()
    assert resumed.step == reference.step == 6
    for (name, a), (_, b) in zip(reference.model.state_dict().items(), resumed.model.state_dict().items()):
        assert np.array_equal(a, b), name                                # bit for bit


def test_overfits_a_few_utterances_and_greedy_decoding_reads_them_back():
    features, labels = _utterances(n=4, seed=1, num_features=8)
    data = Seq2SeqBatches(features, labels, batch_size=4, shuffle=False)
    batch = data.batch(0, 0)
    model = AcousticModel(8, C, hidden_size=16, num_layers=1, subsample=2, dtype=F64, seed=0)
    optimizer = Adam(model.parameters(), lr=0.03)
    for _ in range(150):
        model.zero_grad()
        loss = model.loss_and_backward(batch)
        optimizer.step()
    assert loss < 0.05, loss
    log_probs, out_lengths = model.eval().log_probs(batch.inputs, batch.lengths)
    decoded = ctc_greedy(log_probs, out_lengths, blank=0)
    wanted = [batch.targets[:n, b].tolist() for b, n in enumerate(batch.target_lengths)]
    assert decoded == wanted


# ------------------------------------------------------------------ config and bad input


def test_config_is_json_and_rebuilds_the_same_weights():
    model = AcousticModel(40, 29, spec_augment=SpecAugment(), seed=9)
    config = json.loads(json.dumps(model.config()))
    again = AcousticModel(**config)
    assert again.config() == model.config() and again.spec_augment == SpecAugment()
    assert again.dtype == np.float32 and again.rnn.input_size == 80 and again.head.weight.shape == (29, 256)
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert "AcousticModel(40 -> 29, cell='gru'" in repr(model)


def test_bad_input_is_refused_with_the_argument_named():
    model = _model(subsample=3)
    batch = _batch()
    x, lengths = batch.inputs, batch.lengths
    with pytest.raises(ValueError, match=r"x must have shape \(T, B, num_features=3\), got \(10, 3, 4\)"):
        model.forward(np.zeros((10, 3, 4)), lengths)
    with pytest.raises(TypeError, match="x must have dtype float64 .*got float32"):
        model.forward(x.astype(np.float32), lengths)
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T=10\], got min 4 and max 11"):
        model.forward(x, np.array([11, 4, 7]))
    with pytest.raises(ValueError, match=r"lengths must have shape \(B=3,\), got \(2,\)"):
        model.forward(x, np.array([10, 4]))
    with pytest.raises(ValueError, match=r"batch.inputs must have shape \(T, B, num_features=3\)"):
        model.loss(replace(batch, inputs=np.zeros((10, 3, 2))))
    with pytest.raises(ValueError, match=r"batch.lengths must lie in \[1, T=10\]"):
        model.loss(replace(batch, lengths=np.array([0, 4, 7])))
    with pytest.raises(ValueError, match=r"batch.targets must be integer label ids of shape \(S, B=3\) "
                                         r"\(time-major, padded\), got shape \(3, 2\)"):
        model.loss(replace(batch, targets=batch.targets[:, :2]))
    with pytest.raises(ValueError, match=r"batch.target_lengths must lie in \[0, S=3\]"):
        model.loss(replace(batch, target_lengths=np.array([4, 1, 1])))
    with pytest.raises(ValueError, match="targets must not contain the blank index 0"):
        model.loss(replace(batch, targets=np.where(np.arange(3)[None, :] == 1, 0, batch.targets)))
    # 4 frames -> 2 after subsample=3; labels [a, a] need 3 (a blank between the repeat)
    short = _batch(lengths=(10, 4, 7), target_lengths=(3, 2, 2))
    short.targets[:2, 1] = 2
    with pytest.raises(ValueError, match=r"utterance 1 of the batch is too short for its transcript: 4 frames, "
                                         r"2 after subsample=3, but its 2 labels need at least 3 for CTC "
                                         r"\(1 such in this batch\); drop them or lower subsample"):
        model.loss_and_backward(short)
    with pytest.raises(ValueError, match="AcousticModel.backward called before forward"):
        _model(subsample=3).backward(np.zeros((4, 3, C)))
    model.forward(x, lengths)
    with pytest.raises(ValueError, match=r"dlogits must have shape \(T'=4, B=3, num_classes=5\), got \(4, 3, 4\)"):
        model.backward(np.zeros((4, 3, 4)))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match=r"num_classes must be an integer >= 2 \(the blank and at least one label\), got 1"):
        AcousticModel(3, 1)
    with pytest.raises(ValueError, match=r"blank must be an integer in \[0, 4\], got 5"):
        AcousticModel(3, 5, blank=5)
    with pytest.raises(ValueError, match="subsample must be a positive integer, got 0"):
        AcousticModel(3, 5, subsample=0)
    with pytest.raises(ValueError, match="cell must be one of"):
        AcousticModel(3, 5, cell="transformer")
    with pytest.raises(ValueError, match="spec_augment.freq_width must be <= num_features=3, got 13"):
        AcousticModel(3, 5, spec_augment=SpecAugment())
    with pytest.raises(TypeError, match="spec_augment must be a rnnkit.augment.SpecAugment, its to_dict"):
        AcousticModel(3, 5, spec_augment=True)
    pytest.importorskip("torch")
    from rnnkit.models.acoustic_interop import to_torch
    with pytest.raises(ValueError, match="cell 'lnlstm' has no torch.nn twin"):
        to_torch(AcousticModel(3, 5, cell="lnlstm"))
    with pytest.raises(TypeError, match="to_torch expects an AcousticModel, got Seq2Seq"):
        from rnnkit.seq2seq import Seq2Seq
        to_torch(Seq2Seq(5, 5))
