"""How many BLAS threads the commands use: ``--threads auto`` (the default) or ``--threads N``.

``auto`` gives a command the cores no other job is using when it starts::

    idle    = sum over the cores this process may run on of the share of 0.1 s each sat idle
    threads = clip(floor(idle + 1/4), 1, cores)

measured from ``/proc/stat`` (Linux; elsewhere ``idle = cores - os.getloadavg()[0]``). On
an idle 2-core machine that is 2; with one busy job, 1. The cap matters because BLAS threads
wait for each other at every matrix product: when another job holds a core, the thread
that lands there stalls the rest, and two threads made a training step 15-35x slower than
one (measured on 2 cores, docs/textgen.md). The load average is not used on Linux: it is a
one-minute mean, so a user's own previous command would still count as a busy core. The
choice is made once, at the start; a job that starts later on the same cores can still
slow a two-thread run: ``--threads 1`` then.

Every action that computes (``train``, ``eval``, ``predict``, ``sample``...) runs under
``blas_threads(args.threads)``, applied once by ``rnnkit/cli.py``: the count is how many
cores rnnkit's own workers and NumPy's BLAS use (``rnnkit.kernels.set_threads``,
threadpoolctl); with more than one, a layer whose loops are compiled holds BLAS to one
thread and splits the work itself (``rnnkit/kernels/_products.py``). The library alone does
the same with ``rnnkit.kernels.threads()`` cores (default: all it may use).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time

from rnnkit.apps._args import positive_int
from rnnkit.kernels._threads import cpus, set_threads, usable_cores

AUTO = "auto"


def idle_cores(window: float = 0.1):
    """How many of this process's cores sat idle over the next ``window`` seconds (a float),
    from the per-CPU counters of ``/proc/stat``; None where there is no such file."""
    def read():
        times = {}
        with open("/proc/stat") as f:
            for line in f:
                name, *fields = line.split()
                if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
                    values = [int(v) for v in fields[:8]]
                    times[name] = (values[3] + values[4], sum(values))      # idle + iowait, all
        return times

    cores = cpus()
    try:
        before = read()
        time.sleep(window)
        after = read()
    except (OSError, ValueError, IndexError):
        return None
    shares = [(after[c][0] - before[c][0]) / (after[c][1] - before[c][1])
              for c in after if c in before and after[c][1] > before[c][1]]
    return float(sum(shares)) if shares else None


def auto_threads() -> int:
    """The cores other jobs leave idle: ``floor(idle_cores() + 1/4)``, between 1 and ``cores``;
    under mpirun with ``R`` ranks on this machine, each rank takes its ``1/R`` share."""
    from rnnkit.distributed import local_size

    ranks = local_size()
    cores = max(1, usable_cores() // ranks)
    idle = idle_cores()
    if idle is None:
        try:
            idle = usable_cores() - os.getloadavg()[0]
        except (AttributeError, OSError):                           # pragma: no cover - Windows
            return 1
    return max(1, min(cores, int(idle / ranks + 0.25)))


def thread_count(text: str):
    """``--threads``: ``auto`` or a positive integer."""
    if text == AUTO:
        return AUTO
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a positive integer, got {text!r}") from None


@contextlib.contextmanager
def blas_threads(count):
    """A context running NumPy's BLAS and rnnkit's compiled loops (``rnnkit.kernels.
    set_threads``) on ``count`` threads (``"auto"``: :func:`auto_threads`). BLAS's are
    limited with threadpoolctl, which the ``apps`` extra brings with scikit-learn (without
    it, BLAS is left as it is)."""
    from rnnkit.kernels import _threads as kernel_threads

    count = auto_threads() if count == AUTO else count
    try:
        from threadpoolctl import threadpool_limits
        limits = threadpool_limits(count, user_api="blas")
    except ImportError:
        limits = contextlib.nullcontext()
    before = kernel_threads._threads                            # None: the default
    set_threads(count)
    try:
        with limits:
            yield count
    finally:
        set_threads(before)


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    """``--threads N|auto`` (default auto) on an action's parser."""
    parser.add_argument("--threads", type=thread_count, default=AUTO, metavar="N|auto",
                        help="BLAS threads (default auto: the cores other jobs leave idle at the "
                             "start; 1 if the machine gets busy later)")
