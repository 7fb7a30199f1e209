"""``rnnkit vowels``: classify multivariate sequences of speech features (JapaneseVowels).

Each example is a ``(T_i, D)`` sequence of feature frames (JapaneseVowels: 7–29
frames of 12 LPC cepstrum coefficients; the class is the speaker, 1–9). Features
are standardised with the mean and standard deviation of every training frame,
then a bidirectional GRU reads the frames and a Linear layer reads the maximum of its
outputs over time (see :mod:`rnnkit.classification`;
the scaling is :class:`rnnkit.data.scaling.StandardScaler`).

Default data: the UCI train (270) / test (370) split, read from the pinned sktime
wheel. User data: a ``.ts`` file or a long-format ``.csv``/``.tsv`` (one row per
frame: sequence id, label, feature columns), see :mod:`rnnkit.data.speech`.

Python::

    from rnnkit.apps import vowels
    classifier, summary = vowels.train(out_dir="runs/vowels")
    print(summary["test"]["accuracy"])
"""

from __future__ import annotations

from rnnkit.apps import _classify
from rnnkit.apps._args import one_line_subparsers
from rnnkit.classification import Classifier, TrainConfig
from rnnkit.data.scaling import StandardScaler
from rnnkit.data.speech import load_japanese_vowels, read_sequence_file
from rnnkit.errors import InputError

APP = "vowels"
DATASET = "japanese-vowels"
# Chosen by 5-fold cross-validation on the 270 training sequences (bench/vowels_select.py,
# seeds 0-2; the test set is not read there): a bidirectional GRU, max over time, trained on
# all of the training set for 40 epochs (no held-out part, so no early stopping).
DEFAULTS = TrainConfig(cell="gru", hidden_size=64, bidirectional=True, pooling="max",
                       dropout=0.4, epochs=40, batch_size=16, lr=3e-3, weight_decay=0.05,
                       clip=5.0, patience=None, val_fraction=0.0)


# -- data -------------------------------------------------------------------------------

def load_sequences(data=None, split="train", id_column="id", label_column="label"):
    """JapaneseVowels' ``split`` when ``data`` is None, else the user's .ts/.csv file."""
    if data is None:
        return load_japanese_vowels(split)
    return read_sequence_file(data, id_column, label_column)


# -- the three actions --------------------------------------------------------------------

def train(data=None, *, test_data=None, id_column="id", label_column="label",
          out_dir="runs/vowels", config: TrainConfig = DEFAULTS, limit=None, progress=None,
          resume=False, overwrite=False):
    """Train on JapaneseVowels' training set (or the user's file), test on its test set
    (or ``test_data``). Returns ``(classifier, summary)``."""
    sequences, labels = _classify.limit(*load_sequences(data, "train", id_column, label_column), limit)
    if data is None:
        test = load_japanese_vowels("test")
    elif test_data is not None:
        test = read_sequence_file(test_data, id_column, label_column)
    else:
        test = None
    return _classify.train_classifier(APP, StandardScaler, sequences, labels, config, out_dir,
                                      dataset=DATASET if data is None else str(data),
                                      test=test, progress=progress, resume=resume,
                                      overwrite=overwrite)


def load(model) -> Classifier:
    return _classify.load_classifier(model, APP, StandardScaler)


def evaluate(model, data=None, id_column="id", label_column="label") -> dict:
    classifier = load(model)
    _check_default_data(classifier, data)
    return classifier.evaluate(*load_sequences(data, "test", id_column, label_column))


def predict(model, data, id_column="id", label_column="label") -> list[tuple[str, float]]:
    """``(label, probability)`` for each sequence of a .ts/.csv file (its labels are ignored)."""
    sequences, _ = read_sequence_file(data, id_column, label_column)
    return load(model).predict(sequences)


def _check_default_data(classifier, data):
    if data is None and classifier.extra.get("dataset") != DATASET:
        raise InputError("this model was not trained on the default data; pass --data FILE")


# -- command line -------------------------------------------------------------------------

def build_parser(parser):
    actions = one_line_subparsers(parser)
    p = actions.add_parser("train", help="train a classifier (default: JapaneseVowels)")
    _data_arguments(p, test=True)
    _classify.add_train_arguments(p, DEFAULTS, app=APP)
    p.set_defaults(run=_run_train)

    p = actions.add_parser("eval", help="accuracy of a trained model (default: the 370 test sequences)")
    _classify.add_model_argument(p, "runs/vowels")
    _data_arguments(p)
    p.add_argument("--json", action="store_true", help="print one JSON line")
    p.set_defaults(run=_run_eval)

    p = actions.add_parser("predict", help="the class of each sequence in a file")
    p.add_argument("data", metavar="FILE", help=".ts or long-format .csv/.tsv (labels may be any placeholder)")
    _classify.add_model_argument(p, "runs/vowels")
    p.add_argument("--id-column", default="id",
                   help="sequence-id column of a .csv (default: %(default)s)")
    p.add_argument("--label-column", default="label",
                   help="label column of a .csv, any placeholder (default: %(default)s)")
    p.set_defaults(run=_run_predict)


def _data_arguments(p, test=False):
    _classify.add_data_arguments(
        p, ".ts file or long-format .csv/.tsv (default: JapaneseVowels)",
        "the 370 test sequences, or none with --data" if test else None,
        [("--id-column", "id", "sequence-id column of a .csv"),
         ("--label-column", "label", "label column of a .csv")])


def _run_train(args):
    out = args.out or "runs/vowels"
    _, summary = train(args.data, test_data=args.test_data, id_column=args.id_column,
                       label_column=args.label_column, out_dir=out,
                       config=_classify.run_config(args, APP, out), limit=args.limit,
                       progress=False if args.quiet else None,
                       resume=args.resume, overwrite=args.overwrite)
    _classify.report_training(APP, summary, out)


def _run_eval(args):
    classifier = load(_classify.model_paths(args))
    _check_default_data(classifier, args.data)
    metrics = classifier.evaluate(*load_sequences(args.data, "test", args.id_column, args.label_column))
    _classify.report_evaluation(metrics, classifier.classes, args.json)


def _run_predict(args):
    # each line starts with the sequence's name: its id in a .csv/.tsv, its index in a .ts
    sequences, _, ids = read_sequence_file(args.data, args.id_column, args.label_column,
                                           with_ids=True)
    predictions = load(_classify.model_paths(args)).predict(sequences)
    names = ids if ids is not None else [str(n) for n in range(len(predictions))]
    _classify.report_predictions(predictions, names=names)


__all__ = ["train", "evaluate", "predict", "load", "StandardScaler", "DEFAULTS"]
