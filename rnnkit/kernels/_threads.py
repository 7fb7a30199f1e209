"""How many cores rnnkit's own workers may use (``_workers.py``, ``_products.py``).

Default: the cores this process may run on (under mpirun, this rank's share), where
threadpoolctl can hold NumPy's BLAS to one thread (``_products.hold_blas``); otherwise 1,
since a BLAS thread spinning beside a worker slows every step. ``set_threads(n)`` overrides
it; the commands' ``--threads`` sets it together with BLAS's threads. This module imports
neither numba nor NumPy until a function needs them.
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


_controllers = None                      # threadpoolctl's BLAS controllers, found once


def blas_controllers() -> list:
    """threadpoolctl's controllers of the BLAS libraries loaded in this process (NumPy's:
    OpenBLAS, MKL or BLIS), each with ``get_num_threads`` / ``set_num_threads``; empty
    without threadpoolctl or where it finds none."""
    global _controllers
    if _controllers is None:
        try:
            import numpy  # noqa: F401  (loads NumPy's BLAS, so that it can be found)
            from threadpoolctl import ThreadpoolController
            _controllers = list(ThreadpoolController().select(user_api="blas").lib_controllers)
        except ImportError:                                     # pragma: no cover
            _controllers = []
    return _controllers


def default_threads() -> int:
    """The cores this process may run on (under mpirun, this rank's share of them) where
    :func:`blas_controllers` can hold BLAS to one thread, else 1."""
    from rnnkit.distributed import local_size
    if not blas_controllers():
        return 1
    return max(1, usable_cores() // local_size())


def set_threads(count) -> None:
    """How many cores rnnkit's workers may use: a positive int, or None for
    :func:`default_threads`. The commands' ``--threads`` sets it with BLAS's. One gives
    NumPy's BLAS back the threads rnnkit held it from (``_products.give_back_blas``)."""
    global _threads
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError(f"threads: expected a positive int or None, got {count!r}")
    _threads = count
    if count == 1:
        from rnnkit.kernels._products import give_back_blas
        give_back_blas()


def threads() -> int:
    """How many cores the compiled loops may use now (:func:`set_threads`)."""
    global _threads
    if _threads is None:
        _threads = default_threads()
    return _threads
