"""``rnnkit sentiment``: a sentence in, its polarity out (many-to-one text classification).

Model (:class:`rnnkit.models.WordClassifier`): word embeddings -> dropout ->
bidirectional LSTM -> max over time -> dropout -> Linear, trained with cross-entropy
(see :mod:`rnnkit.classification`). Words come from
:func:`rnnkit.data.word_tokenize` (lower-cased); the vocabulary
(:class:`rnnkit.data.text_encoder.TextEncoder`) holds the training words seen at least
``min_count`` times, the rest map to ``<unk>``. With ``embeddings="glove"`` the embedding
starts from the GloVe 6B 50-d vectors (:mod:`rnnkit.data.glove`, the pinned wheel that
``make`` fetches), and the vocabulary also keeps the training words seen once that have
a vector (:class:`~rnnkit.data.text_encoder.PretrainedTextEncoder`); with
``freeze_embeddings`` the vectors stay as they are, otherwise they are fine-tuned.

Default data: the movie-review polarity sentences (MR, 10,605; see
:mod:`rnnkit.data.sentiment`) with a fixed seeded 90/10 train/test split
(``split_seed=0``: 9,545 train, 1,060 test); validation is held out of the 90%.
User data: a CSV/TSV with text and label columns (any number of classes).

Python::

    from rnnkit.apps import sentiment
    classifier, summary = sentiment.train(out_dir="runs/sentiment")
    sentiment.predict("runs/sentiment", ["a gripping, beautifully acted film"])
"""

from __future__ import annotations

from rnnkit.apps import _classify
from rnnkit.apps._args import one_line_subparsers
from rnnkit.classification import Classifier, TrainConfig, split_indices, take
from rnnkit.data.sentiment import MR_CLASSES, load_movie_reviews, read_labeled_texts
from rnnkit.data.glove import GLOVE_DIM, embedding_matrix
from rnnkit.data.text_encoder import PretrainedTextEncoder, TextEncoder
from rnnkit.errors import InputError
from rnnkit.models import WordClassifier

APP = "sentiment"
DATASET = "mr"
SPLIT_SEED = 0            # the fixed 90/10 split of MR; independent of the model seed
TEST_FRACTION = 0.1
# chosen on the validation split (docs/classification.md, section a): GloVe vectors,
# fine-tuned, with entry dropout 0.25 on them and weight drop 0.3 on W_hh
DEFAULTS = TrainConfig(cell="lstm", hidden_size=128, bidirectional=True, pooling="max",
                       dropout=0.5, embeddings="glove", freeze_embeddings=False, embed_size=50,
                       embed_dropout=0.25, word_dropout=0.0, weight_drop=0.3, epochs=20,
                       batch_size=50, lr=1e-3, weight_decay=0.0, clip=5.0, patience=2,
                       val_fraction=0.1)


def make_model(num_classes: int, model_inputs: dict, config: TrainConfig) -> WordClassifier:
    """The app's model: a :class:`~rnnkit.models.WordClassifier` with ``config``'s sizes;
    with ``config.embeddings == "glove"`` its embedding starts from the GloVe vectors
    (:func:`rnnkit.data.glove.embedding_matrix` of ``model_inputs["vocab"]``)."""
    glove = _check_embeddings(config)
    model = WordClassifier(num_classes, model_inputs["vocab_size"],
                           embed_size=config.embed_size or (GLOVE_DIM if glove else 128),
                           embed_dropout=config.embed_dropout, hidden_size=config.hidden_size,
                           num_layers=config.num_layers, cell=config.cell,
                           bidirectional=config.bidirectional, dropout=config.dropout,
                           pooling=config.pooling, freeze_embeddings=config.freeze_embeddings,
                           word_dropout=config.word_dropout, weight_drop=config.weight_drop,
                           seed=config.seed)
    if glove:
        weights, _ = embedding_matrix(model_inputs["vocab"], seed=config.seed)
        model.embedding.weight.data[...] = weights                       # (V, 50)
    return model


def _check_embeddings(config: TrainConfig) -> bool:
    """True for GloVe vectors; refuses a size they do not have."""
    if config.embeddings not in (None, "random", "glove"):
        raise InputError(f"embeddings must be 'random' or 'glove', got {config.embeddings!r}")
    glove = config.embeddings == "glove"
    if glove and config.embed_size not in (None, GLOVE_DIM):
        raise InputError(f"GloVe vectors have {GLOVE_DIM} dimensions; leave --embed-size out "
                         f"or set it to {GLOVE_DIM} (got {config.embed_size})")
    return glove


def encoder_class(config: TrainConfig):
    """The text encoder of ``config``: with GloVe, one whose vocabulary keeps the training
    words that have a vector even when seen once."""
    return PretrainedTextEncoder if _check_embeddings(config) else TextEncoder


# -- data ------------------------------------------------------------------------------

def load_mr_split(split: str):
    """MR's fixed 90/10 split: ``(texts, labels)`` of ``split`` ("train" 9,545 or "test" 1,060)."""
    if split not in ("train", "test"):
        raise InputError(f"split must be 'train' or 'test', got {split!r}")
    texts, labels = load_movie_reviews()
    train_idx, test_idx = split_indices(len(texts), TEST_FRACTION, SPLIT_SEED)
    chosen = train_idx if split == "train" else test_idx
    return take(texts, chosen), take(labels, chosen)


def load_texts(data=None, split="train", text_column="text", label_column="label"):
    """The default MR split when ``data`` is None, else the user's CSV/TSV file."""
    if data is None:
        return load_mr_split(split)
    return read_labeled_texts(data, text_column, label_column)


# -- the three actions ----------------------------------------------------------------------

def train(data=None, *, test_data=None, text_column="text", label_column="label",
          out_dir="runs/sentiment", config: TrainConfig = DEFAULTS, limit=None, progress=None,
          resume=False, overwrite=False):
    """Train on MR's 90% (or the user's file) and test on MR's 10% (or ``test_data``).

    Returns ``(classifier, summary)``; the model is saved to ``out_dir/checkpoint.npz``.
    """
    texts, labels = _classify.limit(*load_texts(data, "train", text_column, label_column), limit)
    if data is None:
        test = load_mr_split("test")
    elif test_data is not None:
        test = read_labeled_texts(test_data, text_column, label_column)
    else:
        test = None
    return _classify.train_classifier(APP, encoder_class(config), texts, labels, config, out_dir,
                                      dataset=DATASET if data is None else str(data),
                                      test=test, progress=progress, make_model=make_model, resume=resume,
                                      overwrite=overwrite)


def load(model) -> Classifier:
    """The classifier saved by :func:`train` (a checkpoint file or its directory; a list of
    several gives their :class:`~rnnkit.classification.Ensemble`)."""
    return _classify.load_classifier(model, APP, TextEncoder)


def evaluate(model, data=None, text_column="text", label_column="label") -> dict:
    """Accuracy etc. of a trained model on MR's test split or on the user's file."""
    classifier = load(model)
    if data is None and classifier.extra.get("dataset") != DATASET:
        raise InputError("this model was not trained on the default data; pass --data FILE")
    return classifier.evaluate(*load_texts(data, "test", text_column, label_column))


def predict(model, texts) -> list[tuple[str, float]]:
    """``(label, probability)`` for each text."""
    return load(model).predict(list(texts))


# -- command line ---------------------------------------------------------------------------

def build_parser(parser):
    actions = one_line_subparsers(parser)
    p = actions.add_parser("train", help="train a classifier (default: movie-review polarity, MR)")
    _data_arguments(p, test=True)
    _classify.add_train_arguments(p, DEFAULTS, text=True, app=APP)
    p.set_defaults(run=_run_train)

    p = actions.add_parser("eval", help="accuracy of a trained model (default: MR's test split)")
    _classify.add_model_argument(p, "runs/sentiment")
    _data_arguments(p)
    p.add_argument("--json", action="store_true", help="print one JSON line")
    p.set_defaults(run=_run_eval)

    p = actions.add_parser("predict", help="label and probability of each text")
    p.add_argument("texts", nargs="+", metavar="TEXT")
    _classify.add_model_argument(p, "runs/sentiment")
    p.set_defaults(run=_run_predict)


def _data_arguments(p, test=False):
    _classify.add_data_arguments(
        p, "CSV/TSV file with a header row (default: the MR sentences)",
        "MR's test split, or none with --data" if test else None,
        [("--text-column", "text", "text column of --data"),
         ("--label-column", "label", "label column of --data")])


def _run_train(args):
    out = args.out or "runs/sentiment"
    _, summary = train(args.data, test_data=args.test_data, text_column=args.text_column,
                       label_column=args.label_column, out_dir=out,
                       config=_classify.run_config(args, APP, out), limit=args.limit,
                       progress=False if args.quiet else None,
                       resume=args.resume, overwrite=args.overwrite)
    _classify.report_training(APP, summary, out)


def _run_eval(args):
    classifier = load(_classify.model_paths(args))
    if args.data is None and classifier.extra.get("dataset") != DATASET:
        raise InputError("this model was not trained on the default data; pass --data FILE")
    metrics = classifier.evaluate(*load_texts(args.data, "test", args.text_column, args.label_column))
    _classify.report_evaluation(metrics, classifier.classes, args.json)


def _run_predict(args):
    # one text: "label<TAB>probability"; several: each line starts with its text
    names = args.texts if len(args.texts) > 1 else None
    _classify.report_predictions(predict(_classify.model_paths(args), args.texts), names=names)


__all__ = ["train", "evaluate", "predict", "load", "load_mr_split", "TextEncoder", "DEFAULTS",
           "MR_CLASSES"]
