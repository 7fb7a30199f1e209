"""BLAS threads inside the time loop.

A per-step GEMM has only B rows. Measured on the shared 2-core machine, OpenBLAS's
second thread makes such a loop much slower when B is small (LSTM train at B=16,
H=1024: 12.5 s with 2 threads in the loop, 7.2 s with 1; torch 8.6 s), because its
threads must wake and meet after every short call while other processes hold the
cores; from B=32 on, the second thread pays (B=64, H=512: 459 ms with 2, 599 ms with 1).
So loops over fewer than 32 rows run with one BLAS thread, and the hoisted (T*B)-row
GEMMs outside the loops always keep every thread.

The thread count is set through threadpoolctl when it is installed (it comes with
scikit-learn, in the ``apps`` extra); without it the loops use BLAS's default.
"""

from __future__ import annotations

from contextlib import nullcontext
from functools import cache


@cache
def _controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return ThreadpoolController()


SINGLE_THREAD_BELOW_ROWS = 32


def loop_blas_threads(steps: int, rows: int):
    """Context manager: one BLAS thread for a loop of ``steps`` > 1 GEMMs with ``rows``
    (the batch) < 32; a single step, as in generation, skips the ~30 us switch."""
    small = steps > 1 and rows < SINGLE_THREAD_BELOW_ROWS
    controller = _controller() if small else None
    return nullcontext() if controller is None else controller.limit(limits=1, user_api="blas")
