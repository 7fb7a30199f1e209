"""How many cores rnnkit's compiled loops may use (``rnnkit/kernels/_workers.py``).

Default: the cores this process may run on (under mpirun, this rank's share), where
NumPy's BLAS is OpenBLAS with its idle threads' spinning bounded (``OPENBLAS_THREAD_TIMEOUT``
set before NumPy loads it: ``rnnkit/_openblas_env.py``); otherwise 1, since a BLAS thread
spinning beside a worker slows every step. ``set_threads(n)`` overrides it; the
commands' ``--threads`` sets it together with BLAS's threads. This module does not import numba.
"""

from __future__ import annotations

import os

_threads = None                          # None: the default of default_threads()


def cpus():
    """The numbers of the CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return os.sched_getaffinity(0)
    return set(range(os.cpu_count() or 1))                      # pragma: no cover - macOS, Windows


def usable_cores() -> int:
    """How many CPUs this process may run on."""
    return len(cpus())


def blas_spins_briefly() -> bool:
    """Whether NumPy's BLAS is OpenBLAS with its idle threads' spinning bounded
    (``rnnkit/_openblas_env.py``); other BLAS libraries' threads spin as they like
    (MKL: 200 ms), so the loops stay on one core beside them."""
    from rnnkit import _openblas_env
    try:
        from numpy.__config__ import CONFIG
        blas = CONFIG["Build Dependencies"]["blas"]["name"]
    except (ImportError, KeyError, TypeError):                  # pragma: no cover - old NumPy
        return False
    return _openblas_env.spin_bounded and "openblas" in blas.lower()


def default_threads() -> int:
    """The cores this process may run on (under mpirun, this rank's share of them) where
    :func:`blas_spins_briefly`, else 1."""
    from rnnkit.distributed import local_size
    if not blas_spins_briefly():
        return 1
    return max(1, usable_cores() // local_size())


def set_threads(count) -> None:
    """How many cores rnnkit's compiled loops may use: a positive int, or None for
    :func:`default_threads`. The commands' ``--threads`` sets it with BLAS's."""
    global _threads
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError(f"threads: expected a positive int or None, got {count!r}")
    _threads = count


def threads() -> int:
    """How many cores the compiled loops may use now (:func:`set_threads`)."""
    global _threads
    if _threads is None:
        _threads = default_threads()
    return _threads
