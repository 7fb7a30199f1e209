"""``rnnkit imageseq``: image recognition with a recurrent network, one pixel row per time step.

An ``H x W`` image is a sequence of ``H`` steps of ``W`` features (pixel values
divided by the largest value in the training images, so they lie in [0, 1]).
A bidirectional GRU reads the rows and a Linear layer reads its outputs
max-pooled over time (see :mod:`rnnkit.classification`; the scaling is
:class:`rnnkit.data.scaling.RowScaler`).

Data (``--dataset``):

* ``digits`` (default): scikit-learn's 1,797 8x8 digits, a fixed seeded 80/20
  train/test split (``split_seed=0``: 1,438 / 359).
* ``fashion-mnist``: Fashion-MNIST 28x28, 60,000 train / 10,000 test, from the
  Debian package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``).
* ``--data FILE``: the user's ``.npz`` (arrays ``images`` (N, H, W), ``labels`` (N,))
  or IDX images file with its labels file beside it.

Python::

    from rnnkit.apps import imageseq
    classifier, summary = imageseq.train(dataset="digits", out_dir="runs/imageseq")
"""

from __future__ import annotations

import dataclasses

from rnnkit.apps import _classify
from rnnkit.apps._args import one_line_subparsers
from rnnkit.classification import Classifier, TrainConfig, split_indices
from rnnkit.data.images import (FASHION_CLASSES, FASHION_DIR, load_digits_images,
                                load_fashion_mnist, read_image_file)
from rnnkit.data.scaling import RowScaler
from rnnkit.errors import InputError

APP = "imageseq"
DATASETS = ("digits", "fashion-mnist")
SPLIT_SEED = 0               # the fixed 80/20 split of the digits; independent of the model seed
DIGITS_TEST_FRACTION = 0.2
DEFAULTS = TrainConfig(cell="gru", hidden_size=128, bidirectional=True, pooling="max",
                       dropout=0.2, epochs=15, batch_size=128, lr=2e-3, weight_decay=0.0,
                       clip=5.0, patience=3, val_fraction=0.1)
# The 1,438 digits need smaller batches and more epochs than Fashion-MNIST's 60,000 images.
DATASET_DEFAULTS = {"digits": dict(batch_size=32, epochs=40, patience=5),
                    "fashion-mnist": dict(batch_size=128, epochs=15, patience=3)}


def defaults_for(dataset: str) -> TrainConfig:
    """The training settings used for ``dataset`` (DEFAULTS, adjusted per data set)."""
    return dataclasses.replace(DEFAULTS, **DATASET_DEFAULTS.get(dataset, {}))


def resolve(config: TrainConfig, dataset: str) -> TrainConfig:
    """Fill the settings the command line left unset (None) from :func:`defaults_for`."""
    base = defaults_for(dataset)
    return dataclasses.replace(config, **{k: getattr(base, k) for k in DATASET_DEFAULTS["digits"]
                                          if getattr(config, k) is None})


# command-line defaults: the per-data-set settings stay None until --dataset is known
UNSET_PER_DATASET = dataclasses.replace(DEFAULTS, **{k: None for k in DATASET_DEFAULTS["digits"]})


# -- data -------------------------------------------------------------------------------

def load_images(dataset="digits", split="train", data=None, fashion_dir=FASHION_DIR):
    """``(images (N, H, W), labels)`` of a built-in data set's split, or of the user's file."""
    if data is not None:
        images, labels = read_image_file(data)
        return images, [str(v) for v in labels.tolist()]
    if dataset not in DATASETS:
        raise InputError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if split not in ("train", "test"):
        raise InputError(f"split must be 'train' or 'test', got {split!r}")
    if dataset == "fashion-mnist":
        images, labels = load_fashion_mnist(split, fashion_dir)
        return images, [FASHION_CLASSES[k] for k in labels]
    images, labels = load_digits_images()
    train_idx, test_idx = split_indices(len(images), DIGITS_TEST_FRACTION, SPLIT_SEED)
    chosen = train_idx if split == "train" else test_idx
    return images[chosen], [str(v) for v in labels[chosen]]


# -- the three actions --------------------------------------------------------------------

def train(dataset="digits", *, data=None, test_data=None, out_dir="runs/imageseq",
          config: TrainConfig | None = None, limit=None, progress=None,
          resume=False, overwrite=False, fashion_dir=FASHION_DIR):
    """Train on a built-in data set's training split (or the user's file) and test on its
    test split (or ``test_data``). ``config`` defaults to ``defaults_for(dataset)``.
    Returns ``(classifier, summary)``."""
    config = defaults_for(dataset) if config is None else config
    images, labels = _classify.limit(*load_images(dataset, "train", data, fashion_dir), limit)
    if data is None:
        test = load_images(dataset, "test", None, fashion_dir)
    elif test_data is not None:
        test = load_images(data=test_data)
    else:
        test = None
    return _classify.train_classifier(APP, RowScaler, images, labels, config, out_dir,
                                      dataset=dataset if data is None else str(data),
                                      test=test, progress=progress, resume=resume,
                                      overwrite=overwrite)


def load(model) -> Classifier:
    return _classify.load_classifier(model, APP, RowScaler)


def evaluate(model, data=None, fashion_dir=FASHION_DIR) -> dict:
    """Accuracy of a trained model on the test split of the data set it was trained on,
    or on the user's file."""
    classifier = load(model)
    return classifier.evaluate(*_eval_images(classifier, data, fashion_dir))


def predict(model, data) -> list[tuple[str, float]]:
    """``(label, probability)`` of each image in an .npz/IDX file (its labels are ignored)."""
    images, _ = read_image_file(data, require_labels=False)
    return load(model).predict(images)


def _eval_images(classifier, data, fashion_dir):
    if data is not None:
        return load_images(data=data)
    dataset = classifier.extra.get("dataset")
    if dataset not in DATASETS:
        raise InputError("this model was not trained on a built-in data set; pass --data FILE")
    return load_images(dataset, "test", None, fashion_dir)


# -- command line -------------------------------------------------------------------------

def build_parser(parser):
    actions = one_line_subparsers(parser)
    p = actions.add_parser("train", help="train a classifier (default: the 8x8 digits)")
    p.add_argument("--dataset", choices=DATASETS, default="digits",
                   help="built-in data set (default: digits)")
    _classify.add_data_arguments(
        p, "your images: .npz (images, labels) or IDX file (default: the --dataset's images)",
        "the built-in test split, or none with --data", [])
    p.add_argument("--fashion-dir", default=str(FASHION_DIR),
                   help="where the Fashion-MNIST .gz files are (default: %(default)s)")
    _classify.add_train_arguments(p, UNSET_PER_DATASET, app=APP)
    p.set_defaults(run=_run_train)

    p = actions.add_parser("eval", help="accuracy of a trained model (default: its data set's test split)")
    _classify.add_model_argument(p, "runs/imageseq")
    p.add_argument("--data", default=None,
                   help="your images: .npz (images, labels) or IDX file (default: the model's "
                        "data set's test split)")
    p.add_argument("--fashion-dir", default=str(FASHION_DIR),
                   help="where the Fashion-MNIST .gz files are (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    p.set_defaults(run=_run_eval)

    p = actions.add_parser("predict", help="the class of each image in a file")
    p.add_argument("data", metavar="FILE", help=".npz (images[, labels]) or IDX images file")
    _classify.add_model_argument(p, "runs/imageseq")
    p.set_defaults(run=_run_predict)


def _run_train(args):
    out = args.out or "runs/imageseq"
    _, summary = train(args.dataset, data=args.data, test_data=args.test_data, out_dir=out,
                       config=resolve(_classify.run_config(args, APP, out), args.dataset), limit=args.limit,
                       progress=False if args.quiet else None,
                       resume=args.resume, overwrite=args.overwrite, fashion_dir=args.fashion_dir)
    _classify.report_training(APP, summary, out)


def _run_eval(args):
    classifier = load(_classify.model_paths(args))
    metrics = classifier.evaluate(*_eval_images(classifier, args.data, args.fashion_dir))
    _classify.report_evaluation(metrics, classifier.classes, args.json)


def _run_predict(args):
    predictions = predict(_classify.model_paths(args), args.data)
    _classify.report_predictions(predictions, names=[str(n) for n in range(len(predictions))])


__all__ = ["train", "evaluate", "predict", "load", "load_images", "RowScaler", "DEFAULTS",
           "defaults_for"]
