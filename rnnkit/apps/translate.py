"""``rnnkit translate``: train an encoder-decoder with attention, score it, translate with it.

Three actions, each one library call you can also make from Python::

    rnnkit translate train --out runs/numbers [--dataset numbers --pair fr-en] [--data pairs.tsv]
        -> train(out_dir, ...)              checkpoint.npz (weights, vocabularies, settings),
                                            metrics.jsonl, loss_curve.png; then the test scores
    rnnkit translate eval --model runs/numbers [--data pairs.tsv] [--beam 4]
        -> evaluate(model, ...)             BLEU, chrF (sacrebleu) and exact match
    rnnkit translate translate --model runs/numbers [--beam 4] "vingt et un" ...
        -> load(model).translate(texts)     one translation a line (texts, or lines on stdin)

Data (``rnnkit.data.translation``): ``--dataset numbers`` (default: numbers in words by
num2words, ``--pair fr-en`` or any two of its languages, held-out numbers for val/test),
``ding`` (German-English dictionary phrases and sentences, ``--pair de-en|en-de``) or
``bible`` (Reina-Valera 1909 / King James verse pairs, ``--pair es-en|en-es``), the last
two from Debian packages ``make`` installs; or ``--data pairs.tsv`` (``source<TAB>target``,
UTF-8), split 90/5/5 by a hash of the source. Characters are the default tokens for
numbers, words for the others (``--level``).

Python::

    from rnnkit.apps import translate
    translate.train("runs/numbers", max_minutes=5)
    print(translate.load("runs/numbers").translate(["quatre-vingt-dix-neuf"], beam=4)[0].text)
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from rnnkit.apps._args import (
    add_training_options, non_negative_int, one_line_subparsers, positive_int, probability,
)
from rnnkit.apps._run import (
    check_resumed_source, prepare_out, read_meta, remove_run_files, resume_settings,
    trained_line,
)
from rnnkit.apps._threads import add_threads_option
from rnnkit.errors import InputError
from rnnkit.layers.registry import CELLS
from rnnkit.translation import TranslateConfig, check_config

APP = "translate"
DATASETS = ("numbers", "ding", "bible")
DEFAULT_PAIRS = {"numbers": "fr-en", "ding": "de-en", "bible": "es-en"}
DEFAULT_LEVELS = {"numbers": "char", "ding": "word", "bible": "word", None: "word"}
ATTENTION = ("general", "dot", "additive", "none")
# Settings a resumed run may change; the others are the checkpoint's.
RESUME_MAY_CHANGE = ("epochs", "patience", "max_minutes", "clip")
DEFAULTS = TranslateConfig()


# --------------------------------------------------------------------------- data


def load_pairs(dataset=None, data=None, pair=None, split="train") -> list:
    """The ``split`` of a built-in data set, or of the user's TSV (hash split 90/5/5)."""
    return load_splits(dataset, data, pair, (split,))[split]


def load_splits(dataset=None, data=None, pair=None, splits=("train", "val", "test")) -> dict:
    """``{split: pairs}`` for each of ``splits``; the user's TSV is read once."""
    from rnnkit.data import translation

    if data is not None:
        pairs = translation.read_pairs(data)
        keys = [translation.split_of(source, "user") for source, _ in pairs]
        return {s: [p for p, key in zip(pairs, keys) if key == s] for s in splits}
    dataset = dataset or "numbers"
    pair = pair or DEFAULT_PAIRS[dataset]
    if dataset == "numbers":
        return {s: list(translation.number_pairs(pair, s)) for s in splits}
    if dataset == "ding":
        return {s: list(translation.ding_pairs(s, direction=pair)) for s in splits}
    if dataset == "bible":
        return {s: list(translation.bible_pairs(s, direction=pair)) for s in splits}
    raise InputError(f"--dataset must be one of {DATASETS}, got {dataset!r}")


def _source(dataset, data, pair) -> dict:
    import os
    if data is not None:
        return {"data": os.path.abspath(data)}
    dataset = dataset or "numbers"
    return {"dataset": dataset, "pair": pair or DEFAULT_PAIRS[dataset]}


# --------------------------------------------------------------------------- actions


def train(out_dir, dataset=None, data=None, pair=None, *, resume=False, overwrite=False,
          progress=None, log=print, **options) -> dict:
    """Train a translator into ``out_dir``; returns the trainer's summary with ``test``
    scores (greedy). ``options`` are :class:`~rnnkit.translation.TranslateConfig` fields;
    those left out take its defaults (``level``: characters for numbers, words
    otherwise), or, with ``resume``, the checkpoint's (only ``epochs``, ``patience``,
    ``max_minutes`` and ``clip`` may change)."""
    from rnnkit.data import Vocabulary
    from rnnkit.translation import train_translator

    unknown = set(options) - {f.name for f in dataclasses.fields(TranslateConfig)}
    if unknown:
        raise InputError(f"unknown option(s) {sorted(unknown)}")
    prepare_out(out_dir, APP, resume=resume, overwrite=overwrite)
    vocabularies = None
    if resume:
        extra = read_meta(out_dir, APP)[1]["extra"]
        if dataset is None and data is None and pair is None:
            source = extra["source"]
        else:
            source = _source(dataset, data, pair)
            check_resumed_source(out_dir, extra["source"], source)
        config = TranslateConfig(**resume_settings(extra["settings"], options, RESUME_MAY_CHANGE,
                                                   log))
        vocabularies = (Vocabulary.from_dict(extra["source_vocab"]),
                        Vocabulary.from_dict(extra["target_vocab"]))
    else:
        source = _source(dataset, data, pair)
        level = options.pop("level", None) or DEFAULT_LEVELS[source.get("dataset")]
        config = dataclasses.replace(DEFAULTS, level=level,
                                     **{k: v for k, v in options.items() if v is not None})
    check_config(config)
    splits = load_splits(**source)
    train_pairs, val_pairs, test_pairs = splits["train"], splits["val"], splits["test"]
    if not train_pairs:
        raise InputError("no training pairs (a --data file needs more lines: 90% train)")
    log(f"{'resuming' if resume else 'training'} a {config.num_layers}-layer "
        f"{config.cell.upper()} translator ({config.attention} attention, {config.level} "
        f"tokens) on {source}: {len(train_pairs):,} training / {len(val_pairs):,} "
        f"validation pairs")
    translator, summary = train_translator(
        train_pairs, val_pairs, config, out_dir, extra={"app": APP, "source": source},
        vocabularies=vocabularies, progress=progress, resume=resume,
        before_fit=(lambda: remove_run_files(out_dir)) if overwrite else None)
    if test_pairs:
        summary["test"] = translator.evaluate(test_pairs)
    return summary


def load(model):
    """The :class:`rnnkit.translation.Translator` in a ``train`` directory or checkpoint."""
    from rnnkit.translation import load_translator

    path, _ = read_meta(model, APP)
    return load_translator(path)


def evaluate(model, data=None, split="test", beam=1) -> dict:
    """Scores on the ``split`` of the model's own data, or on every pair of ``data`` (a TSV)."""
    from rnnkit.data.translation import read_pairs

    translator = load(model)
    pairs = read_pairs(data) if data is not None else load_pairs(**translator.extra["source"],
                                                                 split=split)
    return translator.evaluate(pairs, beam=beam)


# --------------------------------------------------------------------------- command line


def build_parser(parser: argparse.ArgumentParser) -> None:
    actions = one_line_subparsers(parser)

    p = actions.add_parser("train", help="train a translator (default: French numbers -> English)",
                           description="Train an encoder-decoder with attention; checkpoint.npz, "
                                       "metrics.jsonl and loss_curve.png go to --out, then the "
                                       "test split is scored.")
    p.add_argument("--out", metavar="DIR", required=True, help="directory for the model (required)")
    _data_options(p, default_text=" (default: numbers)")
    p.add_argument("--pair", metavar="SRC-TGT",
                   help="languages: numbers any two of num2words' (default fr-en); ding de-en or "
                        "en-de; bible es-en or en-es")
    p.add_argument("--level", choices=("char", "word"),
                   help="tokens (default: char for numbers, word otherwise)")
    p.add_argument("--cell", choices=tuple(CELLS), help=f"recurrent cell (default {DEFAULTS.cell})")
    p.add_argument("--embed-size", type=positive_int, metavar="N",
                   help=f"embedding size (default {DEFAULTS.embed_size})")
    p.add_argument("--hidden-size", type=positive_int, metavar="N",
                   help=f"units per layer (default {DEFAULTS.hidden_size})")
    p.add_argument("--num-layers", type=positive_int, metavar="N",
                   help=f"stacked layers (default {DEFAULTS.num_layers})")
    p.add_argument("--bidirectional", action=argparse.BooleanOptionalAction,
                   help="bidirectional encoder (default on)")
    p.add_argument("--attention", choices=ATTENTION,
                   help=f"attention (default {DEFAULTS.attention}; none: Sutskever et al. 2014)")
    p.add_argument("--input-feeding", action=argparse.BooleanOptionalAction,
                   help="feed the previous attentional state to the decoder (default on)")
    p.add_argument("--dropout", type=probability, metavar="P",
                   help=f"dropout in [0, 1) (default {DEFAULTS.dropout})")
    p.add_argument("--label-smoothing", type=probability, metavar="X",
                   help=f"label smoothing in [0, 1) (default {DEFAULTS.label_smoothing})")
    p.add_argument("--schedule", choices=("constant", "cosine"),
                   help="learning rate: constant (default) or warm-up then cosine decay to 0 "
                        "at the last epoch")
    p.add_argument("--warmup-steps", type=non_negative_int, metavar="N",
                   help="linear warm-up steps of the cosine schedule (default 0)")
    add_training_options(p, DEFAULTS, batch_of="pairs", seed_of="weights and shuffling")
    add_threads_option(p)
    p.set_defaults(run=_run_train)

    p = actions.add_parser("eval", help="BLEU, chrF and exact match on a test set",
                           description="Translate a test set and score it with sacrebleu.")
    p.add_argument("--model", metavar="DIR", required=True, help="the --out directory of train")
    p.add_argument("--data", metavar="PAIRS.tsv",
                   help="score every pair of this file (default: the model's test split)")
    p.add_argument("--split", choices=("test", "val"), default="test",
                   help="which split of the model's data (default: test)")
    p.add_argument("--beam", type=positive_int, default=1, metavar="K",
                   help="beam width (default 1: greedy)")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    add_threads_option(p)
    p.set_defaults(run=_run_eval)

    p = actions.add_parser("translate", help="translate texts (arguments, or lines on stdin)",
                           description="Print one translation a line.")
    p.add_argument("texts", nargs="*", metavar="TEXT",
                   help="texts to translate (default: the lines of stdin)")
    p.add_argument("--model", metavar="DIR", required=True, help="the --out directory of train")
    p.add_argument("--beam", type=positive_int, default=1, metavar="K",
                   help="beam width (default 1: greedy)")
    p.add_argument("--plot-attention", metavar="FILE.png",
                   help="draw the first text's attention (default: no plot)")
    add_threads_option(p)
    p.set_defaults(run=_run_translate)


def _data_options(p, default_text) -> None:
    p.add_argument("--dataset", choices=DATASETS, help="built-in data" + default_text)
    p.add_argument("--data", metavar="PAIRS.tsv",
                   help="your pairs, source<TAB>target, UTF-8 (default: --dataset)")


def _run_train(args) -> int:
    names = [f.name for f in dataclasses.fields(TranslateConfig)]
    options = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    if args.dataset is not None and args.data is not None:
        raise InputError("give --dataset or --data, not both")
    summary = train(args.out, args.dataset, args.data, args.pair, resume=args.resume,
                    overwrite=args.overwrite, progress=False if args.quiet else None,
                    log=lambda msg: print(msg, file=sys.stderr), **options)
    print(trained_line(summary))
    if "test" in summary:
        _print_scores(summary["test"])
    print(f"model: {args.out}/checkpoint.npz  (rnnkit translate eval|translate --model {args.out})")
    return 0


def _print_scores(scores) -> None:
    print(f"test: BLEU {scores['bleu']:.2f}  chrF {scores['chrf']:.2f}  exact match "
          f"{scores['exact_match']:.4f}  ({scores['n']} pairs, beam {scores['beam']}, "
          f"{scores['sentences_per_s']:.0f} sentences/s)")


def _run_eval(args) -> int:
    import json
    scores = evaluate(args.model, args.data, split=args.split, beam=args.beam)
    if args.json:
        print(json.dumps({k: v for k, v in scores.items() if k != "examples"}))
    else:
        _print_scores(scores)
        for source, output, reference in scores["examples"]:
            print(f"  {source}  ->  {output}   (reference: {reference})")
    return 0


def _run_translate(args) -> int:
    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise InputError("no text to translate: give TEXT arguments or lines on stdin")
    results = load(args.model).translate(texts, beam=args.beam)
    for result in results:
        print(result.text)
    if args.plot_attention:
        if results[0].attention is None:
            raise InputError("this model has no attention to plot (trained with --attention none)")
        from rnnkit.translation import plot_attention
        plot_attention(results[0], args.plot_attention)
        print(f"wrote {args.plot_attention}", file=sys.stderr)
    return 0
