"""``rnnkit music``: train a polyphonic piano-roll model, score it, sample new pieces as MIDI.

Three actions, each one library call you can also make from Python::

    rnnkit music train --out runs/music [--data MIDI_FOLDER] [--max-minutes M]
        -> train(out_dir, ...)              checkpoint.npz (weights, settings), metrics.jsonl,
                                            loss_curve.png; then the test NLL per step
    rnnkit music eval --model runs/music [--data MIDI_FOLDER]
        -> evaluate(model, ...)             negative log-likelihood per time step (nats)
    rnnkit music sample --model runs/music --midi piece.mid [--steps 64] [--seed 0]
        -> sample(model, ...)               piece.mid, piece.png (piano roll) and, where
                                            fluidsynth and a GM sound font are installed,
                                            piece.wav

Data (``rnnkit.data.music``): without ``--data``, the Bach chorales of the ``music21``
corpus on a quarter-note grid (parsed once, cached as piano rolls; split by a fixed
seeded permutation). ``--data FOLDER``: your ``.mid``/``.midi`` files, read on a grid of
``--steps-per-quarter`` (default 1: quarter notes) and split 80/10/10 by a hash of the
file name.

Python::

    from rnnkit.apps import music
    music.train("runs/music", max_minutes=10)
    roll = music.load("runs/music").sample(64, seed=1)
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from rnnkit.apps._args import (
    add_training_options, non_negative_int, one_line_subparsers, positive_float, positive_int,
    probability,
)
from rnnkit.apps._run import (
    check_resumed_source, prepare_out, read_meta, remove_run_files, resume_settings,
    trained_line,
)
from rnnkit.apps._threads import add_threads_option
from rnnkit.errors import InputError
from rnnkit.music import MusicConfig, check_config, count_of

APP = "music"
RESUME_MAY_CHANGE = ("epochs", "patience", "max_minutes", "clip")
DEFAULTS = MusicConfig()
TEMPO_BPM = 80                         # quarter notes per minute of written samples
SPLIT_PERCENT = (80, 10, 10)           # train / val / test of a --data folder


# --------------------------------------------------------------------------- data


def folder_split(name: str) -> str:
    """"train", "val" or "test" for a file name: sha256 bucket 0..79, 80..89, 90..99."""
    from rnnkit.data.translation import split_of

    train, val, _ = SPLIT_PERCENT
    return split_of(name, "music", train, val)


def load_splits(data=None, steps_per_quarter: int = 1) -> dict:
    """``{"train", "val", "test": [roll (T, 88)]}``: the Bach chorales, or a MIDI folder's
    files split by :func:`folder_split`."""
    from rnnkit.data import music

    if data is None:
        corpus = music.bach_chorales()
        return {"train": corpus["train"], "val": corpus["valid"], "test": corpus["test"]}
    pieces = music.read_midi_folder(data, steps_per_quarter=steps_per_quarter)
    splits = {"train": [], "val": [], "test": []}
    for name, roll in pieces:
        splits[folder_split(name)].append(roll)
    return splits


def _source(data, steps_per_quarter) -> dict:
    import os
    if data is not None:
        return {"data": os.path.abspath(data), "steps_per_quarter": steps_per_quarter}
    return {"dataset": "bach-chorales", "steps_per_quarter": 1}


# --------------------------------------------------------------------------- actions


def train(out_dir, data=None, *, steps_per_quarter=1, resume=False, overwrite=False,
          progress=None, log=print, **options) -> dict:
    """Train a piano-roll model into ``out_dir``; returns the trainer's summary with the
    test split's NLL per step (``summary["test_nll"]``, None without test pieces).
    ``options`` are :class:`~rnnkit.music.MusicConfig` fields; with ``resume``, the
    checkpoint's settings hold (only ``epochs``, ``patience``, ``max_minutes`` and
    ``clip`` may change)."""
    from rnnkit.music import train_music

    unknown = set(options) - {f.name for f in dataclasses.fields(MusicConfig)}
    if unknown:
        raise InputError(f"unknown option(s) {sorted(unknown)}")
    prepare_out(out_dir, APP, resume=resume, overwrite=overwrite)
    if resume:
        extra = read_meta(out_dir, APP)[1]["extra"]
        source = extra["source"]
        if data is not None:
            check_resumed_source(out_dir, source, _source(data, steps_per_quarter))
        config = MusicConfig(**resume_settings(extra["settings"], options, RESUME_MAY_CHANGE, log))
    else:
        source = _source(data, steps_per_quarter)
        config = dataclasses.replace(DEFAULTS, **{k: v for k, v in options.items() if v is not None})
    check_config(config)
    splits = load_splits(source.get("data"), source["steps_per_quarter"])
    if not splits["train"]:
        raise InputError("no training pieces (a --data folder needs more MIDI files: 80% train)")
    log(f"{'resuming' if resume else 'training'} a {config.num_layers}-layer "
        f"{config.cell.upper()} with a {config.output} output on {source}")
    model, summary = train_music(
        splits["train"], splits["val"], config, out_dir, extra={"app": APP, "source": source},
        progress=progress, resume=resume, log=log,
        before_fit=(lambda: remove_run_files(out_dir)) if overwrite else None)
    summary["test_nll"] = model.nll(splits["test"]) if splits["test"] else None
    summary["test_pieces"] = len(splits["test"])
    return summary


def load(model):
    """The :class:`rnnkit.music.MusicModel` in a ``train`` directory or checkpoint."""
    from rnnkit.music import load_music_model

    path, _ = read_meta(model, APP)
    return load_music_model(path)


def evaluate(model, data=None, split="test") -> dict:
    """NLL per time step on every piece of the MIDI folder ``data``, or (without it) on the
    ``split`` of the model's own data."""
    from rnnkit.data.music import read_midi_folder

    trained = load(model)
    source = trained.extra["source"]
    if data is not None:
        pieces = [roll for _, roll in read_midi_folder(data, steps_per_quarter=source["steps_per_quarter"])]
    else:
        pieces = load_splits(source.get("data"), source["steps_per_quarter"])[split]
        if not pieces:
            raise InputError(f"the model's data has no {split} pieces; give --data FOLDER")
    return {"nll": trained.nll(pieces), "pieces": len(pieces), "steps": sum(map(len, pieces))}


def sample(model, midi, steps=64, seed=0, temperature=1.0, threshold=None, prime=None,
           prime_steps=None, png=True, wav=True, log=print) -> dict:
    """Write a new piece to ``midi`` (and its piano roll as ``.png``, and ``.wav`` where
    fluidsynth can render it). ``prime``: a MIDI file whose first ``prime_steps`` steps
    (all, when None) start the piece; the written piece holds the prime and the new steps.
    Returns ``{"midi", "png", "wav", "steps", "notes"}`` (None for files not written)."""
    import numpy as np

    from rnnkit.data import music
    from rnnkit.errors import MissingFileError

    midi = Path(midi)
    if not midi.parent.resolve().is_dir():
        raise MissingFileError(f"cannot write {str(midi)!r}: folder {str(midi.parent)!r} does not exist")
    trained = load(model)
    spq = trained.extra["source"]["steps_per_quarter"]
    prime_roll = None
    if prime is not None:
        prime_roll = music.read_midi(prime, steps_per_quarter=spq)
        if prime_steps is not None:
            prime_roll = prime_roll[:prime_steps]
    new = trained.sample(steps, seed=seed, prime=prime_roll, temperature=temperature,
                         threshold=threshold)
    roll = new if prime_roll is None else np.concatenate([prime_roll.astype(new.dtype), new])
    music.write_midi(roll, midi, steps_per_quarter=spq, tempo_bpm=TEMPO_BPM)
    written = {"midi": str(midi), "png": None, "wav": None, "steps": len(roll),
               "notes": int(roll.sum())}
    if png:
        written["png"] = str(midi.with_suffix(".png"))
        music.save_piano_roll_png(roll, written["png"], title=f"{midi.name} (seed {seed})")
    if wav:
        if music.fluidsynth_available():
            written["wav"] = str(midi.with_suffix(".wav"))
            music.render_wav(midi, written["wav"])
        else:
            log(f"note: no WAV written: {music.FLUIDSYNTH_HINT}")
    return written


# --------------------------------------------------------------------------- command line


def build_parser(parser: argparse.ArgumentParser) -> None:
    from rnnkit.layers.registry import CELLS
    from rnnkit.models.piano_roll import OUTPUTS

    actions = one_line_subparsers(parser)

    p = actions.add_parser("train", help="train a piano-roll model (default: Bach chorales)",
                           description="Train a recurrent model of polyphonic piano rolls; "
                                       "checkpoint.npz, metrics.jsonl and loss_curve.png go to "
                                       "--out, then the test split's NLL per step is printed.")
    p.add_argument("--out", metavar="DIR", required=True, help="directory for the model (required)")
    p.add_argument("--data", metavar="FOLDER",
                   help="your .mid/.midi files (default: the Bach chorales of the music21 corpus)")
    p.add_argument("--steps-per-quarter", type=positive_int, default=1, metavar="N",
                   help="time steps per quarter note when reading --data (default 1)")
    p.add_argument("--cell", choices=tuple(CELLS), help=f"recurrent cell (default {DEFAULTS.cell})")
    p.add_argument("--hidden-size", type=positive_int, metavar="N",
                   help=f"units per recurrent layer (default {DEFAULTS.hidden_size})")
    p.add_argument("--num-layers", type=positive_int, metavar="N",
                   help=f"stacked layers (default {DEFAULTS.num_layers})")
    p.add_argument("--output", choices=OUTPUTS,
                   help=f"distribution of a step: independent pitches or a NADE "
                        f"(default {DEFAULTS.output})")
    p.add_argument("--nade-hidden", type=positive_int, metavar="N",
                   help=f"hidden units of the NADE (default {DEFAULTS.nade_hidden})")
    p.add_argument("--dropout", type=probability, metavar="P",
                   help=f"dropout between layers and before the output in [0, 1) "
                        f"(default {DEFAULTS.dropout})")
    p.add_argument("--input-dropout", type=probability, metavar="P",
                   help=f"hide each note of the input roll with probability P while training "
                        f"(default {DEFAULTS.input_dropout})")
    p.add_argument("--weight-drop", type=probability, metavar="P",
                   help=f"zero each recurrent weight with probability P for a whole batch while "
                        f"training (DropConnect; default {DEFAULTS.weight_drop})")
    p.add_argument("--transpose", type=non_negative_int, metavar="K",
                   help=f"shift each training piece by a random -K..K semitones every epoch "
                        f"(default {DEFAULTS.transpose}: never)")
    add_training_options(p, DEFAULTS, batch_of="pieces", seed_of="weights and shuffling")
    add_threads_option(p)
    p.set_defaults(run=_run_train)

    p = actions.add_parser("eval", help="negative log-likelihood per time step",
                           description="Score pieces: the negative log-likelihood per time step "
                                       "(nats, summed over pitches), as the literature reports it.")
    p.add_argument("--model", metavar="DIR", required=True, help="the --out directory of train")
    p.add_argument("--data", metavar="FOLDER",
                   help="score every MIDI file of this folder (default: the model's test split)")
    p.add_argument("--split", choices=("test", "val"), default="test",
                   help="which split of the model's data (default: test)")
    add_threads_option(p)
    p.set_defaults(run=_run_eval)

    p = actions.add_parser("sample", help="write a new piece as MIDI (and PNG, WAV)",
                           description="Sample a new piece, step by step, and write it as MIDI, a "
                                       "piano-roll PNG beside it and, where fluidsynth and a "
                                       "General MIDI sound font are installed, a WAV.")
    p.add_argument("--model", metavar="DIR", required=True, help="the --out directory of train")
    p.add_argument("--midi", metavar="FILE.mid", required=True, help="where to write the piece")
    p.add_argument("--steps", type=positive_int, default=64, metavar="N",
                   help="new time steps to sample (default 64)")
    p.add_argument("--seed", type=non_negative_int, default=0, metavar="S",
                   help="random seed: the same seed writes the same piece (default 0)")
    p.add_argument("--temperature", type=positive_float, default=1.0, metavar="T",
                   help="divide the output logits by T: below 1 safer, above 1 wilder (default 1)")
    p.add_argument("--threshold", type=probability, metavar="X",
                   help="bernoulli models: a pitch sounds when its probability >= X, no drawing "
                        "(default: draw each pitch)")
    p.add_argument("--prime", metavar="FILE.mid", help="start from this piece (default: silence)")
    p.add_argument("--prime-steps", type=positive_int, metavar="N",
                   help="use only the first N steps of --prime (default: all)")
    p.add_argument("--no-png", dest="png", action="store_false", help="do not write the PNG")
    p.add_argument("--no-wav", dest="wav", action="store_false", help="do not write the WAV")
    add_threads_option(p)
    p.set_defaults(run=_run_sample)


def _run_train(args) -> int:
    names = [f.name for f in dataclasses.fields(MusicConfig)]
    options = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    summary = train(args.out, args.data, steps_per_quarter=args.steps_per_quarter,
                    resume=args.resume, overwrite=args.overwrite,
                    progress=False if args.quiet else None,
                    log=lambda msg: print(msg, file=sys.stderr), **options)
    print(trained_line(summary))
    if summary["test_nll"] is not None:
        print(f"test: NLL {summary['test_nll']:.3f} nats per time step "
              f"({count_of(summary['test_pieces'], 'piece')})")
    print(f"model: {args.out}/checkpoint.npz  (rnnkit music eval|sample --model {args.out})")
    return 0


def _run_eval(args) -> int:
    scores = evaluate(args.model, args.data, split=args.split)
    print(f"{args.data or args.split}: NLL {scores['nll']:.3f} nats per time step "
          f"({count_of(scores['pieces'], 'piece')}, {scores['steps']} steps)")
    return 0


def _run_sample(args) -> int:
    written = sample(args.model, args.midi, steps=args.steps, seed=args.seed,
                     temperature=args.temperature, threshold=args.threshold, prime=args.prime,
                     prime_steps=args.prime_steps, png=args.png, wav=args.wav,
                     log=lambda msg: print(msg, file=sys.stderr))
    files = ", ".join(written[k] for k in ("midi", "png", "wav") if written[k])
    print(f"wrote {written['steps']} steps ({written['notes']} notes): {files}")
    return 0
