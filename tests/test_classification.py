"""rnnkit.classification: class names, label ids, splits, softmax, the ensemble, and
train_classifier / load_classifier on their own (no app, no run-directory rules)."""

import numpy as np
import pytest

from rnnkit import classification
from rnnkit.classification import (
    Ensemble, TrainConfig, class_names, encode_labels, load_classifier, softmax, split_indices,
    train_classifier,
)
from rnnkit.data.scaling import RowScaler

TINY = TrainConfig(hidden_size=4, epochs=1, batch_size=4, patience=None, val_fraction=0.0)


def test_class_names_sort_numbers_as_numbers_and_strings_as_strings():
    assert class_names(["10", "9", 1, "9"]) == ("1", "9", "10")
    assert class_names(["pos", "neg", "pos"]) == ("neg", "pos")
    with pytest.raises(ValueError, match="empty label"):
        class_names(["a", " "])


def test_encode_labels_maps_to_class_ids_and_refuses_unknown_labels():
    ids = encode_labels(["b", "a", " b"], ("a", "b"))
    assert ids.dtype == np.int64 and ids.tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match=r"label 'c' \(example 1\)"):
        encode_labels(["a", "c"], ("a", "b"))


def test_split_is_seeded_disjoint_and_complete():
    kept, held = split_indices(10, 0.3, seed=0)
    assert len(held) == 3 and len(kept) == 7
    assert sorted(np.concatenate([kept, held]).tolist()) == list(range(10))
    again = split_indices(10, 0.3, seed=0)
    assert kept.tolist() == again[0].tolist() and held.tolist() == again[1].tolist()
    assert split_indices(10, 0.3, seed=1)[1].tolist() != held.tolist()
    assert len(split_indices(5, 0.0, seed=0)[1]) == 0
    with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\)"):
        split_indices(5, 1.0, seed=0)


def test_softmax_is_stable_and_normalised():
    p = softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]]))
    np.testing.assert_allclose(p, [[0.5, 0.5], [0.25, 0.75]])


class _Fixed(classification._Predictions):
    def __init__(self, classes, proba):
        self.classes, self.proba, self.extra = classes, np.array(proba), {}

    def predict_proba(self, examples):
        return self.proba


def test_ensemble_averages_probabilities_and_needs_the_same_classes():
    a = _Fixed(("x", "y"), [[0.9, 0.1], [0.4, 0.6]])
    b = _Fixed(("x", "y"), [[0.3, 0.7], [0.2, 0.8]])
    ensemble = Ensemble([a, b])
    np.testing.assert_allclose(ensemble.predict_proba(None), [[0.6, 0.4], [0.3, 0.7]])
    assert ensemble.predict(None) == [("x", pytest.approx(0.6)), ("y", pytest.approx(0.7))]
    metrics = ensemble.evaluate(None, ["x", "x"])
    assert metrics["accuracy"] == 0.5 and metrics["confusion"] == [[1, 1], [0, 0]]
    assert metrics["loss"] == pytest.approx(-(np.log(0.6) + np.log(0.3)) / 2)
    with pytest.raises(ValueError, match="an ensemble needs the same classes"):
        Ensemble([a, _Fixed(("x", "z"), [[1.0, 0.0]])])


def _images(n=8):
    return np.random.default_rng(0).random((n, 3, 3)), ["a", "b"] * (n // 2)


def test_a_test_label_unseen_in_training_is_refused_before_training(tmp_path):
    images, labels = _images(4)
    calls = []
    with pytest.raises(ValueError, match="label 'c' .* not one of the model's classes"):
        train_classifier(RowScaler, images, labels, TINY, tmp_path, test=(images[:1], ["c"]),
                         progress=False, before_fit=lambda: calls.append(1))
    assert calls == [] and not (tmp_path / "checkpoint.npz").exists()


def test_training_refuses_a_single_class_and_mismatched_lengths():
    images, _ = _images(2)
    with pytest.raises(ValueError, match="at least 2 classes"):
        train_classifier(RowScaler, images, ["a", "a"], TINY)
    with pytest.raises(ValueError, match="got 2 examples but 1 labels"):
        train_classifier(RowScaler, images, ["a"], TINY)


def test_train_without_out_dir_writes_nothing_and_calls_before_fit_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    images, labels = _images()
    calls = []
    classifier, summary = train_classifier(RowScaler, images, labels, TINY, progress=False,
                                           test=(images, labels), before_fit=lambda: calls.append(1))
    assert calls == [1] and list(tmp_path.iterdir()) == []
    assert classifier.classes == ("a", "b") and summary["test"]["n"] == 8
    assert summary["test_proba"].shape == (8, 2) and summary["test_targets"].tolist() == [0, 1] * 4


def test_checkpoint_records_the_callers_extra_and_loads_back(tmp_path):
    images, labels = _images()
    classifier, summary = train_classifier(RowScaler, images, labels, TINY, tmp_path,
                                           test=(images, labels), extra={"dataset": "mine"},
                                           progress=False)
    path = tmp_path / "checkpoint.npz"
    again = load_classifier(path, RowScaler)
    assert again.extra["dataset"] == "mine" and again.extra["test"]["n"] == 8
    assert again.extra["split"] == {"train": 8, "val": 0}
    np.testing.assert_array_equal(again.predict_proba(images), summary["test_proba"])
    assert isinstance(load_classifier([path, path], RowScaler), Ensemble)
    assert isinstance(load_classifier([path], RowScaler), classification.Classifier)


def test_load_classifier_refuses_a_checkpoint_of_another_kind(tmp_path):
    from rnnkit.models import LanguageModel
    from rnnkit.optim import SGD
    from rnnkit.training import TokenStream, Trainer

    model = LanguageModel(5, hidden_size=3, seed=0)
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), TokenStream(np.arange(40) % 5, 2, 4),
                      max_steps=1, out_dir=tmp_path)
    path = trainer.save_checkpoint()
    with pytest.raises(ValueError, match="not of a sequence classifier"):
        load_classifier(path, RowScaler)
