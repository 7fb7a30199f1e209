"""Classify whole sequences from raw examples: train, evaluate, predict, save and load.

The apps ``sentiment``, ``vowels`` and ``imageseq`` differ only in their data: how
raw examples are read and how an *encoder* turns them into model inputs (token ids
``(L,)`` or features ``(L, D)``). Everything else happens here::

    classes           = sorted distinct training labels (numbers sorted as numbers)
    encoder           = Encoder.fit(train examples)            # vocabulary, or scaling
    train, val        = seeded split of the training examples  # val_fraction held out
    model             = SequenceClassifier(len(classes), **encoder.model_inputs(), **sizes)
    Trainer(model, AdamW, SequenceBatches(train), SequenceBatches(val),
            patience, max_epochs, max_minutes, clip).fit()    # best weights by val loss
    out_dir/checkpoint.npz   the trainer checkpoint; its ``extra`` holds
                             {"classes", "encoder", "train_config", "split", "test": metrics}
                             and what the caller adds (the apps: "app", "dataset")

:func:`load_classifier` rebuilds a :class:`Classifier` (model + encoder + class names)
from that file alone; several files give an :class:`Ensemble` that averages the
models' class probabilities.

An encoder is any class with ``fit(examples)`` (classmethod), ``transform(examples)
-> list of arrays``, ``model_inputs() -> dict`` (``vocab_size`` or ``input_size``),
``to_dict()`` and ``from_dict(data)`` (classmethod); rnnkit's are
:class:`rnnkit.data.text_encoder.TextEncoder` and the scalers of :mod:`rnnkit.data.scaling`.

Why one module here, above :mod:`rnnkit.models` and :mod:`rnnkit.training`, rather than
a piece in each: a classifier is the model, its encoder and its class names together
(the encoder feeds the model, the class names decode its output, the checkpoint's
``extra`` carries both). Split up, the training package would have to know about
encoders and label names, which nothing else it trains has. The command-line flags,
reports and run-directory rules stay in ``rnnkit/apps/_classify.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.errors import InputError
from rnnkit.functional import softmax


# -- labels and splits -----------------------------------------------------------------

def class_names(labels) -> tuple[str, ...]:
    """The distinct labels as strings, sorted (numerically when all are integers)."""
    distinct = {str(label).strip() for label in labels}
    if not distinct or "" in distinct:
        raise InputError("labels must be non-empty strings or numbers; found an empty label")
    try:
        return tuple(sorted(distinct, key=int))
    except ValueError:
        return tuple(sorted(distinct))


def encode_labels(labels, classes) -> np.ndarray:
    """Class ids ``(N,)`` int64 of ``labels`` in ``classes``; ValueError for an unknown label."""
    index = {c: i for i, c in enumerate(classes)}
    ids = np.empty(len(labels), np.int64)
    for n, label in enumerate(labels):
        key = str(label).strip()
        if key not in index:
            raise InputError(f"label {key!r} (example {n}) is not one of the model's classes {list(classes)}")
        ids[n] = index[key]
    return ids


def split_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``range(n)``: ``(kept, held_out)`` with ``round(fraction * n)`` held out.

    Both parts are in the seeded random order (so their first items are a random sample)."""
    if not 0.0 <= fraction < 1.0:
        raise InputError(f"fraction must be in [0, 1), got {fraction}")
    order = np.random.default_rng(seed).permutation(n)
    held = int(round(fraction * n))
    return order[held:], order[:held]


def take(items, indices):
    """``items[indices]`` for a list or an array."""
    if isinstance(items, np.ndarray):
        return items[indices]
    return [items[i] for i in indices]


# -- the trained classifier ---------------------------------------------------------------

def score(proba: np.ndarray, targets: np.ndarray) -> dict:
    """Metrics of class probabilities ``(N, C)`` against class ids ``(N,)``."""
    predicted = proba.argmax(1)
    C = proba.shape[1]
    confusion = np.zeros((C, C), np.int64)                # rows: true class, columns: predicted
    np.add.at(confusion, (targets, predicted), 1)
    loss = -np.log(np.maximum(proba[np.arange(len(targets)), targets], 1e-12)).mean()
    return {"accuracy": float((predicted == targets).mean()), "loss": float(loss),
            "n": int(len(targets)), "confusion": confusion.tolist()}


class _Predictions:
    """``predict`` and ``evaluate`` from a subclass's ``predict_proba`` and ``classes``."""

    def predict(self, examples) -> list[tuple[str, float]]:
        """``(label, probability)`` of the most probable class of each example."""
        proba = self.predict_proba(examples)
        best = proba.argmax(1)
        return [(self.classes[k], float(proba[n, k])) for n, k in enumerate(best)]

    def evaluate(self, examples, labels) -> dict:
        """Accuracy, mean cross-entropy, count and confusion matrix on labelled examples."""
        targets = encode_labels(labels, self.classes)
        return score(self.predict_proba(examples), targets)


@dataclass
class Classifier(_Predictions):
    """A trained model with what it needs to read raw examples and name its outputs."""

    model: object            # e.g. rnnkit.models.SequenceClassifier, in eval mode
    encoder: object
    classes: tuple
    extra: dict

    def predict_proba(self, examples, batch_size: int = 256) -> np.ndarray:
        """Class probabilities ``(N, C)`` for raw examples (softmax of the logits)."""
        from rnnkit.module import no_grad
        from rnnkit.training import SequenceBatches

        inputs = self.encoder.transform(examples)
        if len(inputs) == 0:
            raise InputError("no examples to classify")
        data = SequenceBatches(inputs, np.zeros(len(inputs), np.int64), batch_size, shuffle=False)
        self.model.eval()
        rows = []
        with no_grad():
            for batch in data:
                logits = self.model.forward(batch.inputs, lengths=batch.lengths)    # (B, C)
                rows.append(softmax(logits.astype(np.float64)))
        return np.concatenate(rows)


class Ensemble(_Predictions):
    """Several classifiers of the same classes (e.g. trained with different seeds);
    the class probabilities are the mean of theirs."""

    def __init__(self, members):
        members = list(members)
        if not members:
            raise InputError("an ensemble needs at least one classifier")
        for n, member in enumerate(members[1:], start=1):
            if member.classes != members[0].classes:
                raise InputError(f"model {n} has classes {list(member.classes)}, model 0 has "
                                 f"{list(members[0].classes)}; an ensemble needs the same classes")
        self.members = members
        self.classes = members[0].classes
        self.extra = members[0].extra

    def predict_proba(self, examples) -> np.ndarray:
        return np.mean([m.predict_proba(examples) for m in self.members], axis=0)    # (N, C)


def load_classifier(path, encoder_cls):
    """Rebuild the classifier :func:`train_classifier` saved in the checkpoint file ``path``
    (its encoder is an ``encoder_cls``); a list of several paths gives their :class:`Ensemble`."""
    from rnnkit.training import load_model

    if isinstance(path, (list, tuple)):
        if len(path) == 1:
            return load_classifier(path[0], encoder_cls)
        return Ensemble(load_classifier(p, encoder_cls) for p in path)
    model, meta = load_model(path)
    extra = meta.get("extra") or {}
    if "encoder" not in extra or "classes" not in extra:
        raise InputError(f"{str(path)!r} is an rnnkit checkpoint but not of a sequence classifier "
                         f"(its extra has no 'encoder' and 'classes')")
    return Classifier(model, encoder_cls.from_dict(extra["encoder"]), tuple(extra["classes"]), extra)


# -- training ---------------------------------------------------------------------------

@dataclass
class TrainConfig:
    """Model and optimisation settings (the apps' ``train`` flags, with each app's defaults)."""

    cell: str = "lstm"
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    pooling: str = "max"
    dropout: float = 0.3
    embed_size: int | None = None       # token inputs only
    embed_dropout: float = 0.0          # token inputs only (rnnkit.models.WordClassifier)
    embeddings: str | None = None       # token inputs only: "random" or "glove" (the sentiment app)
    freeze_embeddings: bool = False     # token inputs only: train the embedding table or not
    word_dropout: float = 0.0           # token inputs only: drop whole words (WordClassifier)
    weight_drop: float = 0.0            # token inputs only: DropConnect on W_hh (WordClassifier)
    epochs: int = 10
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.0
    clip: float = 5.0
    patience: int | None = 4
    val_fraction: float = 0.1
    max_minutes: float | None = None
    seed: int = 0


def sequence_classifier(num_classes: int, model_inputs: dict, config: TrainConfig):
    """The default model: :class:`~rnnkit.models.SequenceClassifier` with ``config``'s sizes."""
    from rnnkit.models import SequenceClassifier

    if "vocab_size" in model_inputs:
        model_inputs = dict(model_inputs, embed_size=config.embed_size)
    return SequenceClassifier(num_classes, **model_inputs, hidden_size=config.hidden_size,
                              num_layers=config.num_layers, cell=config.cell,
                              bidirectional=config.bidirectional, dropout=config.dropout,
                              pooling=config.pooling, seed=config.seed)


def train_classifier(encoder_cls, examples, labels, config: TrainConfig | None = None,
                     out_dir=None, *, test=None, extra=None, make_model=None, progress=None,
                     resume: bool = False, before_fit=None) -> tuple[Classifier, dict]:
    """Fit a classifier on raw ``examples``/``labels``; returns it and a summary.

    Parameters
    ----------
    encoder_cls : the encoder class, fitted on the training part of ``examples``.
    examples, labels : lists (or arrays) of the same length; at least 2 classes.
    config : :class:`TrainConfig` (default ``TrainConfig()``).
    out_dir : where the trainer writes ``checkpoint.npz``, ``metrics.jsonl`` and
        ``loss_curve.png`` (nothing is written without it).
    test : optional ``(examples, labels)`` evaluated with the best weights at the end
        (its labels are checked before training).
    extra : dict, optional; JSON-native values saved in the checkpoint's ``extra`` too.
    make_model : ``make_model(num_classes, encoder.model_inputs(), config)``, default
        :func:`sequence_classifier`; the model class must be known to
        ``rnnkit.models.model_class`` (``register_model``) so that ``load_model`` can
        rebuild it.
    resume : continue the run in ``out_dir`` exactly where its checkpoint left it (same
        data and settings; ``config.epochs`` counts the whole run, ``max_minutes`` this call).
    before_fit : callable, optional; called once every input is checked and the model
        built, right before training starts (the apps clear an old run's files there).

    Returns
    -------
    classifier, summary : the :class:`Classifier` with the best weights, and the trainer's
        summary plus ``val``/``test`` metrics (and ``test_proba (N_test, C)``,
        ``test_targets (N_test,)`` with ``test``).
    """
    from rnnkit.optim import AdamW
    from rnnkit.training import SequenceBatches, Trainer

    config = TrainConfig() if config is None else config
    if len(examples) != len(labels):
        raise InputError(f"got {len(examples)} examples but {len(labels)} labels")
    if len(examples) < 2:
        raise InputError(f"need at least 2 labelled examples to train, got {len(examples)}")
    classes = class_names(labels)
    if len(classes) < 2:
        raise InputError(f"need at least 2 classes to train a classifier, found only {list(classes)}")
    targets_test = None if test is None else encode_labels(test[1], classes)
    train_idx, val_idx = split_indices(len(examples), config.val_fraction, config.seed)
    encoder = encoder_cls.fit(take(examples, train_idx))
    inputs = encoder.transform(examples)
    targets = encode_labels(labels, classes)
    train = SequenceBatches(take(inputs, train_idx), targets[train_idx], config.batch_size,
                            seed=config.seed)
    val = (SequenceBatches(take(inputs, val_idx), targets[val_idx], 256, shuffle=False)
           if len(val_idx) else None)
    model = (make_model or sequence_classifier)(len(classes), encoder.model_inputs(), config)
    optimizer = AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    extra = {**(extra or {}), "classes": list(classes), "encoder": encoder.to_dict(),
             "train_config": vars(config).copy(),
             "split": {"train": int(len(train_idx)), "val": int(len(val_idx))}}
    if before_fit is not None:
        before_fit()
    trainer = Trainer(model, optimizer, train, val, max_epochs=config.epochs,
                      max_minutes=config.max_minutes, clip_grad_norm=config.clip,
                      patience=config.patience if val is not None else None,
                      out_dir=out_dir, progress=progress, extra=extra)
    summary = trainer.fit(resume=resume)
    model.load_state_dict(trainer.best_state_dict())
    model.eval()
    classifier = Classifier(model, encoder, classes, extra)
    if val is not None:
        summary["val"] = classifier.evaluate(take(examples, val_idx), take(labels, val_idx))
    if test is not None:
        summary["test_proba"] = classifier.predict_proba(test[0])          # (N_test, C)
        summary["test"] = score(summary["test_proba"], targets_test)
        summary["test_targets"] = targets_test
        extra["test"] = {k: summary["test"][k] for k in ("accuracy", "loss", "n")}
        trainer.extra = extra
        if out_dir is not None:
            trainer.save_checkpoint()      # the checkpoint now records the test result too
    return classifier, summary


__all__ = ["TrainConfig", "Classifier", "Ensemble", "train_classifier", "load_classifier",
           "sequence_classifier", "class_names", "encode_labels", "split_indices", "take",
           "score", "softmax"]
