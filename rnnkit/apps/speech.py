"""``rnnkit speech``: train a CTC speech recogniser, score it, transcribe WAV files.

Three actions, each one library call you can also make from Python::

    rnnkit speech train --out runs/speech [--data FOLDER] [--max-minutes M]
        -> train(out_dir, ...)              checkpoint.npz (weights, n-gram model, settings),
                                            metrics.jsonl, loss_curve.png; then the test scores
    rnnkit speech eval --model runs/speech [--dataset asterisk] [--data FOLDER] [--beam 8]
        -> evaluate(model, ...)             WER, CER, word accuracy (jiwer)
    rnnkit speech transcribe --model runs/speech [--beam 8] a.wav b.wav
        -> load(model).transcribe(audios)   one ``file<TAB>transcript`` line per file

Data (``rnnkit.data.speech_corpus``): without ``--data``, speech synthesised on this
machine by espeak-ng, flite and festival (connected digit strings and ten command words,
many voices, speeds and pitches; the test split's voices are never heard in training),
and, for evaluation only, the Asterisk prompts (a human speaker: ``--dataset asterisk``
every prompt in the model's words, ``asterisk-digits`` zero to nine and "oh"; the test
set) and saytime's digits (another human speaker, ``saytime-digits``; the development
set), all from Debian packages ``make`` installs. ``--data FOLDER``: your WAV files with ``transcripts.tsv``
(``file<TAB>text``), split 90/5/5 by a hash of the file's name in the folder.

Python::

    from rnnkit.apps import speech
    speech.train("runs/speech", max_minutes=10)
    print(speech.load("runs/speech").transcribe([audio_at_8khz])[0])
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from rnnkit.apps._args import (
    add_training_options, non_negative_float, non_negative_int, one_line_subparsers,
    positive_int, probability,
)
from rnnkit.apps._run import (
    check_resumed_source, prepare_out, read_meta, remove_run_files, resume_settings,
    trained_line,
)
from rnnkit.apps._threads import add_threads_option
from rnnkit.errors import InputError
from rnnkit.speech import DEFAULT_LM, LM_KEYS, SpeechConfig, check_config

APP = "speech"
DATASETS = ("synthetic", "asterisk", "asterisk-digits", "saytime-digits")
SYNTHETIC_SIZES = {"train": 6000, "val": 300, "test": 300}
CORPUS_SEED = 0                        # the synthetic corpus is one fixed data set
RESUME_MAY_CHANGE = ("epochs", "patience", "max_minutes", "clip")
DEFAULTS = SpeechConfig()


# --------------------------------------------------------------------------- data


def load_splits(dataset=None, data=None, splits=("train", "val", "test"),
                train_size=None, festival=False) -> dict:
    """``{split: utterances}``: the synthetic corpus's splits (``festival``: with festival's
    voices in train and val), or the user's folder's (hash split 90/5/5); the Asterisk and
    saytime sets are one test set (every split the same)."""
    from rnnkit.data import speech_corpus

    if data is not None:
        from rnnkit.data.translation import split_of

        utterances = speech_corpus.read_transcribed_folder(data)
        # the file's name in the folder, not its path: moving the folder keeps the split
        keys = [split_of(os.path.relpath(u.source, data), "speech") for u in utterances]
        return {s: [u for u, key in zip(utterances, keys) if key == s] for s in splits}
    dataset = dataset or "synthetic"
    if dataset == "synthetic":
        sizes = dict(SYNTHETIC_SIZES, **({"train": train_size} if train_size else {}))
        corpus_split = {"train": "train", "val": "valid", "test": "test"}
        return {s: speech_corpus.synthetic_corpus(corpus_split[s], sizes[s], seed=CORPUS_SEED,
                                                  festival=festival)
                for s in splits}
    if dataset in ("asterisk", "asterisk-digits", "saytime-digits"):
        corpus = {"asterisk": speech_corpus.asterisk_corpus,
                  "asterisk-digits": speech_corpus.asterisk_digits,
                  "saytime-digits": speech_corpus.saytime_digits}[dataset]()  # read once
        return {s: corpus for s in splits}
    raise InputError(f"--dataset must be one of {DATASETS}, got {dataset!r}")


def _source(data, train_size) -> dict:
    import os
    if data is not None:
        return {"data": os.path.abspath(data)}
    return {"dataset": "synthetic", "train_size": train_size or SYNTHETIC_SIZES["train"]}


def _dev_sets() -> dict:
    """The human development set (saytime's digits) where it is installed (else none)."""
    from rnnkit.data import speech_corpus
    from rnnkit.errors import MissingFileError

    try:
        return {"saytime-digits": speech_corpus.saytime_digits()}
    except MissingFileError:
        return {}


def _human_sets() -> dict:
    """The Asterisk test sets where the recordings are installed (else none)."""
    from rnnkit.data import speech_corpus
    from rnnkit.errors import MissingFileError

    try:
        return {"asterisk-digits": speech_corpus.asterisk_digits(),
                "asterisk": speech_corpus.asterisk_corpus()}
    except MissingFileError:
        return {}


# --------------------------------------------------------------------------- actions


def train(out_dir, data=None, *, train_size=None, resume=False, overwrite=False,
          progress=None, log=print, **options) -> dict:
    """Train a recogniser into ``out_dir``; returns the trainer's summary with ``test``
    scores (best path) on the test split and, for the synthetic default, on the Asterisk
    recordings where installed. ``options`` are :class:`~rnnkit.speech.SpeechConfig`
    fields; with ``resume``, the checkpoint's settings hold (only ``epochs``,
    ``patience``, ``max_minutes`` and ``clip`` may change)."""
    from rnnkit.speech import train_recognizer

    unknown = set(options) - {f.name for f in dataclasses.fields(SpeechConfig)}
    if unknown:
        raise InputError(f"unknown option(s) {sorted(unknown)}")
    prepare_out(out_dir, APP, resume=resume, overwrite=overwrite)
    if resume:
        extra = read_meta(out_dir, APP)[1]["extra"]
        source = extra["source"]
        if data is not None or train_size is not None:
            check_resumed_source(out_dir, source, _source(data, train_size))
        config = SpeechConfig(**resume_settings(extra["settings"], options, RESUME_MAY_CHANGE,
                                                log))
    else:
        source = _source(data, train_size)
        config = dataclasses.replace(DEFAULTS, **{k: v for k, v in options.items()
                                                  if v is not None})
    check_config(config)
    splits = load_splits(source.get("dataset"), source.get("data"),
                         train_size=source.get("train_size"), festival=config.festival_voices)
    if not splits["train"]:
        raise InputError("no training utterances (a --data folder needs more files: 90% train)")
    log(f"{'resuming' if resume else 'training'} a {config.num_layers}-layer "
        f"{'bidirectional ' if config.bidirectional else ''}{config.cell.upper()} CTC model on "
        f"{source}: {len(splits['train']):,} training / {len(splits['val']):,} validation "
        f"utterances")
    recognizer, summary = train_recognizer(
        splits["train"], splits["val"], config, out_dir, extra={"app": APP, "source": source},
        progress=progress, resume=resume, log=log,
        before_fit=(lambda: remove_run_files(out_dir)) if overwrite else None)
    test_sets = {"test": splits["test"]} if splits["test"] else {}
    if "dataset" in source:
        test_sets.update(_human_sets())
    summary["test"] = {name: recognizer.evaluate(utterances)
                       for name, utterances in test_sets.items()}
    return summary


def load(model):
    """The :class:`rnnkit.speech.Recognizer` in a ``train`` directory or checkpoint; a
    list of several gives their :class:`~rnnkit.speech.EnsembleRecognizer`."""
    from rnnkit.speech import load_recognizer

    models = list(model) if isinstance(model, (list, tuple)) else [model]
    return load_recognizer([read_meta(m, APP)[0] for m in models])


def evaluate(model, dataset=None, data=None, split="test", beam=1, lm_weight=0.5,
             lm=None) -> dict:
    """Scores on ``dataset``, on every utterance of the folder ``data``, or (neither) on
    the ``split`` of the model's own data."""
    from rnnkit.data.speech_corpus import read_transcribed_folder

    recognizer = load(model)
    if data is not None:
        utterances = read_transcribed_folder(data)
    elif dataset is not None:
        utterances = load_splits(dataset, splits=(split,))[split]
    else:
        source = recognizer.extra["source"]
        utterances = load_splits(source.get("dataset"), source.get("data"), splits=(split,),
                                 train_size=source.get("train_size"),
                                 festival=recognizer.config.festival_voices)[split]
    return recognizer.evaluate(utterances, beam=beam, lm_weight=lm_weight, lm=lm)


def transcribe_files(model, paths, beam=1, lm_weight=0.5, lm=None) -> list[str]:
    """The transcripts of WAV files (any rate, depth and channel count)."""
    from rnnkit.audio import read_wav
    from rnnkit.data.tts import SAMPLE_RATE

    recognizer = load(model)                                   # a wrong --model is named first
    audios = [read_wav(path, SAMPLE_RATE) for path in paths]
    return recognizer.transcribe(audios, beam=beam, lm_weight=lm_weight, lm=lm,
                                 names=[repr(str(path)) for path in paths])


# --------------------------------------------------------------------------- command line


def build_parser(parser: argparse.ArgumentParser) -> None:
    actions = one_line_subparsers(parser)

    p = actions.add_parser("train", help="train a recogniser (default: synthesised digits and "
                                         "commands)",
                           description="Train a bidirectional recurrent CTC model; checkpoint.npz, "
                                       "metrics.jsonl and loss_curve.png go to --out, then the "
                                       "test split (and the Asterisk recordings) are scored.")
    p.add_argument("--out", metavar="DIR", required=True, help="directory for the model (required)")
    p.add_argument("--data", metavar="FOLDER",
                   help="your WAV files and transcripts.tsv (file<TAB>text) (default: speech "
                        "synthesised with espeak-ng and flite)")
    p.add_argument("--train-size", type=positive_int, metavar="N",
                   help=f"synthetic training utterances (default {SYNTHETIC_SIZES['train']})")
    from rnnkit.layers.registry import CELLS
    p.add_argument("--cell", choices=tuple(CELLS), help=f"recurrent cell (default {DEFAULTS.cell})")
    p.add_argument("--hidden-size", type=positive_int, metavar="N",
                   help=f"units per layer and direction (default {DEFAULTS.hidden_size})")
    p.add_argument("--num-layers", type=positive_int, metavar="N",
                   help=f"stacked layers (default {DEFAULTS.num_layers})")
    p.add_argument("--bidirectional", action=argparse.BooleanOptionalAction,
                   help="bidirectional layers (default on)")
    p.add_argument("--subsample", type=positive_int, metavar="K",
                   help=f"frames stacked per recurrent step (default {DEFAULTS.subsample})")
    p.add_argument("--dropout", type=probability, metavar="P",
                   help=f"dropout between layers in [0, 1) (default {DEFAULTS.dropout})")
    p.add_argument("--n-mels", type=positive_int, metavar="N",
                   help=f"log-mel bands (default {DEFAULTS.n_mels})")
    p.add_argument("--normalization", choices=("speech", "utterance"),
                   help="feature mean/variance over the speech frames, log energies floored "
                        "50 dB below the loudest, or over every frame (default "
                        f"{DEFAULTS.normalization})")
    p.add_argument("--festival-voices", action=argparse.BooleanOptionalAction,
                   help="festival's ked and slt-hts voices speak a quarter of the synthetic "
                        "train/val (default off)")
    p.add_argument("--vtlp", action=argparse.BooleanOptionalAction,
                   help="vocal-tract-length perturbation of the perturbed copies (default off)")
    p.add_argument("--band-limit", action=argparse.BooleanOptionalAction,
                   help="half the perturbed copies band-limited as a telephone channel "
                        "(default off)")
    p.add_argument("--spec-augment", action=argparse.BooleanOptionalAction,
                   help="SpecAugment time and frequency masks while training (default on)")
    p.add_argument("--augment-copies", type=non_negative_int, metavar="N",
                   help=f"perturbed copies of each training utterance: speed, silent ends, "
                        f"reverberation, noise (default {DEFAULTS.augment_copies})")
    p.add_argument("--lm-order", type=non_negative_int, metavar="N",
                   help=f"character n-gram order for beam search, 0 for none "
                        f"(default {DEFAULTS.lm_order})")
    p.add_argument("--word-lm-order", type=non_negative_int, metavar="N",
                   help=f"word n-gram order over the training words for beam search, 0 for "
                        f"none (default {DEFAULTS.word_lm_order})")
    add_training_options(p, DEFAULTS, batch_of="utterances", seed_of="weights, augmentation and shuffling")
    add_threads_option(p)
    p.set_defaults(run=_run_train)

    p = actions.add_parser("eval", help="WER, CER and word accuracy on a test set",
                           description="Transcribe a test set and score it with jiwer.")
    _model_option(p)
    p.add_argument("--dataset", choices=DATASETS,
                   help="built-in test set (default: the model's own test split)")
    p.add_argument("--data", metavar="FOLDER",
                   help="score every file of this folder (transcripts.tsv) (default: --dataset)")
    p.add_argument("--split", choices=("test", "val"), default="test",
                   help="which split of the model's data (default: test)")
    _decoding_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON line")
    add_threads_option(p)
    p.set_defaults(run=_run_eval)

    p = actions.add_parser("transcribe", help="transcribe WAV files",
                           description="Print one file<TAB>transcript line per file.")
    p.add_argument("files", nargs="+", metavar="FILE.wav", help="audio files (any WAV)")
    _model_option(p)
    _decoding_options(p)
    add_threads_option(p)
    p.set_defaults(run=_run_transcribe)


def _model_option(p) -> None:
    p.add_argument("--model", metavar="DIR", required=True, action="append",
                   help="the --out directory of train; give it several times to decode with "
                        "the models together (n-best rescoring, see docs/speech.md)")


def _decoding_options(p) -> None:
    p.add_argument("--beam", type=positive_int, default=1, metavar="K",
                   help="prefix beam search of width K (default 1: best path)")
    p.add_argument("--lm-weight", type=non_negative_float, default=0.5, metavar="W",
                   help="weight of the language model in the beam (default 0.5; 0: none)")
    p.add_argument("--lm", choices=tuple(LM_KEYS),
                   help="the beam's language model: character n-gram, or word n-gram over "
                        f"the training words (default {DEFAULT_LM}; char for a model trained "
                        "before the word model existed)")


def _run_train(args) -> int:
    names = [f.name for f in dataclasses.fields(SpeechConfig)]
    options = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    summary = train(args.out, args.data, train_size=args.train_size, resume=args.resume,
                    overwrite=args.overwrite, progress=False if args.quiet else None,
                    log=lambda msg: print(msg, file=sys.stderr), **options)
    print(trained_line(summary))
    for name, scores in summary["test"].items():
        _print_scores(name, scores)
    print(f"model: {args.out}/checkpoint.npz  (rnnkit speech eval|transcribe --model {args.out})")
    return 0


def _print_scores(name, scores) -> None:
    print(f"{name}: WER {100 * scores['wer']:.2f}%  CER {100 * scores['cer']:.2f}%  word accuracy "
          f"{100 * scores['word_accuracy']:.2f}%  ({scores['n']} utterances, beam {scores['beam']}, "
          f"{scores['real_time_factor']:.3f} x real time)")


def _run_eval(args) -> int:
    import json
    if args.dataset is not None and args.data is not None:
        raise InputError("give --dataset or --data, not both")
    scores = evaluate(args.model, args.dataset, args.data, split=args.split, beam=args.beam,
                      lm_weight=args.lm_weight, lm=args.lm)
    if args.json:
        print(json.dumps({k: v for k, v in scores.items() if k not in ("examples", "errors")}))
    else:
        _print_scores(args.dataset or args.data or args.split, scores)
        for source, output, reference in scores["errors"]:
            print(f"  {source}: {output!r}  (reference: {reference!r})")
    return 0


def _run_transcribe(args) -> int:
    texts = transcribe_files(args.model, args.files, beam=args.beam, lm_weight=args.lm_weight,
                             lm=args.lm)
    for path, text in zip(args.files, texts):
        print(f"{path}\t{text}")
    return 0
