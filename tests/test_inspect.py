"""rnnkit.inspect: units that follow the text, gate saturation, gradient flow, the page data."""

import base64
import json

import numpy as np
import pytest

import rnnkit
from rnnkit.data import Vocabulary
from rnnkit.errors import InputError
from rnnkit.inspect import (correlations, gate_saturation, inspect_language_model, rank_units,
                            render_page, state_gradient_norms, state_gradients, text_features,
                            trace)
from rnnkit.inspect.gradient_flow import (BASELINE_MSE, AddingModel, adding_problem,
                                          last_step_flow, vanishing_study)
from rnnkit.inspect.language import top_flow
from rnnkit.inspect.page import page_data

TEXT = 'ROSS:\nI\'ll see it (done).\n\nDUNCAN:\nSay "what he hath lost".\n'


def test_text_features_by_hand():
    f = text_features('a "b" (c\nKING:\nx')
    #                   a ␣ " b " ␣ ( c \n K I N G : \n x
    assert f["inside quotes"].tolist() == [0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert f["inside brackets"].tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    assert f["position in line"].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2, 3, 4, 5, 0, 1]
    assert f["line start"].tolist() == [0] * 8 + [1] + [0] * 5 + [1, 0]
    assert f["speaker line"].tolist() == [0] * 9 + [1] * 5 + [0, 0]
    with pytest.raises(InputError, match="non-empty string"):
        text_features("")


def test_correlations_against_numpy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 4))
    a[:, 2] = 1.0                                    # constant: r = 0, not nan
    f = rng.normal(size=50)
    r = correlations(a, f)
    for j in (0, 1, 3):
        assert r[j] == pytest.approx(np.corrcoef(a[:, j], f)[0, 1], abs=1e-12)
    assert r[2] == 0.0
    with pytest.raises(InputError, match=r"\(N, U\)"):
        correlations(a[:, 0], f)


def test_a_unit_built_to_mark_line_starts_is_ranked_first():
    """An RNN whose unit 5 reads only the newline input (tanh(10 [x = '\\n'] - 5)), among 7
    random units: the ranking finds it first, for 'line start', with r near 1."""
    text = TEXT * 4
    vocab = Vocabulary.build(text)
    V, H = len(vocab), 8
    layer = rnnkit.RNN(V, H, dtype=np.float64, seed=0).eval()
    newline = vocab.token_to_id("\n")
    layer.weight_ih_l0.data[5] = 0.0
    layer.weight_ih_l0.data[5, newline] = 10.0
    layer.weight_hh_l0.data[5] = 0.0
    layer.bias_ih_l0.data[5], layer.bias_hh_l0.data[5] = -5.0, 0.0
    ids = vocab.encode(text)
    x = np.eye(V)[ids][:, None, :]
    h = trace(layer, x).directions[0].h[:, 0, :]                     # (N, H)
    ranking = rank_units(h, text_features(text))
    assert ranking[0]["feature"] == "line start" and ranking[0]["unit"] == 5
    assert ranking[0]["r"] > 0.999
    assert {r["feature"] for r in ranking} == set(text_features(text))
    assert len(ranking) == 3 * 5
    no_quotes = rank_units(h, {"constant": np.zeros(len(text)), "line start": np.ones(len(text))})
    assert no_quotes == []                                          # nothing to correlate with


def test_gate_saturation_of_forced_gates():
    layer = rnnkit.LSTM(2, 3, dtype=np.float64, seed=0).eval()
    H = 3
    layer.bias_ih_l0.data[:H] = -20.0                # input gate shut
    layer.bias_ih_l0.data[H:2 * H] = 20.0            # forget gate open
    layer.bias_ih_l0.data[3 * H:] = 0.0              # output gate: around 0.5
    layer.weight_ih_l0.data[3 * H:] = 0.0
    layer.weight_hh_l0.data[3 * H:] = 0.0
    layer.bias_hh_l0.data[3 * H:] = 0.0
    traced = trace(layer, np.random.default_rng(0).normal(size=(10, 4, 2)))
    sat = {s.gate: s for s in gate_saturation(traced)}
    assert sat["input"].left.tolist() == [1.0] * 3 and sat["input"].right.tolist() == [0.0] * 3
    assert sat["forget"].right.tolist() == [1.0] * 3 and sat["forget"].left.tolist() == [0.0] * 3
    assert sat["output"].left.tolist() == [0.0] * 3 and sat["output"].right.tolist() == [0.0] * 3
    assert gate_saturation(trace(rnnkit.RNN(2, 3).eval(), np.zeros((3, 1, 2), np.float32))) == []
    with pytest.raises(InputError, match="low must be below high"):
        gate_saturation(traced, low=0.9, high=0.1)


def test_adding_problem_batches():
    x, y = adding_problem(10, 64, np.random.default_rng(0))
    assert x.shape == (10, 64, 2) and y.shape == (64, 1)
    marks = x[:, :, 1]
    assert (marks.sum(0) == 2).all()
    assert (marks[:5].sum(0) == 1).all() and (marks[5:].sum(0) == 1).all()
    np.testing.assert_allclose(y[:, 0], (x[:, :, 0] * marks).sum(0))
    with pytest.raises(InputError, match="at least 2"):
        adding_problem(1, 4, np.random.default_rng(0))


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_adding_model_flow_starts_from_the_readouts_backward(cell):
    """The flow's d_out is the readout's own backward of each sequence's squared error."""
    model = AddingModel(cell, 6, seed=1)
    x, y = adding_problem(12, 5, np.random.default_rng(2))
    norms = model.flow(x, y)
    out, _ = model.rnn.forward(x)
    d_out = np.zeros_like(out)
    d_out[-1] = model.readout.backward(2.0 * (model.readout.forward(out[-1]) - y))
    traced = trace(model.rnn, x)
    state_gradients(model.rnn, traced, d_out)
    assert norms.shape == (12,)
    assert norms[-1] == pytest.approx(np.linalg.norm(d_out[-1], axis=1).mean(), rel=1e-12)
    np.testing.assert_allclose(state_gradient_norms(traced.directions[0]), norms, rtol=1e-12)


def test_vanishing_study_measures_every_cell():
    result = vanishing_study(cells=("rnn", "lstm"), length=20, hidden_size=8, steps=3,
                             eval_size=16, seed=0)
    for cell, entry in result.items():
        assert entry["init"].shape == entry["trained"].shape == (20,)
        assert (entry["init"] > 0).all()
        assert entry["mse_init"] > BASELINE_MSE          # an untrained readout misses
    # at initialisation the error shrinks on its way back: 19 steps cost orders of magnitude
    assert result["rnn"]["init"][0] < 1e-3 * result["rnn"]["init"][-1]


def test_last_step_flow_names_every_direction():
    layer = rnnkit.GRU(3, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=0).eval()
    flows = last_step_flow(layer, np.ones((6, 2, 3)), np.ones((2, 8)))
    assert list(flows) == ["layer 0", "layer 0 reverse", "layer 1", "layer 1 reverse"]
    # the reverse direction's last output is its first step: no further steps to reach
    assert (flows["layer 1 reverse"][:-1] == 0).all() and flows["layer 1 reverse"][-1] > 0


@pytest.fixture(scope="module")
def language_model():
    vocab = Vocabulary.build(TEXT)
    model = rnnkit.LanguageModel(len(vocab), hidden_size=6, num_layers=2, cell="lstm",
                                 dtype=np.float64, seed=3)
    return model, vocab


def test_inspect_language_model(language_model):
    model, vocab = language_model
    model.train()
    result = inspect_language_model(model, vocab, TEXT + "\u00e9", flow_window=10)
    assert model.training                             # the caller's mode is given back
    N = len(TEXT)
    assert result.pieces == list(TEXT) and result.skipped == ("\u00e9",)
    assert result.activations.shape == (N, 4 * 6)       # h and tanh(c) of 2 layers
    assert [g["name"] for g in result.groups] == ["layer 0 h", "layer 0 cell tanh(c)",
                                                  "layer 1 h", "layer 1 cell tanh(c)"]
    logits, _ = model.forward(vocab.encode(TEXT)[:, None])
    p = np.exp(logits[:, 0] - logits[:, 0].max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    ids = vocab.encode(TEXT)
    np.testing.assert_allclose(result.score[:-1], p[np.arange(N - 1), ids[1:]], rtol=1e-6)
    assert np.isnan(result.score[-1])
    np.testing.assert_allclose(result.top_probs, -np.sort(-p, axis=1)[:, :5], rtol=1e-6)
    assert result.top_tokens[0][0] == vocab.id_to_token(int(p[0].argmax()))
    nats = -np.mean(np.log(p[np.arange(N - 1), ids[1:]]))
    assert result.stats == f"{nats:.3f} nats per token on this text"
    assert result.flow["trained"].shape == result.flow["init"].shape == (10,)
    # the seeded model is its own initialisation: both flows are the same measurement
    np.testing.assert_allclose(result.flow["trained"], result.flow["init"], rtol=1e-12)
    assert len(result.saturation) == 2 * 3


def test_top_flow_is_the_models_own_backward(language_model):
    """dL/dh at distance 0 of the top layer is (p - onehot) W_hy, from the model's backward."""
    model, vocab = language_model
    ids = vocab.encode(TEXT)[:12]
    flow = top_flow(model, ids)
    model.train()                                                  # no dropout in this model
    logits, _ = model.forward(ids[:-1, None])
    p = np.exp(logits[-1, 0] - logits[-1, 0].max())
    p /= p.sum()
    p[ids[-1]] -= 1
    assert flow[0] == pytest.approx(np.linalg.norm(p @ model.decoder.weight.data), rel=1e-12)
    assert flow.shape == (11,)


def test_page_data_round_trips(language_model):
    model, vocab = language_model
    result = inspect_language_model(model, vocab, TEXT)
    data = page_data(result, "t")
    acts = np.frombuffer(base64.b64decode(data["acts"]), np.int8).reshape(data["N"], data["U"])
    np.testing.assert_allclose(acts / 127, result.activations, atol=0.5 / 127 + 1e-7)
    assert data["tokens"][data["top"][3][0]] == result.top_tokens[3][0]
    assert data["top_p"][3][0] == round(1000 * result.top_probs[3, 0])
    html = render_page(result, title="a <b> title")
    assert "a &lt;b&gt; title" in html and "<script id=\"data\"" in html
    embedded = html.split('<script id="data" type="application/json">')[1].split("</script>")[0]
    assert json.loads(embedded)["pieces"] == list(TEXT)
    hostile = "</script><b>" + TEXT
    wide = rnnkit.LanguageModel(len(Vocabulary.build(hostile)), hidden_size=4, seed=0)
    html2 = render_page(inspect_language_model(wide, Vocabulary.build(hostile), hostile), "t")
    assert html2.count("</script>") == 2                # the text cannot close the data early


def test_static_plots_are_written(tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image
    from rnnkit.inspect.plots import plot_gate_saturation, plot_vanishing_study
    study = vanishing_study(cells=("rnn", "gru"), length=8, hidden_size=4, steps=1, eval_size=4)
    path = plot_vanishing_study(study, tmp_path / "flow.png", title="t")
    assert Image.open(path).size[0] > 300
    traced = trace(rnnkit.LSTM(2, 5).eval(), np.ones((6, 2, 2), np.float32))
    path = plot_gate_saturation(gate_saturation(traced), tmp_path / "sat.png")
    assert Image.open(path).size[0] > 200
    assert not list(tmp_path.glob(".*tmp*"))                  # written atomically
    with pytest.raises(InputError, match="no gates"):
        plot_gate_saturation([], tmp_path / "none.png")
