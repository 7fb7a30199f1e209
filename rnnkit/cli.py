"""The ``rnnkit`` command: ``rnnkit <app> <action> [options]``.

A thin shell over the library. Each application lives in ``rnnkit/apps/<app>.py``
and exposes ``build_parser(parser)`` (adds its actions as subcommands, each with
``set_defaults(run=callable)``); the app module is imported only when its name is
given, so ``rnnkit --help`` stays fast and an app's extras are needed only by it.

Errors a user can fix (bad argument, missing or malformed file, data not installed, a
diverged run) are raised by the library as :class:`rnnkit.errors.RnnkitError` and
printed here as one line, exit status 2; so are the operating system's refusals to open
a path the user named (not found, permission, a directory where a file was expected).
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from rnnkit.errors import InputError, RnnkitError

# app name -> (module, one-line help)
APPS: dict[str, tuple[str, str]] = {
    "textgen": ("rnnkit.apps.textgen", "character/word language model: train, sample, eval"),
    "sentiment": ("rnnkit.apps.sentiment", "sentence polarity (movie reviews or your CSV): train, eval, predict"),
    "vowels": ("rnnkit.apps.vowels", "speech-feature sequences (JapaneseVowels or your .ts/.csv): train, eval, predict"),
    "imageseq": ("rnnkit.apps.imageseq", "images as row sequences (digits, Fashion-MNIST, your .npz): train, eval, predict"),
    "forecast": ("rnnkit.apps.forecast", "time-series forecasting (sunspots, co2, airpassengers, taylor or your CSV): train, eval, predict"),
    "translate": ("rnnkit.apps.translate", "machine translation with attention (numbers in words, Ding de-en, Bible es-en or your TSV): train, eval, translate"),
    "speech": ("rnnkit.apps.speech", "speech recognition with CTC (synthesised digits and commands, Asterisk recordings or your WAV folder): train, eval, transcribe"),
    "music": ("rnnkit.apps.music", "polyphonic music with a piano-roll RNN or RNN-NADE (Bach chorales or your MIDI folder): train, eval, sample"),
    "export": ("rnnkit.apps.export", "a trained model to ONNX: rnnkit export MODEL_DIR OUT.onnx"),
    "inspect": ("rnnkit.apps.inspect", "what a text model learned, as one HTML page: rnnkit inspect --model DIR --out page.html"),
}

# apps whose `train` continues a run with --resume
RESUMABLE = ("textgen", "sentiment", "vowels", "imageseq", "forecast", "translate", "speech",
             "music")


class UsageError(InputError):
    """A user mistake the CLI reports in one line (exit status 2)."""


# What the command prints as one line: rnnkit's own errors and refused paths.
USER_ERRORS = (RnnkitError, FileNotFoundError, PermissionError, IsADirectoryError,
               NotADirectoryError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="Recurrent neural networks in readable NumPy. "
                    "Run `rnnkit <app> --help` for an application's actions.")
    from rnnkit import __version__
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    apps = parser.add_subparsers(dest="app", metavar="<app>", required=True)
    for name, (module, help_text) in APPS.items():
        apps.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in APPS:
        parser.parse_args(argv)          # prints help / a one-line error and exits
        return 2
    name = argv[0]
    app_parser = argparse.ArgumentParser(prog=f"rnnkit {name}", description=APPS[name][1])
    try:
        module = importlib.import_module(APPS[name][0])
    except ImportError as exc:          # an app's extra is not installed
        app_parser.exit(2, f"rnnkit {name}: error: {exc}; install rnnkit[apps]\n")
    module.build_parser(app_parser)
    args = app_parser.parse_args(argv[1:])
    if not hasattr(args, "run"):
        app_parser.print_help()
        return 2
    from rnnkit.training.trainer import TrainingInterrupted
    from rnnkit.apps._threads import blas_threads
    try:
        exit_ = _exit_for(app_parser)
    except USER_ERRORS as exc:          # under mpirun without mpi4py
        app_parser.exit(2, f"rnnkit {name}: error: {exc}\n")
    try:
        with blas_threads(getattr(args, "threads", 1)):
            result = args.run(args)
    except TrainingInterrupted as exc:
        exit_(130, f"rnnkit {name}: {exc}{_resume_hint(name, exc.checkpoint)}\n")
    except KeyboardInterrupt:
        exit_(130, f"rnnkit {name}: interrupted\n")
    except USER_ERRORS as exc:
        exit_(2, f"rnnkit {name}: error: {exc}\n")
    except BaseException:
        if _world().active:                 # a bug on one rank: its traceback, then stop all
            import traceback
            exit_(1, traceback.format_exc())
        raise
    return int(result or 0)


def _world():
    """The MPI job this command runs in (a single process without mpirun); under mpirun,
    ranks other than 0 print nothing (rank 0 reports for all) but the error that stops them
    (``distributed.abort`` writes to the real standard error)."""
    from rnnkit import distributed

    world = distributed.world()
    if world.rank != 0 and sys.stdout is sys.__stdout__:
        sys.stdout = sys.stderr = open(os.devnull, "w")
    return world


def _exit_for(parser):
    """How the command ends with an error: ``parser.exit`` (one line, the exit status), or
    under mpirun, the same line and an abort of every rank (the others may be waiting for
    this one in an all-reduce)."""
    world = _world()
    if not world.active:
        return parser.exit
    from rnnkit import distributed

    return lambda status, message: distributed.abort(world, status, message)


def _resume_hint(app: str, checkpoint) -> str:
    if checkpoint is None:
        return ""
    out = os.path.dirname(checkpoint) or "."
    command = sys.argv[0] if os.path.basename(sys.argv[0]) == "rnnkit" else "rnnkit"
    if app in RESUMABLE:
        return f"; continue with `{command} {app} train --out {out} --resume`"
    return f"; `{command} {app} eval --model {out}` evaluates it"


if __name__ == "__main__":
    sys.exit(main())
