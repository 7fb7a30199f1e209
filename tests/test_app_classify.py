"""What the classification apps share on top of rnnkit.classification (rnnkit/apps/_classify.py):
the run-directory rules, --limit, the flags and their config, loading a model of the right app."""

import numpy as np
import pytest

from rnnkit.apps import _classify
from rnnkit.classification import TrainConfig
from rnnkit.data.scaling import RowScaler

TINY = TrainConfig(hidden_size=2, epochs=1, batch_size=4, patience=None, val_fraction=0.0)


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


def test_overwrite_with_a_bad_test_label_leaves_the_old_model_untouched(tmp_path):
    images = np.zeros((4, 2, 2))
    _classify.train_classifier("imageseq", RowScaler, images, ["a", "b"] * 2, TINY, tmp_path,
                               dataset="x", progress=False)
    before = (tmp_path / "checkpoint.npz").read_bytes()
    with pytest.raises(ValueError, match="label 'c' .* not one of the model's classes"):
        _classify.train_classifier("imageseq", RowScaler, images, ["a", "b"] * 2, TINY, tmp_path,
                                   dataset="x", test=(images[:1], ["c"]), progress=False,
                                   overwrite=True)
    assert (tmp_path / "checkpoint.npz").read_bytes() == before
    with pytest.raises(ValueError, match="already holds a model"):
        _classify.train_classifier("imageseq", RowScaler, images, ["a", "b"] * 2, TINY, tmp_path,
                                   dataset="x", progress=False)


def test_the_checkpoint_names_the_app_and_another_app_cannot_load_it(tmp_path):
    images = np.zeros((4, 2, 2))
    classifier, _ = _classify.train_classifier("imageseq", RowScaler, images, ["a", "b"] * 2, TINY,
                                               tmp_path, dataset="digits", progress=False)
    assert classifier.extra["app"] == "imageseq" and classifier.extra["dataset"] == "digits"
    assert _classify.load_classifier(tmp_path, "imageseq", RowScaler).classes == ("a", "b")
    assert len(_classify.load_classifier([tmp_path] * 2, "imageseq", RowScaler).members) == 2
    with pytest.raises(ValueError, match="trained by `rnnkit imageseq`, not `rnnkit vowels`"):
        _classify.load_classifier([tmp_path, tmp_path], "vowels", RowScaler)


def test_flags_over_the_apps_defaults_make_the_config():
    import argparse

    defaults = TrainConfig(hidden_size=7, epochs=3)
    command = argparse.ArgumentParser()
    _classify.add_train_arguments(command, defaults)
    config = _classify.config_from_args(command.parse_args(["--epochs", "5"]))
    assert config == TrainConfig(hidden_size=7, epochs=5)
    bench = argparse.ArgumentParser()
    _classify.add_benchmark_arguments(bench, defaults)
    assert _classify.config_from_args(bench.parse_args(["--lr", "0.5"])) == TrainConfig(
        hidden_size=7, epochs=3, lr=0.5)
