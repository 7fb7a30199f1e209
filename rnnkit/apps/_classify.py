"""What ``rnnkit sentiment|vowels|imageseq`` share on top of :mod:`rnnkit.classification`.

The library (the classifier, the ensemble, ``train_classifier``, ``TrainConfig``) is
:mod:`rnnkit.classification`; this module adds what the commands need around it:

* the run-directory rules of ``rnnkit/apps/_run.py`` (:func:`train_classifier` refuses
  an ``--out`` holding a model unless ``--resume`` or ``--overwrite``;
  :func:`load_classifier` refuses a model another app trained);
* the ``train`` flags (:func:`add_train_arguments`) and how ``--resume`` merges them
  with the saved settings (:func:`run_config`); ``--model`` (repeatable: an ensemble);
* the printed reports, and the benchmark table of ``bench/*.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

import numpy as np

from rnnkit import classification
from rnnkit.apps._args import (
    non_negative_float, non_negative_int, positive_float, positive_int, probability,
)
from rnnkit.apps._run import CHECKPOINT, prepare_out, read_meta, remove_run_files, resume_settings
from rnnkit.apps._threads import add_threads_option
from rnnkit.classification import TrainConfig
from rnnkit.errors import InputError
from rnnkit.layers.registry import CELLS


# -- the library under the run-directory rules -------------------------------------------

def train_classifier(app, encoder_cls, examples, labels, config: TrainConfig, out_dir,
                     dataset: str, test=None, progress=None, make_model=None,
                     resume: bool = False, overwrite: bool = False):
    """:func:`rnnkit.classification.train_classifier` for ``rnnkit <app> train``.

    An ``out_dir`` that holds a model is refused unless ``resume`` or ``overwrite``
    (its run files are then removed once every input is checked). The checkpoint's
    ``extra`` records ``app`` and ``dataset`` too. Returns ``(classifier, summary)``.
    """
    prepare_out(out_dir, app, resume=resume, overwrite=overwrite)
    return classification.train_classifier(
        encoder_cls, examples, labels, config, out_dir, test=test,
        extra={"app": app, "dataset": dataset}, make_model=make_model, progress=progress,
        resume=resume, before_fit=(lambda: remove_run_files(out_dir)) if overwrite else None)


def load_classifier(path, app: str, encoder_cls):
    """:func:`rnnkit.classification.load_classifier` of a model ``app`` trained: ``path`` is
    its training directory or checkpoint; a list of several gives their ensemble."""
    if isinstance(path, (list, tuple)):
        return classification.load_classifier([read_meta(p, app)[0] for p in path], encoder_cls)
    return classification.load_classifier(read_meta(path, app)[0], encoder_cls)


# -- command line -------------------------------------------------------------------------

def config_from_args(args) -> TrainConfig:
    """The flags' values; a command's parser leaves unset flags None over
    ``args.config_defaults`` (the app's defaults), see :func:`add_train_arguments`."""
    given = _given(args)
    defaults = getattr(args, "config_defaults", None)
    if defaults is None:
        return TrainConfig(**given)
    return dataclasses.replace(defaults, **{k: v for k, v in given.items() if v is not None})


def _given(args) -> dict:
    return {name: getattr(args, name) for name in TrainConfig.__dataclass_fields__}


# Settings a resumed run may change; the others define the model, the data or the saved
# optimizer state, and a resume refuses a different value.
RESUME_MAY_CHANGE = ("epochs", "clip", "patience", "max_minutes")


def run_config(args, app: str, out_dir) -> TrainConfig:
    """The settings of ``rnnkit <app> train``: the flags over the app's defaults, or, with
    ``--resume``, the flags over the settings saved in ``out_dir``'s checkpoint."""
    if not getattr(args, "resume", False):
        return config_from_args(args)
    _, meta = read_meta(out_dir, app)
    saved = (meta.get("extra") or {}).get("train_config") or {}
    return TrainConfig(**resume_settings(saved, _given(args), RESUME_MAY_CHANGE,
                                         lambda message: print(message, file=sys.stderr)))


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
        model.add_argument("--embeddings", choices=("random", "glove"), default=default("embeddings"),
                           help=shown("embeddings", "initial word vectors: small random ones, or "
                                                    "GloVe 6B 50-d"))
        model.add_argument("--freeze-embeddings", action=argparse.BooleanOptionalAction,
                           default=default("freeze_embeddings"),
                           help=shown("freeze_embeddings", "keep the word vectors as initialised"))
        model.add_argument("--word-dropout", type=probability, default=default("word_dropout"),
                           metavar="P", help=shown("word_dropout", "drop whole words"))
        model.add_argument("--weight-drop", type=probability, default=default("weight_drop"),
                           metavar="P", help=shown("weight_drop", "DropConnect on the recurrent "
                                                                  "weights"))
    else:
        parser.set_defaults(embed_size=None, embed_dropout=None if command else 0.0,
                            embeddings=None, freeze_embeddings=None if command else False,
                            word_dropout=None if command else 0.0,
                            weight_drop=None if command else 0.0)
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
                         help="train on the first N training examples only, a quick try (default: all)")
        fit.add_argument("--quiet", action="store_true", help="no progress bar")
        fit.add_argument("--resume", action="store_true",
                         help="continue the run in --out from its checkpoint; flags not given "
                              "keep their saved values")
        fit.add_argument("--overwrite", action="store_true",
                         help="replace a model already in --out (default: refuse)")
        add_threads_option(fit)


def add_data_arguments(parser, data_help: str, test_default: str | None, columns) -> None:
    """``--data``, ``--test-data`` (when ``test_default`` says what is tested without it)
    and the column flags ``(flag, default, what)`` of an app's own files."""
    parser.add_argument("--data", default=None, help=data_help)
    if test_default is not None:
        parser.add_argument("--test-data", default=None,
                            help=f"a second file to test on after training (default: {test_default})")
    for flag, default, what in columns:
        parser.add_argument(flag, default=default, help=f"{what} (default: %(default)s)")


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
    ensemble = classification.score(np.mean(probas, axis=0), targets)["accuracy"] if len(probas) > 1 else None
    accuracies = [r["test_accuracy"] for r in runs]
    model = (f"{'bi-' if config.bidirectional else ''}{config.cell.upper()} "
             f"{config.num_layers}x{config.hidden_size}, {config.pooling}-pool"
             + (f", emb {config.embed_size}" if config.embed_size else "")
             + (f" (dropout {config.embed_dropout})" if config.embed_dropout else "")
             + (f", {config.embeddings} vectors{' frozen' if config.freeze_embeddings else ''}"
                if config.embeddings else "")
             + (f", word dropout {config.word_dropout}" if config.word_dropout else "")
             + (f", weight drop {config.weight_drop}" if config.weight_drop else ""))
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
