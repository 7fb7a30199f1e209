"""rnnkit's own error types: what a caller did wrong, as opposed to a bug.

Every error rnnkit raises on purpose — a bad argument, a malformed file, a missing data
set, a checkpoint that does not fit, a run that diverged — is a :class:`RnnkitError`, and
also the built-in type code would catch (``InputError`` is a ``ValueError``,
``InputTypeError`` a ``TypeError``, ...), so ``except ValueError`` keeps working. The
``rnnkit`` command prints these as one line (exit status 2) and lets anything else — a
bug — keep its traceback.
"""

from __future__ import annotations


class RnnkitError(Exception):
    """Base class: an error the caller can fix; its message says how."""


class InputError(RnnkitError, ValueError):
    """A value, file content or combination of options that rnnkit cannot use."""


class InputTypeError(RnnkitError, TypeError):
    """An argument of the wrong type (an array where a tuple is expected, a dtype, ...)."""


class MissingFileError(RnnkitError, FileNotFoundError):
    """A file or directory the caller named (or that ``make`` installs) is not there."""


class TrainingDiverged(RnnkitError, FloatingPointError):
    """The loss or the gradient norm became NaN or infinite."""
