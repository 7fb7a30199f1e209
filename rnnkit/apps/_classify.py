"""Train, evaluate and predict: the plumbing the many-to-one classification apps share.

The apps ``sentiment``, ``vowels`` and ``imageseq`` differ only in their data:
how raw examples are read and how an *encoder* turns them into model inputs
(token ids ``(L,)`` or features ``(L, D)``). Everything else happens here::

    classes           = sorted distinct training labels (numbers sorted as numbers)
    encoder           = Encoder.fit(train examples)            # vocabulary, or scaling
    train, val        = seeded split of the training examples  # val_fraction held out
    model             = SequenceClassifier(len(classes), **encoder.model_inputs(), **model args)
    Trainer(model, Adam, SequenceBatches(train), SequenceBatches(val),
            patience, max_epochs, max_minutes, clip).fit()    # best weights by val loss
    out_dir/checkpoint.npz   the trainer checkpoint; its ``extra`` holds
                             {"app", "classes", "encoder", "dataset", "test": metrics}

``load_classifier(path)`` rebuilds a :class:`Classifier` (model + encoder +
class names) from that file alone, for ``eval`` and ``predict``; several paths
give an :class:`Ensemble` that averages the models' class probabilities.

An encoder is any class with ``fit(examples)`` (classmethod), ``transform(examples)
-> list of arrays``, ``model_inputs() -> dict`` (``vocab_size``/``embed_size`` or
``input_size``), ``to_dict()`` and ``from_dict(data)`` (classmethod).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from dataclasses import dataclass

import numpy as np

from rnnkit.apps._args import (
    non_negative_float, non_negative_int, positive_float, positive_int, probability,
)
from rnnkit.apps._run import CHECKPOINT, merge_settings, prepare_out, read_meta, remove_run_files
from rnnkit.apps._threads import add_threads_option
from rnnkit.errors import InputError
from rnnkit.layers.registry import CELLS


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


def score(proba: np.ndarray, targets: np.ndarray) -> dict:
    """Metrics of class probabilities ``(N, C)`` against class ids ``(N,)``."""
    predicted = proba.argmax(1)
    C = proba.shape[1]
    confusion = np.zeros((C, C), np.int64)                # rows: true class, columns: predicted
    np.add.at(confusion, (targets, predicted), 1)
    loss = -np.log(np.maximum(proba[np.arange(len(targets)), targets], 1e-12)).mean()
    return {"accuracy": float((predicted == targets).mean()), "loss": float(loss),
            "n": int(len(targets)), "confusion": confusion.tolist()}


@dataclass
class Classifier(_Predictions):
    """A trained model with what it needs to read raw examples and name its outputs."""

    model: object            # rnnkit.models.SequenceClassifier, in eval mode
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


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def load_classifier(path, app: str, encoder_cls):
    """Rebuild the classifier that ``train_classifier`` saved for ``app``; a list of
    several paths gives their :class:`Ensemble`."""
    from rnnkit.training import load_model

    if isinstance(path, (list, tuple)):
        if len(path) == 1:
            return load_classifier(path[0], app, encoder_cls)
        return Ensemble(load_classifier(p, app, encoder_cls) for p in path)
    path, _ = read_meta(path, app)
    model, meta = load_model(path)
    extra = meta.get("extra") or {}
    return Classifier(model, encoder_cls.from_dict(extra["encoder"]), tuple(extra["classes"]), extra)


# -- training ---------------------------------------------------------------------------

@dataclass
class TrainConfig:
    """Model and optimisation settings (the CLI's flags, with each app's defaults)."""

    cell: str = "lstm"
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    pooling: str = "max"
    dropout: float = 0.3
    embed_size: int | None = None       # token inputs only
    embed_dropout: float = 0.0          # token inputs only (sentiment's WordClassifier)
    epochs: int = 10
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.0
    clip: float = 5.0
    patience: int | None = 4
    val_fraction: float = 0.1
    max_minutes: float | None = None
    seed: int = 0

    @classmethod
    def from_args(cls, args) -> "TrainConfig":
        """The flags' values; a command's parser leaves unset flags None over
        ``args.config_defaults`` (the app's defaults), see :func:`add_train_arguments`."""
        given = {name: getattr(args, name) for name in cls.__dataclass_fields__}
        defaults = getattr(args, "config_defaults", None)
        if defaults is None:
            return cls(**given)
        return dataclasses.replace(defaults, **{k: v for k, v in given.items() if v is not None})


# Settings a resumed run may change; the others define the model, the data or the saved
# optimizer state, and a resume refuses a different value.
RESUME_MAY_CHANGE = ("epochs", "clip", "patience", "max_minutes")


def run_config(args, app: str, out_dir) -> TrainConfig:
    """The settings of ``rnnkit <app> train``: the flags over the app's defaults, or, with
    ``--resume``, the flags over the settings saved in ``out_dir``'s checkpoint."""
    if not getattr(args, "resume", False):
        return TrainConfig.from_args(args)
    _, meta = read_meta(out_dir, app)
    saved = (meta.get("extra") or {}).get("train_config") or {}
    given = {name: getattr(args, name) for name in TrainConfig.__dataclass_fields__}
    fixed = {name: "--" + name.replace("_", "-") for name in TrainConfig.__dataclass_fields__
             if name not in RESUME_MAY_CHANGE}
    settings, changed = merge_settings(saved, given, fixed)
    if changed:
        print("resuming with " + ", ".join(f"{k} {saved[k]!r} -> {settings[k]!r}" for k in changed),
              file=sys.stderr)
    return TrainConfig(**settings)


def sequence_classifier(num_classes: int, model_inputs: dict, config: TrainConfig):
    """The default model: :class:`~rnnkit.models.SequenceClassifier` with ``config``'s sizes."""
    from rnnkit.models import SequenceClassifier

    if "vocab_size" in model_inputs:
        model_inputs = dict(model_inputs, embed_size=config.embed_size)
    return SequenceClassifier(num_classes, **model_inputs, hidden_size=config.hidden_size,
                              num_layers=config.num_layers, cell=config.cell,
                              bidirectional=config.bidirectional, dropout=config.dropout,
                              pooling=config.pooling, seed=config.seed)


def train_classifier(app, encoder_cls, examples, labels, config: TrainConfig, out_dir,
                     dataset: str, test=None, progress=None, make_model=None,
                     resume: bool = False, overwrite: bool = False) -> tuple[Classifier, dict]:
    """Fit a classifier for ``app`` on raw ``examples``/``labels``; returns it and a summary.

    ``test``: optional ``(examples, labels)`` evaluated with the best weights at the end.
    ``make_model(num_classes, encoder.model_inputs(), config)``: default
    :func:`sequence_classifier`; the model class must be in ``rnnkit.models.MODELS``
    (``register_model``) so that ``load_model`` can rebuild it.
    ``resume=True`` continues the run in ``out_dir`` exactly where its checkpoint left it
    (same data and settings; ``config.epochs`` counts the whole run, ``max_minutes`` this call).
    An ``out_dir`` that holds a model is refused unless ``resume`` or ``overwrite``.
    The summary has the trainer's summary fields and ``val``/``test`` metrics.
    """
    from rnnkit.optim import AdamW
    from rnnkit.training import SequenceBatches, Trainer

    prepare_out(out_dir, app, resume=resume, overwrite=overwrite)
    if len(examples) != len(labels):
        raise InputError(f"got {len(examples)} examples but {len(labels)} labels")
    if len(examples) < 2:
        raise InputError(f"need at least 2 labelled examples to train, got {len(examples)}")
    classes = class_names(labels)
    if len(classes) < 2:
        raise InputError(f"need at least 2 classes to train a classifier, found only {list(classes)}")
    # check the test labels before training, not after
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
    extra = {"app": app, "classes": list(classes), "encoder": encoder.to_dict(),
             "dataset": dataset, "train_config": vars(config).copy(),
             "split": {"train": int(len(train_idx)), "val": int(len(val_idx))}}
    if overwrite:
        remove_run_files(out_dir)
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
        trainer.save_checkpoint()          # the checkpoint now records the test result too
    return classifier, summary


# -- command line -------------------------------------------------------------------------

def add_train_arguments(parser: argparse.ArgumentParser, defaults: TrainConfig, text: bool = False,
                        command: bool = True, app: str | None = None):
    """The model and optimisation flags every app's ``train`` has, with the app's defaults.

    ``command=True`` (``rnnkit <app> train``): unset flags stay None over
    ``args.config_defaults``, so that ``--resume`` can tell the flags given from the
    ones to restore (:func:`run_config`); adds ``--out``, ``--resume``, ``--overwrite``,
    ``--limit`` and ``--quiet``. ``command=False`` (the benchmark scripts): plain defaults.
    """
    def default(name):
        value = getattr(defaults, name)
        if command:
            return None
        return value

    def shown(name, what=""):
        value = getattr(defaults, name)
        value = "per data set" if value is None and name in ("epochs", "batch_size", "patience") \
            else value
        return f"{what}{' ' if what else ''}(default: {value})"

    if command:
        parser.set_defaults(config_defaults=defaults)
    model = parser.add_argument_group("model")
    model.add_argument("--cell", choices=tuple(CELLS), default=default("cell"),
                       help=shown("cell", "recurrent cell"))
    model.add_argument("--hidden-size", type=positive_int, default=default("hidden_size"),
                       metavar="N", help=shown("hidden_size", "units per layer and direction"))
    model.add_argument("--num-layers", type=positive_int, default=default("num_layers"),
                       metavar="N", help=shown("num_layers", "stacked recurrent layers"))
    model.add_argument("--bidirectional", action=argparse.BooleanOptionalAction,
                       default=default("bidirectional"), help=shown("bidirectional"))
    model.add_argument("--pooling", choices=("last", "mean", "max"), default=default("pooling"),
                       help=shown("pooling", "how the per-step outputs become one vector"))
    model.add_argument("--dropout", type=probability, default=default("dropout"), metavar="P",
                       help=shown("dropout", "dropout in [0, 1)"))
    if text:
        model.add_argument("--embed-size", type=positive_int, default=default("embed_size"),
                           metavar="N", help=shown("embed_size", "word-vector size"))
        model.add_argument("--embed-dropout", type=probability, default=default("embed_dropout"),
                           metavar="P", help=shown("embed_dropout", "dropout on the word vectors"))
    else:
        parser.set_defaults(embed_size=None, embed_dropout=None if command else 0.0)
    fit = parser.add_argument_group("training")
    fit.add_argument("--epochs", type=positive_int, default=default("epochs"), metavar="N",
                     help=shown("epochs", "passes over the training examples"))
    fit.add_argument("--batch-size", type=positive_int, default=default("batch_size"), metavar="N",
                     help=shown("batch_size", "examples per step"))
    fit.add_argument("--lr", type=positive_float, default=default("lr"), metavar="X",
                     help=shown("lr", "AdamW learning rate"))
    fit.add_argument("--weight-decay", type=non_negative_float, default=default("weight_decay"),
                     metavar="X", help=shown("weight_decay", "AdamW weight decay"))
    fit.add_argument("--clip", type=positive_float, default=default("clip"), metavar="X",
                     help=shown("clip", "clip the global gradient norm"))
    fit.add_argument("--patience", type=positive_int, default=default("patience"), metavar="N",
                     help=shown("patience", "stop after N epochs without a better validation loss"))
    fit.add_argument("--val-fraction", type=probability, default=default("val_fraction"),
                     metavar="P", help=shown("val_fraction", "share of the training examples "
                                                             "held out for validation"))
    fit.add_argument("--max-minutes", type=positive_float, default=default("max_minutes"),
                     metavar="X", help=shown("max_minutes", "wall-time budget of this call"))
    fit.add_argument("--seed", type=non_negative_int, default=default("seed"), metavar="S",
                     help=shown("seed", "weights, split and shuffling seed"))
    out_default = f"runs/{app}" if app else "runs/APP"
    fit.add_argument("--out", default=None, metavar="DIR",
                     help=f"output directory (default: {out_default})")
    if command:
        fit.add_argument("--limit", type=positive_int, default=None, metavar="N",
                         help="train on the first N training examples only (a quick try)")
        fit.add_argument("--quiet", action="store_true", help="no progress bar")
        fit.add_argument("--resume", action="store_true",
                         help="continue the run in --out from its checkpoint; flags not given "
                              "keep their saved values")
        fit.add_argument("--overwrite", action="store_true",
                         help="replace a model already in --out (default: refuse)")
        add_threads_option(fit)


def add_model_argument(parser, default: str) -> None:
    """``--model PATH`` (repeatable: several models predict as their :class:`Ensemble`)."""
    parser.add_argument("--model", action="append", default=None, metavar="PATH",
                        help=f"checkpoint or training directory (default: {default}); give it "
                             f"several times to average the predictions of several models")
    parser.set_defaults(model_default=default)
    add_threads_option(parser)


def model_paths(args) -> list:
    return args.model or [args.model_default]


def limit(examples, labels, n):
    if n is None:
        return examples, labels
    if n < 2:
        raise InputError(f"--limit must be at least 2, got {n}")
    return examples[:n], labels[:n]


def report_training(app, summary, out_dir) -> None:
    """Print what training did, in a few lines."""
    val, test = summary.get("val"), summary.get("test")
    print(f"trained {summary['step']} steps ({summary['epoch']} epochs, "
          f"{summary['elapsed_s']:.0f} s, stopped by {summary['stop_reason']}); "
          f"best weights from step {summary['best_step']}")
    if val:
        print(f"validation accuracy {val['accuracy']:.4f} ({val['n']} examples)")
    if test:
        print(f"test accuracy       {test['accuracy']:.4f} ({test['n']} examples)")
    print(f"model: {os.path.join(out_dir, CHECKPOINT)}  (rnnkit {app} eval|predict --model {out_dir})")


def report_evaluation(metrics, classes, as_json=False) -> None:
    if as_json:
        print(json.dumps({k: metrics[k] for k in ("accuracy", "loss", "n")} | {"classes": list(classes)}))
        return
    print(f"accuracy {metrics['accuracy']:.4f}  loss {metrics['loss']:.4f}  ({metrics['n']} examples)")
    width = max(len(c) for c in classes)
    print("confusion matrix (rows: true class, columns: predicted, in the order listed):")
    for name, row in zip(classes, metrics["confusion"]):
        print(f"  {name:>{width}}  " + " ".join(f"{v:5d}" for v in row))


def report_predictions(predictions, names=None) -> None:
    for n, (label, p) in enumerate(predictions):
        prefix = f"{names[n]}\t" if names is not None else ""
        print(f"{prefix}{label}\t{p:.4f}")


# -- benchmarks (bench/sentiment.py, bench/vowels.py, bench/imageseq.py) ---------------------

def benchmark(name: str, train_fn, config: TrainConfig, seeds, references: dict, goal: float,
              out_root: str) -> dict:
    """Train once per seed with ``train_fn(config=..., out_dir=...)``; print a markdown
    table and one JSON line; return the JSON record. With several seeds the table also
    gives the accuracy of their :class:`Ensemble` (mean of the seed models' probabilities).

    ``references``: published accuracies by name, printed beside the result.
    """
    import dataclasses
    import platform
    import time

    runs, probas = [], []
    for seed in seeds:
        cfg = dataclasses.replace(config, seed=seed)
        start = time.perf_counter()
        _, summary = train_fn(config=cfg, out_dir=os.path.join(out_root, f"seed{seed}"),
                              progress=False)
        runs.append({"seed": seed, "test_accuracy": summary["test"]["accuracy"],
                     "val_accuracy": summary["val"]["accuracy"] if "val" in summary else None,
                     "test_n": summary["test"]["n"], "epochs": summary["epoch"],
                     "steps": summary["step"], "stop_reason": summary["stop_reason"],
                     "best_step": summary["best_step"],
                     "train_s": round(summary["elapsed_s"], 1),
                     "wall_s": round(time.perf_counter() - start, 1)})
        probas.append(summary["test_proba"])
        targets = summary["test_targets"]
    ensemble = score(np.mean(probas, axis=0), targets)["accuracy"] if len(probas) > 1 else None
    accuracies = [r["test_accuracy"] for r in runs]
    model = (f"{'bi-' if config.bidirectional else ''}{config.cell.upper()} "
             f"{config.num_layers}x{config.hidden_size}, {config.pooling}-pool"
             + (f", emb {config.embed_size}" if config.embed_size else "")
             + (f" (dropout {config.embed_dropout})" if config.embed_dropout else ""))
    print(f"\n### {name}: {model}\n")
    print("| seed | epochs | stopped by | train time (s) | val acc | test acc |")
    print("|---:|---:|---|---:|---:|---:|")
    for r in runs:
        val = "—" if r["val_accuracy"] is None else f"{r['val_accuracy']:.4f}"
        print(f"| {r['seed']} | {r['epochs']} | {r['stop_reason']} | {r['train_s']:.0f} | "
              f"{val} | **{r['test_accuracy']:.4f}** |")
    if ensemble is not None:
        print(f"| ensemble of the {len(runs)} | | | | | **{ensemble:.4f}** |")
    mean = float(np.mean(accuracies))
    print(f"\nsingle-model test accuracy: mean {mean:.4f}, min {min(accuracies):.4f}, "
          f"max {max(accuracies):.4f} over {len(runs)} seed(s); goal >= {goal:.3f}: "
          f"{'met' if mean >= goal else 'MISSED'}")
    if ensemble is not None:
        print(f"ensemble test accuracy: {ensemble:.4f}; goal {'met' if ensemble >= goal else 'MISSED'}")
    for ref, value in references.items():
        print(f"  reference {ref}: {value:.3f}")
    record = {"bench": name, "model": model, "config": vars(config).copy(),
              "test_accuracy_mean": mean, "test_accuracy_min": min(accuracies),
              "test_accuracy_max": max(accuracies), "goal": goal, "goal_met": mean >= goal,
              "ensemble_test_accuracy": ensemble, "references": references, "runs": runs,
              "machine": f"{platform.machine()} {os.cpu_count()} cpu",
              "threads": os.environ.get("OMP_NUM_THREADS") or os.environ.get("OPENBLAS_NUM_THREADS")}
    print(json.dumps(record))
    return record


def add_benchmark_arguments(parser, defaults: TrainConfig, text=False):
    """The benchmark scripts' flags: the app's training flags plus ``--seeds``."""
    add_train_arguments(parser, defaults, text=text, command=False)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="one training run per seed")
