"""Ready-made models: LanguageModel, SequenceClassifier, SequenceRegressor, WordClassifier —
finite-difference checks (float64), PyTorch equivalence, config round trip, bad input; and the
registry: load_model finds every model class a checkpoint can name, whatever was imported."""

import subprocess
import sys

import numpy as np
import pytest
from helpers import GRAD_TOL, TORCH_TOL, check_module_gradients

import rnnkit
from rnnkit.models import (
    LanguageModel, MaxOverTime, MeanOverTime, SequenceClassifier, SequenceRegressor, WordClassifier,
    build_model,
)

F64 = np.float64


def _ids(shape, vocab, seed=0):
    return np.random.default_rng(seed).integers(0, vocab, shape)


# ------------------------------------------------------------------ language model


@pytest.mark.parametrize("cell,embed", [("lstm", 4), ("gru", None), ("rnn", 3)])
def test_language_model_gradients_including_carried_state(cell, embed):
    model = LanguageModel(7, embed, hidden_size=5, num_layers=2, cell=cell, dtype=F64, seed=1)
    ids = _ids((4, 2), 7)
    state0 = model.init_state(2)
    rng = np.random.default_rng(2)
    state0 = tuple(rng.standard_normal(s.shape) for s in state0) if cell == "lstm" \
        else rng.standard_normal(state0.shape)
    inputs = {f"s{i}": s for i, s in enumerate(state0 if cell == "lstm" else (state0,))}

    def backward(w):
        logits_w, state_w = w
        d0 = model.backward(logits_w, state_w)
        d0 = d0 if cell == "lstm" else (d0,)
        return {f"s{i}": d for i, d in enumerate(d0)}

    worst, errors = check_module_gradients(lambda: model.forward(ids, state0), backward,
                                           inputs, model.parameters())
    assert worst < GRAD_TOL, errors


@pytest.mark.parametrize("cell, embed_size", [("lstm", 4), ("gru", None)])
def test_language_model_matches_its_torch_twin(cell, embed_size):
    """rnnkit.models.language_model_interop.to_torch: nn.Embedding (or one-hot) -> nn.LSTM/GRU
    -> nn.Linear with the model's weights gives the same logits, states and gradients."""
    torch = pytest.importorskip("torch")
    from rnnkit.models.language_model_interop import to_torch
    V, E, H, L, T, B = 9, embed_size, 6, 2, 5, 3
    model = LanguageModel(V, E, H, L, cell, dtype=F64, seed=0)
    twin = to_torch(model)
    assert next(twin.parameters()).dtype == torch.float64
    rng = np.random.default_rng(3)
    ids = _ids((T, B), V, seed=4)
    parts = [rng.standard_normal((L, B, H)) for _ in range(2 if cell == "lstm" else 1)]
    dlogits = rng.standard_normal((T, B, V))

    logits, state_n = model.forward(ids, tuple(parts) if cell == "lstm" else parts[0])
    d_state0 = model.backward(dlogits)
    parts_t = [torch.tensor(p, requires_grad=True) for p in parts]
    logits_t, state_nt = twin(torch.tensor(ids), tuple(parts_t) if cell == "lstm" else parts_t[0])
    (logits_t * torch.tensor(dlogits)).sum().backward()

    np.testing.assert_allclose(logits, logits_t.detach().numpy(), atol=TORCH_TOL, rtol=0)
    as_tuple = lambda s: s if isinstance(s, tuple) else (s,)   # noqa: E731
    for ours, theirs in zip(as_tuple(state_n), as_tuple(state_nt)):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), atol=TORCH_TOL, rtol=0)
    for ours, theirs in zip(as_tuple(d_state0), parts_t):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), atol=TORCH_TOL, rtol=0)
    torch_grads = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, torch_grads[name].grad.numpy(), atol=TORCH_TOL, rtol=0,
                                   err_msg=name)


def test_language_model_one_hot_equals_identity_embedding():
    onehot = LanguageModel(6, None, 5, cell="gru", dtype=F64, seed=0)
    embedded = LanguageModel(6, 6, 5, cell="gru", dtype=F64, seed=0)
    state = {k: v for k, v in onehot.state_dict().items()}
    state["embedding.weight"] = np.eye(6)
    embedded.load_state_dict(state)
    ids = _ids((3, 2), 6)
    np.testing.assert_allclose(onehot.forward(ids)[0], embedded.forward(ids)[0], atol=1e-14)


def test_language_model_chunks_continue_the_whole_sequence():
    model = LanguageModel(8, 4, 5, 2, "lstm", dtype=F64, seed=0)
    ids = _ids((9, 2), 8)
    with rnnkit.no_grad():
        whole, (h, c) = model.forward(ids)
        first, state = model.forward(ids[:4])
        second, (h2, c2) = model.forward(ids[4:], state)
    np.testing.assert_allclose(np.concatenate([first, second]), whole, atol=1e-13)
    np.testing.assert_allclose(h2, h, atol=1e-13)
    np.testing.assert_allclose(c2, c, atol=1e-13)


def test_language_model_config_round_trip_and_seeded_init():
    model = LanguageModel(11, 3, 4, 2, "gru", dropout=0.25, dtype=np.float32, seed=7)
    config = model.config()
    assert config == {"vocab_size": 11, "embed_size": 3, "hidden_size": 4, "num_layers": 2,
                      "cell": "gru", "dropout": 0.25, "dtype": "float32", "seed": 7}
    rebuilt = build_model("LanguageModel", config)
    for (name, a), (_, b) in zip(model.state_dict().items(), rebuilt.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    other = LanguageModel(11, 3, 4, 2, "gru", seed=8)
    assert not np.array_equal(model.decoder.weight.data, other.decoder.weight.data)


def test_language_model_dropout_only_in_training():
    model = LanguageModel(5, 3, 4, 2, "lstm", dropout=0.5, dtype=F64, seed=0)
    ids = _ids((3, 2), 5)
    model.eval()
    with rnnkit.no_grad():
        a, _ = model.forward(ids)
        b, _ = model.forward(ids)
    np.testing.assert_array_equal(a, b)
    model.train()
    c, _ = model.forward(ids)
    assert not np.allclose(a, c)


def test_language_model_bad_input():
    model = LanguageModel(5, 3, 4, seed=0)
    with pytest.raises(ValueError, match=r"ids entries must lie in \[0, 5\)"):
        model.forward(np.array([[0, 5]]))
    with pytest.raises(ValueError, match=r"ids must have shape \(T, B\)"):
        model.forward(np.array([0, 1]))
    with pytest.raises(TypeError, match="ids must be an integer array"):
        model.forward(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="cell must be one of"):
        LanguageModel(5, cell="transformer")
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        LanguageModel(5, hidden_size=0)
    with pytest.raises(ValueError, match="h0"):
        model.forward(np.array([[0, 1]]), (np.zeros((1, 3, 4), np.float32),) * 2)
    with pytest.raises(ValueError, match="before forward"):
        LanguageModel(5, seed=0).backward(np.zeros((1, 1, 5), np.float32))


# ------------------------------------------------------------------ classifier / regressor


@pytest.mark.parametrize("pooling,cell,layers", [("last", "lstm", 1), ("mean", "gru", 2),
                                                 ("max", "rnn", 2)])
def test_classifier_gradients_on_padded_features(pooling, cell, layers):
    model = SequenceClassifier(2, input_size=2, hidden_size=3, num_layers=layers, cell=cell,
                               bidirectional=True, pooling=pooling, dtype=F64, seed=0)
    x = np.random.default_rng(1).standard_normal((5, 3, 2))
    lengths = np.array([5, 2, 4])
    worst, errors = check_module_gradients(lambda: model.forward(x, lengths=lengths),
                                           lambda w: {"x": model.backward(w)},
                                           {"x": x}, model.parameters())
    assert worst < GRAD_TOL, errors


def test_classifier_gradients_on_token_ids():
    model = SequenceClassifier(2, vocab_size=7, embed_size=3, hidden_size=4, cell="rnn",
                               pooling="mean", dtype=F64, seed=0)
    ids = _ids((5, 2), 7)
    lengths = np.array([3, 5])
    worst, errors = check_module_gradients(lambda: model.forward(ids, lengths=lengths),
                                           lambda w: (model.backward(w), {})[1],
                                           {}, model.parameters())
    assert worst < GRAD_TOL, errors


def test_classifier_ignores_padding():
    model = SequenceClassifier(2, input_size=3, hidden_size=4, bidirectional=True,
                               pooling="max", dtype=F64, seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 2, 3))
    lengths = np.array([3, 5])
    y = model.forward(x, lengths=lengths)
    x2 = x.copy()
    x2[3:, 0] = 1e3                                      # garbage in the padding of sequence 0
    np.testing.assert_array_equal(model.forward(x2, lengths=lengths), y)
    alone = model.forward(x[:3, :1])
    np.testing.assert_allclose(alone, y[:1], atol=1e-13)


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_classifier_matches_torch(pooling):
    torch = pytest.importorskip("torch")
    T, B, D, H, C = 5, 3, 4, 6, 3
    model = SequenceClassifier(C, input_size=D, hidden_size=H, num_layers=2, cell="gru",
                               bidirectional=True, pooling=pooling, dtype=F64, seed=0)
    rnn = torch.nn.GRU(D, H, num_layers=2, bidirectional=True).double()
    head = torch.nn.Linear(2 * H, C).double()
    state = model.state_dict()
    rnn.load_state_dict({k[4:]: torch.tensor(v) for k, v in state.items() if k.startswith("rnn.")})
    head.load_state_dict({k[5:]: torch.tensor(v) for k, v in state.items() if k.startswith("head.")})
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, D))
    lengths = np.array([5, 2, 4])
    dy = rng.standard_normal((B, C))

    y = model.forward(x, lengths=lengths)
    dx = model.backward(dy)
    xt = torch.tensor(x, requires_grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), enforce_sorted=False)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(rnn(packed)[0], total_length=T)  # (T, B, 2H)
    valid = torch.tensor(np.arange(T)[:, None, None] < lengths[None, :, None])
    if pooling == "last":
        fwd = out[torch.tensor(lengths - 1), torch.arange(B), :H]
        z = torch.cat([fwd, out[0, :, H:]], dim=1)
    elif pooling == "mean":
        z = out.sum(0) / torch.tensor(lengths, dtype=torch.float64)[:, None]
    else:
        z = out.masked_fill(~valid, -torch.inf).max(0).values
    yt = head(z)
    (yt * torch.tensor(dy)).sum().backward()
    np.testing.assert_allclose(y, yt.detach().numpy(), atol=TORCH_TOL, rtol=0)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=TORCH_TOL, rtol=0)
    grads = {"rnn." + k: v.grad for k, v in rnn.named_parameters()}
    grads.update({"head." + k: v.grad for k, v in head.named_parameters()})
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, grads[name].numpy(), atol=TORCH_TOL, rtol=0, err_msg=name)


def test_regressor_config_round_trip():
    model = SequenceRegressor(2, input_size=3, hidden_size=4, pooling="mean", dtype=F64, seed=5)
    assert model.config()["num_outputs"] == 2 and "num_classes" not in model.config()
    rebuilt = build_model("SequenceRegressor", model.config())
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    np.testing.assert_array_equal(rebuilt.forward(x), model.forward(x))
    assert model.forward(x).shape == (2, 2)


def test_pooling_modules_on_their_own():
    out = np.arange(12, dtype=F64).reshape(3, 2, 2)
    lengths = np.array([1, 3])
    np.testing.assert_array_equal(MeanOverTime().forward(out, lengths), [[0, 1], [6, 7]])
    np.testing.assert_array_equal(MaxOverTime().forward(out, lengths), [[0, 1], [10, 11]])


def test_classifier_bad_input():
    with pytest.raises(ValueError, match="exactly one of input_size"):
        SequenceClassifier(2, input_size=3, vocab_size=5)
    with pytest.raises(ValueError, match="exactly one of input_size"):
        SequenceClassifier(2)
    with pytest.raises(ValueError, match="pooling must be one of"):
        SequenceClassifier(2, input_size=3, pooling="attention")
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        SequenceClassifier(0, input_size=3)
    model = SequenceClassifier(2, input_size=3, hidden_size=4, seed=0)
    with pytest.raises(ValueError, match=r"x must have shape \(T, B, input_size=3\)"):
        model.forward(np.zeros((2, 2, 5), np.float32))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T=2\]"):
        model.forward(np.zeros((2, 2, 3), np.float32), lengths=np.array([0, 2]))
    with pytest.raises(ValueError, match="unknown model class"):
        build_model("Transformer", {})


# ------------------------------------------------------------------ word classifier


def test_word_classifier_gradients_match_finite_differences_in_float64():
    model = WordClassifier(3, vocab_size=7, embed_size=4, embed_dropout=0.0, hidden_size=3,
                           cell="lstm", bidirectional=True, dropout=0.0, pooling="max",
                           dtype=F64, seed=0)
    ids = _ids((5, 2), 7, seed=1)                                          # (T, B)
    lengths = np.array([5, 3])

    def backward(weights):
        assert model.backward(weights) is None                             # ids: no input gradient
        return {}

    worst, errors = check_module_gradients(lambda: model.forward(ids, lengths), backward, {},
                                           model.parameters())
    assert worst < GRAD_TOL, errors


def test_word_classifier_config_rebuilds_it_and_dropout_is_off_in_eval_mode():
    model = WordClassifier(2, vocab_size=9, embed_size=4, embed_dropout=0.5, hidden_size=3, seed=3)
    again = build_model("WordClassifier", model.config())
    ids, lengths = np.array([[1, 2], [3, 0]]), np.array([2, 1])
    model.eval()
    again.eval()
    np.testing.assert_array_equal(model.forward(ids, lengths), again.forward(ids, lengths))
    assert np.abs(model.embedding.weight.data).std() < 0.2                 # N(0, 0.1^2) start
    with pytest.raises(ValueError, match=r"embed_dropout must be a float in \[0, 1\)"):
        WordClassifier(2, vocab_size=9, embed_dropout=1.0)
    with pytest.raises(ValueError, match="embed_init_std must be positive"):
        WordClassifier(2, vocab_size=9, embed_init_std=0.0)


# ------------------------------------------------------------------ registry and load_model


def _tiny_models():
    """One small model of every class rnnkit can rebuild from a checkpoint, by class name."""
    from rnnkit.forecasting.model import Forecaster
    from rnnkit.models.acoustic import AcousticModel
    from rnnkit.models.piano_roll import PianoRollModel
    from rnnkit.seq2seq.model import Seq2Seq

    return {
        "LanguageModel": LanguageModel(5, 3, 4, seed=0),
        "SequenceClassifier": SequenceClassifier(2, input_size=3, hidden_size=4, seed=0),
        "SequenceRegressor": SequenceRegressor(2, input_size=3, hidden_size=4, seed=0),
        "WordClassifier": WordClassifier(2, vocab_size=5, embed_size=3, hidden_size=4, seed=0),
        "Forecaster": Forecaster(3, 1, hidden_size=4, seed=0),
        "Seq2Seq": Seq2Seq(5, 6, embed_size=3, hidden_size=4, seed=0),
        "AcousticModel": AcousticModel(3, 5, hidden_size=4, seed=0),
        "PianoRollModel": PianoRollModel(3, hidden_size=4, output="nade", nade_hidden=2, seed=0),
    }


def _save_checkpoint(model, path):
    from rnnkit.optim import SGD
    from rnnkit.training import SequenceBatches, Trainer

    data = SequenceBatches([np.zeros((2, 3), np.float32)] * 2, np.zeros(2, np.int64), 2)
    return Trainer(model, SGD(model.parameters(), lr=0.1), data, max_steps=1).save_checkpoint(path)


def _checksum(model) -> str:
    return repr(round(sum(float(np.abs(v).sum()) for v in model.state_dict().values()), 6))


def test_every_model_class_a_checkpoint_can_name_loads_in_a_fresh_process(tmp_path):
    import importlib
    import pkgutil

    import rnnkit.apps
    from rnnkit.models import DEFINED_ELSEWHERE, MODELS

    for info in pkgutil.iter_modules(rnnkit.apps.__path__):      # whatever an app registers
        importlib.import_module(f"rnnkit.apps.{info.name}")
    models = _tiny_models()
    known = {name for name, cls in MODELS.items() if cls.__module__.startswith("rnnkit.")}
    assert known | set(DEFINED_ELSEWHERE) == set(models)         # a new model needs a case here
    paths = [_save_checkpoint(model, tmp_path / f"{name}.npz") for name, model in models.items()]

    code = ("import sys\n"
            "from rnnkit.training import load_model\n"
            "for path in sys.argv[1:]:\n"
            "    model, _ = load_model(path)\n"
            "    weights = sum(float(abs(v).sum()) for v in model.state_dict().values())\n"
            "    print(type(model).__name__, repr(round(weights, 6)))\n"
            "print('apps imported:', any(m.startswith('rnnkit.apps') for m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code, *map(str, paths)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:-1] == [f"{name} {_checksum(model)}" for name, model in models.items()]
    assert lines[-1] == "apps imported: False"


def test_a_checkpoint_of_an_unknown_model_class_names_it_and_says_why(tmp_path):
    from rnnkit.checkpoint import load_checkpoint, save_checkpoint
    from rnnkit.training import load_model

    path = _save_checkpoint(LanguageModel(5, 3, 4, seed=0), tmp_path / "lm.npz")
    arrays, meta = load_checkpoint(path)
    meta["model"]["class"] = "Transformer"
    save_checkpoint(path, arrays, meta)
    with pytest.raises(ValueError, match="unknown model class 'Transformer'") as error:
        load_model(path)
    message = str(error.value)
    assert "newer rnnkit or from another program" in message and "allow_pickle" not in message
    assert "LanguageModel" in message and "Forecaster" in message          # what it does know
