"""How many BLAS threads the commands use: one by default, ``--threads N`` to change it.

The matrix products of the models these commands train are small: a second thread
gains little on an idle machine, and when other jobs share the cores two threads made
a training step 25-35x slower (measured on 2 cores, docs/textgen.md). So every action
that computes (``train``, ``eval``, ``predict``, ``sample``) runs under
``blas_threads(args.threads)``, applied once by ``rnnkit/cli.py``.
"""

from __future__ import annotations

import contextlib

from rnnkit.apps._args import positive_int


def blas_threads(count: int):
    """A context limiting NumPy's BLAS to ``count`` threads (threadpoolctl, which the
    ``apps`` extra brings with scikit-learn; without it, a no-op)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(count, user_api="blas")


def add_threads_option(parser) -> None:
    """``--threads N`` (default 1) on an action's parser."""
    parser.add_argument("--threads", type=positive_int, default=1, metavar="N",
                        help="BLAS threads (default 1; more only help large models on idle cores)")
