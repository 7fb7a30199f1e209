"""The ``rnnkit`` command: ``rnnkit <app> <action> [options]``.

A thin shell over the library. Each application lives in ``rnnkit/apps/<app>.py``
and exposes ``build_parser(parser)`` (adds its actions as subcommands, each with
``set_defaults(run=callable)``); the app module is imported only when its name is
given, so ``rnnkit --help`` stays fast and an app's extras are needed only by it.

Errors a user can fix (bad argument, missing or malformed file, data not installed)
are raised as ``UsageError``/``ValueError``/``OSError`` by the library and printed
here as one line, exit status 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# app name -> (module, one-line help)
APPS: dict[str, tuple[str, str]] = {
    "textgen": ("rnnkit.apps.textgen", "character/word language model: train, sample, eval"),
    "sentiment": ("rnnkit.apps.sentiment", "sentence polarity (movie reviews or your CSV): train, eval, predict"),
    "vowels": ("rnnkit.apps.vowels", "speech-feature sequences (JapaneseVowels or your .ts/.csv): train, eval, predict"),
    "imageseq": ("rnnkit.apps.imageseq", "images as row sequences (digits, Fashion-MNIST, your .npz): train, eval, predict"),
    "forecast": ("rnnkit.apps.forecast", "time-series forecasting (sunspots, co2, airpassengers, taylor or your CSV): train, eval, predict"),
}


class UsageError(Exception):
    """A user mistake the CLI reports in one line (exit status 2)."""


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
    try:
        result = args.run(args)
    except KeyboardInterrupt:
        app_parser.exit(130, f"rnnkit {name}: interrupted\n")
    except (UsageError, ValueError, TypeError, OSError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        app_parser.exit(2, f"rnnkit {name}: error: {message}\n")
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
