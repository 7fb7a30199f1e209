"""rnnkit/models/piano_roll.py and rnnkit/music.py: the piano-roll model's gradients (both
outputs, variable lengths, dropout), its torch twin, the likelihood being a distribution,
the exact NLL per step, sampling, and a tiny piece learned end to end."""

import itertools

import numpy as np
import pytest

import rnnkit
from rnnkit.errors import InputError
from rnnkit.models.piano_roll import PianoRollModel
from rnnkit.music import MusicConfig, nll_per_step, train_music
from rnnkit.training import SequenceBatches
from rnnkit.training.objectives import ModelLoss

from helpers import GRAD_TOL, TORCH_TOL, model_loss_gradient_errors

P = 6
VARIANTS = [("gru", "bernoulli"), ("lstm", "bernoulli"), ("gru", "nade"), ("rnn", "nade")]


def _model(cell="gru", output="bernoulli", **kw):
    kw = dict(dict(hidden_size=5, num_layers=2, nade_hidden=4, seed=1, dtype=np.float64), **kw)
    return PianoRollModel(P, cell=cell, output=output, **kw)


def _rolls(lengths=(5, 2, 4), seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.random((n, P)) < 0.4).astype(np.float64) for n in lengths]


def _batch(lengths=(5, 2, 4), seed=0):
    rolls = _rolls(lengths, seed)
    return SequenceBatches(rolls, np.zeros(len(rolls)), len(rolls), shuffle=False).batch(0, 0)


# ------------------------------------------------------------------ gradients


@pytest.mark.parametrize("cell,output", VARIANTS)
def test_gradients_two_layers_variable_lengths(cell, output):
    model = _model(cell, output)
    errors, _ = model_loss_gradient_errors(model, _batch(), 1e-5)
    assert max(errors.values()) < GRAD_TOL, errors
    heads = 2 if output == "bernoulli" else 4 + 2                        # Linear(s) + NADE W, V
    gates = {"gru": 4, "lstm": 4, "rnn": 4}[cell]
    assert len(errors) == 2 * gates + heads


def test_gradients_in_training_mode_with_dropout():
    model = _model("gru", "nade", dropout=0.3)
    batch = _batch(seed=3)

    def reset():                                                         # the same masks each time
        model.rnn.dropout_rng = np.random.default_rng(7)
        model.output_dropout.rng = np.random.default_rng(8)

    errors, loss = model_loss_gradient_errors(model, batch, 1e-5, reset)
    assert max(errors.values()) < GRAD_TOL, errors
    in_training = loss()
    with rnnkit.no_grad():
        assert model.eval().loss(batch) != pytest.approx(in_training, rel=1e-6)   # dropout was on


def test_input_dropout_hides_notes_in_training_only_and_keeps_gradients_right():
    model = _model("gru", "bernoulli", input_dropout=0.4)
    batch = _batch(seed=4)

    def reset():
        model.in_dropout.rng = np.random.default_rng(9)

    errors, loss = model_loss_gradient_errors(model, batch, 1e-5, reset)
    assert max(errors.values()) < GRAD_TOL, errors
    in_training = loss()
    plain = _model("gru", "bernoulli")                                   # the same weights
    with rnnkit.no_grad():
        assert model.eval().loss(batch) == pytest.approx(plain.eval().loss(batch), rel=1e-12)
    assert in_training != pytest.approx(model.loss(batch), rel=1e-6)
    assert PianoRollModel(**model.config()).input_dropout == 0.4
    with pytest.raises(InputError, match="input_dropout"):
        _model("gru", "bernoulli", input_dropout=1.0)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_weight_drop_masks_the_recurrent_weights_per_batch_in_training_only(cell):
    model = _model(cell, "bernoulli", weight_drop=0.5)
    batch = _batch(seed=5)

    def reset():
        model.weight_drop_rng = np.random.default_rng(11)

    before = model.state_dict()
    errors, loss = model_loss_gradient_errors(model, batch, 1e-5, reset)
    assert max(errors.values()) < GRAD_TOL, errors
    assert all(np.array_equal(v, model.state_dict()[k]) for k, v in before.items())  # restored
    model.zero_grad()
    reset()
    model.loss_and_backward(batch)
    reset()
    masks = model._weight_masks()                                        # the masks just used
    assert len(masks) == 2 and 0.3 < np.mean(masks[0] == 0) < 0.7
    for p, mask in zip(model._recurrent_weights(), masks):
        assert np.all(p.grad[mask == 0] == 0) and np.any(p.grad[mask > 0] != 0)
    in_training = loss()
    plain = _model(cell, "bernoulli")                                    # the same weights
    with rnnkit.no_grad():
        assert model.eval().loss(batch) == pytest.approx(plain.eval().loss(batch), rel=1e-12)
    assert in_training != pytest.approx(model.loss(batch), rel=1e-6)
    assert PianoRollModel(**model.config()).weight_drop == 0.5
    with pytest.raises(InputError, match="weight_drop"):
        _model(cell, "bernoulli", weight_drop=1.0)


def test_padding_past_a_length_changes_nothing():
    model = _model("lstm", "nade")
    batch = _batch()
    noisy = batch.inputs.copy()
    noisy[2:, 1] = 1.0                                                   # piece 1 has 2 steps
    with rnnkit.no_grad():
        nll = model.step_nll(batch.inputs, batch.lengths)
        assert np.array_equal(nll, model.step_nll(noisy, batch.lengths))
    assert np.all(nll[2:, 1] == 0) and np.all(nll[:2, 1] > 0)


# ------------------------------------------------------------------ a distribution


@pytest.mark.parametrize("output", ["bernoulli", "nade"])
def test_every_step_is_a_distribution_over_all_pitch_sets(output):
    """exp(-nll) of a step, summed over the 2^P sets it could hold, is 1 (same history)."""
    model = _model("gru", output)
    history = _rolls((3,), seed=2)[0]                                    # (3, P)
    candidates = np.array(list(itertools.product([0.0, 1.0], repeat=P)))  # (64, P)
    rolls = np.repeat(history[:, None, :], len(candidates), axis=1)       # (3, 64, P)
    rolls[-1] = candidates                                              # the last step varies
    with rnnkit.no_grad():
        nll = model.step_nll(rolls)                                      # (3, 64)
    assert np.exp(-nll[-1]).sum() == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(nll[:-1], nll[:-1, :1])                           # history the same


def test_nll_per_step_averages_over_every_step_of_the_set():
    model = _model("gru", "nade")
    rolls = _rolls((7, 1, 3), seed=4)
    with rnnkit.no_grad():
        per_piece = [model.step_nll(r[:, None, :]).sum() for r in rolls]
    expected = sum(per_piece) / 11
    assert nll_per_step(model, rolls, batch_size=2) == pytest.approx(expected, rel=1e-13)
    data = SequenceBatches(rolls, np.zeros(3), 2, shuffle=False)
    assert ModelLoss().evaluate(model, data)["loss"] == pytest.approx(expected, rel=1e-13)


# ------------------------------------------------------------------ the torch twin


@pytest.mark.parametrize("cell,output", VARIANTS)
def test_matches_torch_twin(cell, output):
    torch = pytest.importorskip("torch")
    from rnnkit.models.piano_roll_interop import to_torch

    model = _model(cell, output, seed=3)
    batch = _batch(lengths=(6, 3, 5, 1), seed=5)
    twin = to_torch(model)
    model.zero_grad()
    loss = model.loss_and_backward(batch)
    twin_loss = twin.loss(batch)
    twin_loss.backward()
    assert abs(loss - twin_loss.item()) < TORCH_TOL
    with torch.no_grad():
        twin_nll = twin.step_nll(batch.inputs, batch.lengths).numpy()
    with rnnkit.no_grad():
        assert np.abs(model.step_nll(batch.inputs, batch.lengths) - twin_nll).max() < TORCH_TOL
    params = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        assert np.abs(p.grad - params[name].grad.numpy()).max() < TORCH_TOL, name


# ------------------------------------------------------------------ sampling


@pytest.mark.parametrize("output", ["bernoulli", "nade"])
def test_sampling_is_seeded_and_continues_a_prime(output):
    model = _model("gru", output, dtype=np.float32)
    first = model.sample(12, np.random.default_rng(3))
    assert first.shape == (12, P) and first.dtype == np.uint8 and set(np.unique(first)) <= {0, 1}
    assert np.array_equal(first, model.sample(12, np.random.default_rng(3)))
    assert not np.array_equal(first, model.sample(12, np.random.default_rng(4)))
    prime = _rolls((4,), seed=6)[0]
    primed = model.sample(5, np.random.default_rng(3), prime=prime)
    assert primed.shape == (5, P) and model.training                     # mode restored


def test_sampling_draws_what_the_model_predicts():
    """The first step from silence: sampled pitch frequencies match p(v_0) of the model."""
    model = _model("gru", "bernoulli")
    model.eval()
    with rnnkit.no_grad():
        z = model.head.forward(model.rnn.forward(np.zeros((1, 1, P)))[0])[0, 0]
    p = 1 / (1 + np.exp(-z))
    draws = np.array([model.sample(1, np.random.default_rng(s))[0] for s in range(2000)])
    assert np.abs(draws.mean(axis=0) - p).max() < 0.04                   # 2000 draws: sd <= 0.011
    sure = model.sample(1, np.random.default_rng(0), threshold=0.5)[0]
    assert np.array_equal(sure, (p >= 0.5).astype(np.uint8))


def test_sample_and_input_errors():
    model = _model("gru", "nade")
    with pytest.raises(ValueError, match="threshold applies to output='bernoulli' only"):
        model.sample(3, np.random.default_rng(0), threshold=0.5)
    with pytest.raises(ValueError, match=r"prime must be a piano roll of shape \(T, num_pitches=6\)"):
        model.sample(3, np.random.default_rng(0), prime=np.zeros((4, 5)))
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        model.sample(3, 0)
    with pytest.raises(ValueError, match="must hold only 0 and 1"):
        model.step_nll(np.full((2, 1, P), 0.5))
    with pytest.raises(ValueError, match="output must be one of"):
        PianoRollModel(P, output="softmax")


# ------------------------------------------------------------------ end to end


@pytest.mark.parametrize("output", ["bernoulli", "nade"])
def test_a_repeating_phrase_is_learned_and_sampled_back(output, tmp_path):
    """Four chords over and over: the model learns them (NLL near 0 after the first bars)
    and, sampling at a low temperature after two bars, plays them on."""
    chords = np.zeros((4, P), np.uint8)
    for t, notes in enumerate([(0, 2, 4), (1, 3), (2, 5), (0, 3, 5)]):
        chords[t, list(notes)] = 1
    piece = np.tile(chords, (6, 1))                                      # (24, P)
    config = MusicConfig(hidden_size=16, nade_hidden=8, output=output, dropout=0.0,
                         batch_size=2, lr=0.02, epochs=150, patience=None, seed=0)
    trained, summary = train_music([piece, piece[4:]], [], config, tmp_path, progress=False)
    assert summary["step"] == 150
    with rnnkit.no_grad():
        nll = trained.model.step_nll(piece[:, None, :].astype(np.float32))[:, 0]   # (24,)
    assert nll[8:].max() < 0.05                                          # nats per step
    continued = trained.sample(8, seed=1, prime=piece[:8], temperature=0.3)
    assert np.array_equal(continued, piece[8:16])
    again = rnnkit.music.load_music_model(tmp_path / "checkpoint.npz")
    assert again.nll([piece]) == pytest.approx(trained.nll([piece]), rel=1e-6)


def test_transposed_batches_shift_within_the_keyboard_and_are_seeded():
    from rnnkit.music import transposed_batches

    roll = np.zeros((3, P))
    roll[:, 1] = roll[1, 3] = 1                                          # pitches 1..3 of 0..5
    data = transposed_batches([roll] * 4, 4, 2, seed=0)
    shifts = set()
    for epoch in range(8):
        batch = data.batch(epoch, 0)
        assert np.array_equal(batch.inputs, data.batch(epoch, 0).inputs)     # fixed by (epoch, index)
        for b in range(4):
            low = int(np.flatnonzero(batch.inputs[0, b])[0])
            shifts.add(low - 1)
            assert np.array_equal(np.roll(batch.inputs[:, b], 1 - low, axis=-1), roll)
    assert shifts == {-1, 0, 1, 2}                                       # -2 would fall off the keys
