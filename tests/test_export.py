"""rnnkit/export.py: every exportable kind run by ONNX Runtime equals rnnkit (float32, 1e-5)
on random inputs with several batch sizes and lengths; the graphs pass onnx.checker, have
named inputs/outputs with dynamic batch and time axes; what cannot export says so."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import rnnkit
from rnnkit.errors import InputError, InputTypeError, MissingFileError
from rnnkit.export import to_onnx
from rnnkit.layers import GRU, LSTM, RNN
from rnnkit.forecasting.model import Forecaster
from rnnkit.layers import Linear
from rnnkit.models import (
    AcousticModel, LanguageModel, PianoRollModel, SequenceClassifier, SequenceRegressor,
    WordClassifier,
)

if os.environ.get("CI"):                       # make test installs rnnkit[onnx]: never skip there
    import onnx
    import onnxruntime as ort
else:
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")

TOL = 1e-5
LAYERS = {"lstm": (LSTM, {}), "gru": (GRU, {}), "gru_cho": (GRU, {"reset_after": False}),
          "rnn_tanh": (RNN, {}), "rnn_relu": (RNN, {"nonlinearity": "relu"})}


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def largest(a, b):
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


def assert_sequence_model_runs_the_same(model, path, x, lengths):
    """ONNX Runtime's single output for ``x, lengths`` equals ``model.forward`` (TOL)."""
    with rnnkit.no_grad():
        expected = model.forward(x, lengths)
    (got,) = session(path).run(None, {"x": x, "lengths": lengths})
    assert got.shape == expected.shape and largest(expected, got) < TOL


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_a_recurrent_layer_runs_the_same_in_onnx_runtime(kind, batch_first, bidirectional, tmp_path):
    cls, options = LAYERS[kind]
    layer = cls(3, 5, num_layers=2, batch_first=batch_first, bidirectional=bidirectional,
                seed=1, **options).eval()
    path = tmp_path / "layer.onnx"
    to_onnx(layer, path, initial_state=True, lengths=True)
    run = session(path)
    rng = np.random.default_rng(0)
    rows = 2 * (2 if bidirectional else 1)
    for T, lengths in [(6, [6, 3, 1, 5]), (1, [1]), (9, [2, 9, 4, 9, 7, 1, 3, 8])]:
        B = len(lengths)
        x = rng.normal(size=(B, T, 3) if batch_first else (T, B, 3)).astype(np.float32)
        h0, c0 = (rng.normal(size=(rows, B, 5)).astype(np.float32) for _ in range(2))
        lengths = np.array(lengths, np.int64)
        with rnnkit.no_grad():
            out, state = layer.forward(x, (h0, c0) if cls is LSTM else h0, lengths=lengths)
        feeds = {"x": x, "h0": h0, "lengths": lengths} | ({"c0": c0} if cls is LSTM else {})
        got = run.run(None, feeds)
        expected = [out, *(state if cls is LSTM else (state,))]
        assert len(got) == len(expected)
        for e, g in zip(expected, got):
            assert e.shape == g.shape and largest(e, g) < TOL


def test_a_layer_without_state_or_lengths_takes_x_alone(tmp_path):
    layer = GRU(4, 6, seed=2).eval()
    model = to_onnx(layer, tmp_path / "gru.onnx")
    assert [i.name for i in model.graph.input] == ["x"]
    assert [o.name for o in model.graph.output] == ["output", "h_n"]
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["T", "B", 4]                                         # dynamic time and batch
    x = np.random.default_rng(1).normal(size=(5, 2, 4)).astype(np.float32)
    with rnnkit.no_grad():
        out, h = layer.forward(x)
    got = session(tmp_path / "gru.onnx").run(None, {"x": x})
    assert largest(out, got[0]) < TOL and largest(h, got[1]) < TOL
    onnx.checker.check_model(onnx.load(tmp_path / "gru.onnx"), full_check=True)


@pytest.mark.parametrize("cell,embed_size", [("lstm", 8), ("gru", None), ("rnn", 5)])
def test_a_language_model_generates_token_by_token_with_the_state_fed_back(cell, embed_size,
                                                                             tmp_path):
    model = LanguageModel(13, embed_size=embed_size, hidden_size=7, num_layers=2, cell=cell,
                          seed=3).eval()
    to_onnx(model, tmp_path / "lm.onnx", metadata={"vocabulary": "abc"})
    run = session(tmp_path / "lm.onnx")
    assert run.get_modelmeta().custom_metadata_map == {"vocabulary": "abc"}
    rng = np.random.default_rng(4)
    for B in (1, 3):
        ids = rng.integers(0, 13, (12, B))
        state = (np.zeros((2, B, 7), np.float32),) * (2 if cell == "lstm" else 1)
        names = ["h0", "c0"][:len(state)]
        with rnnkit.no_grad():
            expected, _ = model.forward(ids)                             # the whole chunk at once
        for t in range(12):                                              # one token a step
            logits, *state = run.run(None, {"ids": ids[t:t + 1], **dict(zip(names, state))})
            assert largest(expected[t:t + 1], logits) < TOL
        with rnnkit.no_grad():
            chunk, new_state = model.forward(ids[:5])
        got = run.run(None, {"ids": ids[:5], **dict(zip(names, [np.zeros((2, B, 7), np.float32)] * 2))})
        assert largest(chunk, got[0]) < TOL
        assert largest(new_state[0] if cell == "lstm" else new_state, got[1]) < TOL


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
@pytest.mark.parametrize("inputs", ["features", "embedded ids", "one-hot ids"])
def test_a_sequence_classifier_runs_the_same_in_onnx_runtime(pooling, inputs, tmp_path):
    options = {"features": {"input_size": 3}, "embedded ids": {"vocab_size": 9, "embed_size": 4},
               "one-hot ids": {"vocab_size": 9}}[inputs]
    model = SequenceClassifier(4, hidden_size=5, num_layers=2, cell="lstm", bidirectional=True,
                               pooling=pooling, seed=5, **options).eval()
    to_onnx(model, tmp_path / "clf.onnx")
    run = session(tmp_path / "clf.onnx")
    rng = np.random.default_rng(6)
    for T, lengths in [(7, [7, 2, 5, 1]), (3, [3]), (11, [11, 1, 6, 11, 4])]:
        B = len(lengths)
        x = (rng.normal(size=(T, B, 3)).astype(np.float32) if inputs == "features"
             else rng.integers(0, 9, (T, B)))
        lengths = np.array(lengths, np.int64)
        with rnnkit.no_grad():
            expected = model.forward(x, lengths)
        (got,) = run.run(None, {"x": x, "lengths": lengths})
        assert got.shape == (B, 4) and largest(expected, got) < TOL


def test_a_regressor_exports_its_outputs(tmp_path):
    model = SequenceRegressor(2, input_size=3, hidden_size=4, cell="gru", seed=7).eval()
    exported = to_onnx(model, tmp_path / "reg.onnx")
    assert [o.name for o in exported.graph.output] == ["outputs"]
    x = np.random.default_rng(8).normal(size=(6, 3, 3)).astype(np.float32)
    assert_sequence_model_runs_the_same(model, tmp_path / "reg.onnx", x, np.array([6, 2, 4]))


def test_the_sentiment_word_classifier_exports(tmp_path):
    model = WordClassifier(2, 30, embed_size=6, hidden_size=5, seed=1).eval()
    to_onnx(model, tmp_path / "word.onnx")
    rng = np.random.default_rng(9)
    for T, lengths in [(7, [7, 2, 5]), (2, [1])]:
        assert_sequence_model_runs_the_same(model, tmp_path / "word.onnx",
                                            rng.integers(0, 30, (T, len(lengths))), np.array(lengths))


@pytest.mark.parametrize("subsample", [1, 2, 3])
def test_the_speech_model_stacks_frames_in_the_graph(subsample, tmp_path):
    model = AcousticModel(5, 7, hidden_size=6, num_layers=2, subsample=subsample, seed=2).eval()
    to_onnx(model, tmp_path / "acoustic.onnx")
    run = session(tmp_path / "acoustic.onnx")
    rng = np.random.default_rng(10)
    for T, lengths in [(10, [10, 3, 7]), (9, [1, 9]), (4, [4])]:          # T % k: 0, 1, 2
        x = rng.normal(size=(T, len(lengths), 5)).astype(np.float32)
        for b, n in enumerate(lengths):
            x[n:, b] = 1e3                                              # padding: ignored by both
        lengths = np.array(lengths, np.int64)
        with rnnkit.no_grad():
            logits, out_lengths = model.forward(x, lengths)
        got_logits, got_lengths = run.run(None, {"x": x, "lengths": lengths})
        assert got_logits.shape == logits.shape and largest(logits, got_logits) < TOL
        assert np.array_equal(got_lengths, out_lengths)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_the_music_model_gives_next_step_probabilities_and_the_same_likelihood(cell, tmp_path):
    model = PianoRollModel(6, hidden_size=5, num_layers=2, cell=cell, seed=3).eval()
    to_onnx(model, tmp_path / "music.onnx")
    rng = np.random.default_rng(11)
    rolls = (rng.random((8, 2, 6)) < 0.4).astype(np.float32)           # v (T, B, P)
    previous = np.concatenate([np.zeros((1, 2, 6), np.float32), rolls[:-1]])
    zeros = np.zeros((2, 2, 5), np.float32)
    feeds = {"notes": previous, "h0": zeros} | ({"c0": zeros} if cell == "lstm" else {})
    probabilities = session(tmp_path / "music.onnx").run(None, feeds)[0]
    nll = -(rolls * np.log(probabilities) + (1 - rolls) * np.log1p(-probabilities)).sum(-1)
    with rnnkit.no_grad():
        assert largest(model.step_nll(rolls), nll) < 10 * TOL                 # summed over 6 pitches


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_the_rnn_nade_draws_the_same_step_from_the_same_uniforms(cell, tmp_path):
    model = PianoRollModel(10, hidden_size=7, num_layers=2, cell=cell, output="nade",
                           nade_hidden=5, seed=3).eval()
    to_onnx(model, tmp_path / "nade.onnx")
    run = session(tmp_path / "nade.onnx")
    rng = np.random.default_rng(15)
    for T, B, seed in [(4, 3, 5), (1, 1, 6)]:
        notes = (rng.random((T, B, 10)) < 0.4).astype(np.float32)       # the previous steps
        u = np.random.default_rng(seed).random((T * B, 10))            # what NADE.sample draws
        zeros = np.zeros((2, B, 7), np.float32)
        feeds = {"notes": notes, "h0": zeros, "uniforms": u.reshape(T, B, 10).astype(np.float32)}
        out = dict(zip([o.name for o in run.get_outputs()],
                       run.run(None, feeds | ({"c0": zeros} if cell == "lstm" else {}))))
        with rnnkit.no_grad():
            h = model.rnn.forward(notes)[0].reshape(T * B, 7)
            b_v, b_h = model.to_visible.forward(h), model.to_hidden.forward(h)
            drawn = model.nade.sample(b_v, b_h, np.random.default_rng(seed))
            nll = model.nade.forward(drawn, b_v, b_h)
        assert np.array_equal(out["next_notes"].reshape(T * B, 10), drawn)
        p = out["probabilities"].reshape(T * B, 10)                     # along the drawn path
        assert largest(nll, -(drawn * np.log(p) + (1 - drawn) * np.log1p(-p)).sum(-1)) < 10 * TOL


@pytest.mark.parametrize("strategy,horizon", [("direct", 4), ("recursive", 1)])
def test_the_forecaster_exports_both_strategies(strategy, horizon, tmp_path):
    model = Forecaster(3, 2, horizon=horizon, strategy=strategy, hidden_size=5, seed=4).eval()
    to_onnx(model, tmp_path / "forecast.onnx")
    rng = np.random.default_rng(12)
    for T, B in [(9, 4), (3, 1)]:
        x = rng.normal(size=(T, B, 3)).astype(np.float32)
        with rnnkit.no_grad():
            expected = model.forward(x)
        (got,) = session(tmp_path / "forecast.onnx").run(None, {"x": x})
        assert got.shape == expected.shape and largest(expected, got) < TOL


@pytest.mark.parametrize("cell,attention,bidirectional,input_feeding", [
    ("lstm", "general", True, True), ("lstm", "none", True, True), ("gru", "additive", False, True),
    ("gru", "general", True, False), ("rnn", "dot", False, True), ("lstm", "additive", True, False)])
def test_the_translation_model_exports_an_encoder_and_a_decoder_step(cell, attention, bidirectional,
                                                                     input_feeding, tmp_path):
    from rnnkit.seq2seq.model import Seq2Seq

    model = Seq2Seq(9, 11, embed_size=4, hidden_size=6, num_layers=2, cell=cell,
                    bidirectional=bidirectional, attention=attention, input_feeding=input_feeding,
                    seed=1).eval()
    to_onnx(model, tmp_path / "mt.onnx", metadata={"k": "v"})
    encoder, decoder = session(tmp_path / "mt-encoder.onnx"), session(tmp_path / "mt-decoder.onnx")
    assert decoder.get_modelmeta().custom_metadata_map == {"k": "v"}
    names = [i.name for i in decoder.get_inputs()]
    rng = np.random.default_rng(13)
    for lengths in ([7, 2, 5], [3]):
        src = rng.integers(3, 9, (max(lengths), len(lengths)))
        lengths = np.array(lengths)
        memory = model.encode(src, lengths)
        state = model.initial_state(memory)
        encoded = dict(zip([o.name for o in encoder.get_outputs()],
                           encoder.run(None, {"src": src, "src_lengths": lengths})))
        for name, part in zip(["h0", "c0"], memory.initial_state):
            assert largest(part, encoded[name]) < TOL
        feed = {k: v for k, v in encoded.items() if k in names}
        feed.update(h=encoded["h0"], **({"c": encoded["c0"]} if cell == "lstm" else {}))
        if input_feeding:
            feed["feed"] = np.zeros((1, len(lengths), 6), np.float32)
        tokens = np.full(len(lengths), model.bos_id)
        for _ in range(6):                                               # greedy decoding
            logits, state, weights = model.decode_step(tokens, state, memory)
            out = dict(zip([o.name for o in decoder.get_outputs()],
                           decoder.run(None, dict(feed, tokens=tokens))))
            assert largest(logits, out["logits"]) < TOL
            assert weights is None or largest(weights, out["attention"]) < TOL
            assert largest(state[0], out["h_n"]) < TOL
            feed.update({name: out[f"{name}_n"] for name in ("h", "c", "feed") if name in names})
            tokens = logits.argmax(-1)


def test_a_float64_model_exports_in_float32(tmp_path):
    model = LanguageModel(5, embed_size=3, hidden_size=4, cell="lstm", dtype=np.float64, seed=9).eval()
    to_onnx(model, tmp_path / "lm64.onnx")
    ids = np.array([[1], [4], [2]])
    with rnnkit.no_grad():
        expected, _ = model.forward(ids)
    zeros = np.zeros((1, 1, 4), np.float32)
    got = session(tmp_path / "lm64.onnx").run(None, {"ids": ids, "h0": zeros, "c0": zeros})
    assert got[0].dtype == np.float32 and largest(expected, got[0]) < TOL


def test_what_cannot_export_says_so(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="LayerNormLSTM has no ONNX operator"):
        to_onnx(LanguageModel(5, hidden_size=4, cell="lnlstm"), tmp_path / "x.onnx")
    with pytest.raises(InputTypeError, match="cannot export a Linear to ONNX yet; "
                                             "exportable: RNN, GRU, LSTM, LanguageModel"):
        to_onnx(Linear(2, 3), tmp_path / "x.onnx")
    with pytest.raises(InputError, match=r"opset must be an int in \[15, "):
        to_onnx(GRU(2, 3), tmp_path / "x.onnx", opset=9)
    with pytest.raises(InputTypeError, match="metadata must map str to str"):
        to_onnx(GRU(2, 3), tmp_path / "x.onnx", metadata={"n": 3})
    assert not (tmp_path / "x.onnx").exists()
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingFileError, match=r"pip install 'rnnkit\[onnx\]'"):
        to_onnx(GRU(2, 3), tmp_path / "x.onnx")


# --------------------------------------------------------------------------- the command


def _cli(argv, capsys):
    from rnnkit.cli import main

    try:
        status = main(argv)
    except SystemExit as exc:
        status = exc.code
    out = capsys.readouterr()
    return status, out.out, out.err


def test_the_command_exports_a_text_generator_that_runs_without_rnnkit(tmp_path, capsys):
    import json
    import subprocess
    from pathlib import Path

    from test_textgen_cli import CORPUS, TINY

    (tmp_path / "corpus.txt").write_text(CORPUS, encoding="utf-8")
    model_dir, onnx_file = tmp_path / "model", tmp_path / "model.onnx"
    status, _, err = _cli(["textgen", "train", "--corpus", str(tmp_path / "corpus.txt"),
                           "--out", str(model_dir), "--max-steps", "3", *TINY], capsys)
    assert status == 0, err
    status, out, err = _cli(["export", str(model_dir), str(onnx_file)], capsys)
    assert status == 0, err
    assert out.startswith(f"wrote {onnx_file} (") and "the LanguageModel of `rnnkit textgen`, " \
        "inputs ids, h0, c0 -> outputs logits, h_n, c_n" in out
    meta = session(onnx_file).get_modelmeta().custom_metadata_map
    assert meta["rnnkit_app"] == "textgen" and json.loads(meta["vocabulary"])["level"] == "char"
    script = Path(__file__).parents[1] / "docs" / "onnx_generate.py"
    code = (f"import runpy, sys; sys.argv = ['g', {str(onnx_file)!r}, 'ROMEO:', '40']; "
            f"runpy.run_path({str(script)!r}, run_name='__main__'); "
            f"assert not any(m.startswith('rnnkit') for m in sys.modules), 'rnnkit imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    text = done.stdout.rstrip("\n")
    assert text.startswith("ROMEO:") and len(text) == len("ROMEO:") + 40


def test_the_command_exports_a_classifier_and_refuses_what_it_cannot(tmp_path, capsys):
    from rnnkit.training import load_model

    model_dir = tmp_path / "vowels"
    status, _, err = _cli(["vowels", "train", "--out", str(model_dir), "--epochs", "1",
                           "--threads", "1"], capsys)
    assert status == 0, err
    status, out, err = _cli(["export", str(model_dir / "checkpoint.npz"), str(tmp_path / "v.onnx")],
                            capsys)
    assert status == 0 and "inputs x, lengths -> outputs logits" in out, err
    model, _ = load_model(model_dir / "checkpoint.npz")
    x = np.random.default_rng(0).normal(size=(9, 3, 12)).astype(np.float32)
    assert_sequence_model_runs_the_same(model, tmp_path / "v.onnx", x, np.array([9, 4, 7]))
    for argv, message in [
            ([str(tmp_path / "nothing"), str(tmp_path / "a.onnx")], "no model at"),
            ([str(model_dir), str(tmp_path / "a.txt")], "the output file must end in .onnx"),
            ([str(model_dir), str(tmp_path / "no" / "a.onnx")], "no folder"),
            ([str(model_dir), str(tmp_path / "a.onnx"), "--opset", "3"], "opset must be an int")]:
        status, _, err = _cli(["export", *argv], capsys)
        assert status == 2 and err.startswith("rnnkit export: error: ") and message in err, err
        assert err.count("\n") == 1


def test_the_command_writes_a_translation_model_as_two_graphs(tmp_path, capsys):
    from rnnkit.optim import Adam
    from rnnkit.seq2seq.model import Seq2Seq
    from rnnkit.training import Seq2SeqBatches, Trainer

    model = Seq2Seq(9, 11, embed_size=4, hidden_size=6, seed=2)
    rng = np.random.default_rng(14)
    pairs = Seq2SeqBatches([rng.integers(3, 9, n) for n in (4, 2, 5)],
                           [rng.integers(3, 11, n) for n in (3, 1, 2)], batch_size=3)
    Trainer(model, Adam(model.parameters()), pairs, max_steps=1, out_dir=tmp_path / "mt",
            extra={"app": "translate"}).fit()
    status, out, err = _cli(["export", str(tmp_path / "mt"), str(tmp_path / "mt.onnx")], capsys)
    assert status == 0, err
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"wrote {tmp_path / 'mt-encoder.onnx'} (")
    assert "inputs src, src_lengths -> outputs h0, c0, values, keys, padded" in lines[0]
    assert ("inputs tokens, h, c, feed, values, keys, padded -> outputs logits, h_n, c_n, "
            "feed_n, attention") in lines[1]
