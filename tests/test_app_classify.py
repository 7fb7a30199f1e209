"""The plumbing shared by the classification apps: class names, label ids, splits, softmax."""

import numpy as np
import pytest

from rnnkit.apps import _classify


def test_class_names_sort_numbers_as_numbers_and_strings_as_strings():
    assert _classify.class_names(["10", "9", 1, "9"]) == ("1", "9", "10")
    assert _classify.class_names(["pos", "neg", "pos"]) == ("neg", "pos")
    with pytest.raises(ValueError, match="empty label"):
        _classify.class_names(["a", " "])


def test_encode_labels_maps_to_class_ids_and_refuses_unknown_labels():
    ids = _classify.encode_labels(["b", "a", " b"], ("a", "b"))
    assert ids.dtype == np.int64 and ids.tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match=r"label 'c' \(example 1\)"):
        _classify.encode_labels(["a", "c"], ("a", "b"))


def test_split_is_seeded_disjoint_and_complete():
    kept, held = _classify.split_indices(10, 0.3, seed=0)
    assert len(held) == 3 and len(kept) == 7
    assert sorted(np.concatenate([kept, held]).tolist()) == list(range(10))
    again = _classify.split_indices(10, 0.3, seed=0)
    assert kept.tolist() == again[0].tolist() and held.tolist() == again[1].tolist()
    assert _classify.split_indices(10, 0.3, seed=1)[1].tolist() != held.tolist()
    assert len(_classify.split_indices(5, 0.0, seed=0)[1]) == 0
    with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\)"):
        _classify.split_indices(5, 1.0, seed=0)


def test_softmax_is_stable_and_normalised():
    p = _classify.softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]]))
    np.testing.assert_allclose(p, [[0.5, 0.5], [0.25, 0.75]])


def test_checkpoint_path_accepts_a_directory_and_explains_a_missing_model(tmp_path):
    from rnnkit.apps._run import checkpoint_path

    (tmp_path / "checkpoint.npz").write_bytes(b"")
    assert checkpoint_path(tmp_path, "vowels") == tmp_path / "checkpoint.npz"
    with pytest.raises(FileNotFoundError, match="no model at .*give the --out directory of "
                                                "`rnnkit vowels train`"):
        checkpoint_path(tmp_path / "nothing", "vowels")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no checkpoint.npz.*rnnkit vowels train"):
        checkpoint_path(tmp_path / "empty", "vowels")


def test_limit_takes_the_first_examples_and_refuses_fewer_than_two():
    assert _classify.limit([1, 2, 3], ["a", "b", "c"], 2) == ([1, 2], ["a", "b"])
    assert _classify.limit([1, 2, 3], ["a", "b", "c"], None) == ([1, 2, 3], ["a", "b", "c"])
    with pytest.raises(ValueError, match="--limit must be at least 2"):
        _classify.limit([1, 2], ["a", "b"], 1)


class _Fixed(_classify._Predictions):
    def __init__(self, classes, proba):
        self.classes, self.proba, self.extra = classes, np.array(proba), {}

    def predict_proba(self, examples):
        return self.proba


def test_ensemble_averages_probabilities_and_needs_the_same_classes():
    a = _Fixed(("x", "y"), [[0.9, 0.1], [0.4, 0.6]])
    b = _Fixed(("x", "y"), [[0.3, 0.7], [0.2, 0.8]])
    ensemble = _classify.Ensemble([a, b])
    np.testing.assert_allclose(ensemble.predict_proba(None), [[0.6, 0.4], [0.3, 0.7]])
    assert ensemble.predict(None) == [("x", pytest.approx(0.6)), ("y", pytest.approx(0.7))]
    metrics = ensemble.evaluate(None, ["x", "x"])
    assert metrics["accuracy"] == 0.5 and metrics["confusion"] == [[1, 1], [0, 0]]
    assert metrics["loss"] == pytest.approx(-(np.log(0.6) + np.log(0.3)) / 2)
    with pytest.raises(ValueError, match="an ensemble needs the same classes"):
        _classify.Ensemble([a, _Fixed(("x", "z"), [[1.0, 0.0]])])


def test_a_test_label_unseen_in_training_is_refused_before_training(tmp_path):
    from rnnkit.apps import imageseq

    images = np.zeros((4, 2, 2))
    config = _classify.TrainConfig(hidden_size=2, epochs=1, patience=None, val_fraction=0.0)
    with pytest.raises(ValueError, match="label 'c' .* not one of the model's classes"):
        _classify.train_classifier("imageseq", imageseq.RowScaler, images, ["a", "b"] * 2, config,
                                   tmp_path, dataset="x", test=(images[:1], ["c"]), progress=False)
    assert not (tmp_path / "checkpoint.npz").exists()
