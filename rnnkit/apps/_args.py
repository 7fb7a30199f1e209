"""Argument types and the one-line error parser shared by the apps' command lines.

Each type turns a bad value into ``argparse.ArgumentTypeError``, which argparse reports
as ``argument --hidden: expected a positive integer, got '0'``; :class:`OneLineErrors`
prints that as one line, ``rnnkit <app> <action>: error: ... (see --help)``, exit status 2.
"""

from __future__ import annotations

import argparse
import math


def positive_int(text: str) -> int:
    return _integer(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    return _integer(text, 0, "an integer >= 0")


def _integer(text: str, low: int, expected: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def number(low: float, low_inclusive: bool, high: float | None = None):
    """A finite float with ``value >= low`` (or ``> low``) and, if given, ``value < high``."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        ok = math.isfinite(value) and (value >= low if low_inclusive else value > low) and (
            high is None or value < high)
        if not ok:
            bound = f">= {low:g}" if low_inclusive else f"> {low:g}"
            upper = f" and < {high:g}" if high is not None else ""
            raise argparse.ArgumentTypeError(f"expected a number {bound}{upper}, got {text!r}")
        return value
    return parse


positive_float = number(0.0, low_inclusive=False)
non_negative_float = number(0.0, low_inclusive=True)
probability = number(0.0, low_inclusive=True, high=1.0)      # dropout, a held-out share


class OneLineErrors(argparse.ArgumentParser):
    """Argument errors in one line (no usage block): ``rnnkit textgen train: error: ...``."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def one_line_subparsers(parser: argparse.ArgumentParser):
    """Make ``parser`` and the action subparsers it gets report errors in one line;
    returns the subparsers object to add actions to."""
    parser.error = lambda message: OneLineErrors.error(parser, message)   # e.g. unknown options
    return parser.add_subparsers(dest="action", metavar="<action>", parser_class=OneLineErrors)


def add_training_options(p: argparse.ArgumentParser, defaults, batch_of: str, seed_of: str) -> None:
    """The flags every padded-batch ``train`` shares, after its model's own: optimisation
    (``--batch-size --lr --clip --epochs --patience --max-minutes --seed``, defaults from the
    config dataclass ``defaults``) and the run directory (``--resume --overwrite --quiet``)."""
    p.add_argument("--batch-size", type=positive_int, metavar="N",
                   help=f"{batch_of} per step (default {defaults.batch_size})")
    p.add_argument("--lr", type=positive_float, metavar="X",
                   help=f"Adam learning rate (default {defaults.lr})")
    p.add_argument("--clip", type=positive_float, metavar="X",
                   help=f"clip the global gradient norm (default {defaults.clip})")
    p.add_argument("--epochs", type=positive_int, metavar="N",
                   help=f"at most N epochs (default {defaults.epochs})")
    p.add_argument("--patience", type=positive_int, metavar="N",
                   help=f"stop after N epochs without a better validation loss "
                        f"(default {defaults.patience})")
    p.add_argument("--max-minutes", type=positive_float, metavar="X",
                   help="wall-time budget of this call (default: none)")
    p.add_argument("--seed", type=non_negative_int, metavar="S",
                   help=f"{seed_of} seed (default {defaults.seed})")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out; only --epochs, --patience, --max-minutes "
                        "and --clip may change")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a model already in --out (default: refuse)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
