"""Who uses the cores: rnnkit's own workers, or BLAS's threads; and matrix products split
between rnnkit's workers.

rnnkit's recurrent loops can split a step's hidden units between the cores themselves
(``_workers.py``). A BLAS library's own threads get in their way: after each multi-threaded
call, OpenBLAS's idle threads spin for about 0.1 s (MKL's for 0.2 s), and a spinning thread
on a worker's core slows every step of the loop that follows (docs/speed.md). So a layer
whose loops are compiled (split between the workers, or small enough for one core) holds
NumPy's BLAS to **one** thread, process-wide and from then on (:func:`hold_blas`), and
rnnkit splits every large product between its workers::

    C = A @ B,  A (M, K), B (K, N):   C[rows of worker w] = A[rows of w] @ B     (M >= N)
                                      C[:, cols of w]     = A @ B[:, cols of w]  (M < N)

each part one single-threaded BLAS call, worker 0 in the calling thread, the others in the
pool of ``_pool.py`` (NumPy releases the GIL inside BLAS). Every element is the same sum
over ``K`` as in one call. Products under SPLIT_FLOPS run in one call: handing a part to
another thread costs tens of microseconds; skinny ones (generation) get BLAS's threads.

A layer whose loops call BLAS every step (the Elman RNN's; LSTM and GRU with more than 64
rows, a ``W_hh`` over 16 MB, float64) lends BLAS its threads back for the call
(:func:`blas_steps`) and splits nothing: that is how rnnkit ran before 2026-12-07. (For
compiled loops on one core, holding was measured against lending, 2026-12-07, the 12 such
LSTM shapes of bench/speed.py's sweep, training and inference: lending took 1.14x the time
in geometric mean, 0.72-4.39x.) With ``threads()`` == 1 nothing is ever held.

BLAS's thread count is set through threadpoolctl (OpenBLAS, MKL, BLIS); a BLAS it cannot
control keeps its threads, and rnnkit then stays on one core (``_threads.default_threads``).
This module imports neither numba nor threadpoolctl until it is used.
"""

from __future__ import annotations

import contextlib
from functools import partial

import numpy as np

from rnnkit.kernels import _pool
from rnnkit.kernels import _workspace as workspace
from rnnkit.kernels._threads import blas_controllers, threads

# A product of fewer FLOPs runs in one call. Measured 2026-12-07, 2 cores, float32, with
# the pool then built on concurrent.futures (its threads slept at once): two empty tasks
# took 40 us, and a split product 60-110 us more than its half alone. (M, K, N) =
# (32, 128, 512), 4 MFLOP: one call 86 us, split 159 us;
# (128, 128, 512), 17 MFLOP: 281 vs 208 us; (64, 256, 1024), 34 MFLOP: 558 vs 324 us;
# (3200, 2048, 512) (an input projection's backward): 84 vs 50 ms, BLAS's two threads 51 ms.
SPLIT_FLOPS = 1 << 24

_given_back = {}                        # controller -> BLAS's thread count before rnnkit held it
_lent = False                           # BLAS has its threads back (_lent_threads)


def held() -> bool:
    """Whether rnnkit holds BLAS to one thread now (and so splits products itself)."""
    return bool(_given_back) and not _lent


def hold_blas() -> None:
    """NumPy's BLAS on one thread, from now on and for the whole process: called by a
    layer whose loops are compiled, on rnnkit's workers or on one core (a BLAS thread that
    spins after a multi-threaded call, in rnnkit or in your code, would slow every step of
    those loops).
    Cheap to call again. ``set_threads(1)`` gives BLAS its threads back
    (:func:`give_back_blas`)."""
    if threads() == 1:
        return
    for controller in blas_controllers():
        count = controller.get_num_threads()
        if count != 1:
            _given_back.setdefault(controller, count)
            controller.set_num_threads(1)


def give_back_blas() -> None:
    """BLAS's thread counts as they were before :func:`hold_blas` first held them."""
    for controller, count in _given_back.items():
        controller.set_num_threads(count)
    _given_back.clear()


def blas_steps():
    """BLAS's own threads for a while, where rnnkit holds it: for a layer whose loops call
    BLAS every step (the Elman RNN's; LSTM and GRU with more than 64 rows, a ``W_hh`` over
    16 MB, float64), as no rnnkit worker runs beside them; products are not split
    meanwhile (a BLAS thread left spinning would slow the split's other half)."""
    return _lent_threads(max(_given_back.values())) if held() else contextlib.nullcontext()


@contextlib.contextmanager
def _lent_threads(count):
    """BLAS on ``count`` threads and nothing split while it lasts; held to one after."""
    global _lent
    controllers = blas_controllers()
    for controller in controllers:
        controller.set_num_threads(count)
    _lent = True
    try:
        yield
    finally:
        _lent = False
        for controller in controllers:
            controller.set_num_threads(1)


def split_workers(M, N, K) -> int:
    """How many workers share the product of (M, K) and (K, N): ``threads()`` where
    rnnkit :func:`held` BLAS and the product has at least SPLIT_FLOPS and more than
    SKINNY rows and columns; else 1."""
    if not held() or 2 * M * N * K < SPLIT_FLOPS or min(M, N) <= SKINNY:
        return 1
    return min(threads(), max(M, N))


# A product with at most SKINNY rows (or columns) is a matrix-vector product in all but
# name: it reads the whole matrix once and is bound by memory, and it takes BLAS's own
# threads, which OpenBLAS runs with less overhead than a hand-off to the pool (one-token
# generation, 2-layer LSTM H = 512, measured 2026-12-07 beside torch: 1,608 us a token with
# such products on one thread, 697-736 us with BLAS's two, 715-776 us before any holding).
SKINNY = 3


def skinny_threads(M, N) -> int:
    """BLAS threads for a product of M rows and N columns: ``threads()`` where it is
    skinny (:data:`SKINNY`) and rnnkit :func:`held` BLAS, else 0 (leave it)."""
    return threads() if min(M, N) <= SKINNY and held() and threads() > 1 else 0


def bounds(size, parts):
    """[(i0, i1), ...]: ``size`` in ``parts`` contiguous, near-equal, non-empty pieces."""
    cuts = [size * p // parts for p in range(parts + 1)]
    return [(i0, i1) for i0, i1 in zip(cuts[:-1], cuts[1:]) if i1 > i0]


def matmul(A, B, out=None, bias=None):
    """``A @ B`` for 2-D ``A`` (M, K) and ``B`` (K, N), into ``out`` (M, N) if given (else a
    kept workspace, ``_workspace.py``), plus ``bias`` (N,) on every row if given; split
    between the workers as the module docstring says, each worker adding the bias to its
    own part."""
    (M, K), N = A.shape, B.shape[1]
    if out is None:
        out = workspace.empty((M, N), np.result_type(A, B))
    skinny = skinny_threads(M, N)
    if skinny:
        with _lent_threads(skinny):
            return _product(A, B, out, bias)
    workers = split_workers(M, N, K)
    if workers == 1:
        return _product(A, B, out, bias)
    if M >= N:
        tasks = [partial(_product, A[i0:i1], B, out[i0:i1], bias) for i0, i1 in bounds(M, workers)]
    else:
        tasks = [partial(_product, A, B[:, j0:j1], out[:, j0:j1],
                         None if bias is None else bias[j0:j1]) for j0, j1 in bounds(N, workers)]
    _pool.run(tasks)
    return out


def _product(A, B, out, bias):
    """One BLAS call, ``out = A @ B``, then ``out += bias`` in place."""
    out = np.matmul(A, B, out=out)
    if bias is not None:
        out += bias
    return out


def row_sum(A):
    """The sum of the rows of a 2-D ``A`` (N, G) -> (G,), as the product ``ones(N) @ A``
    in one BLAS call, which reads ``A`` once. Not through :func:`matmul`: lending BLAS its
    threads for it left them spinning beside the next loop (the text-generation model's
    step 1.24x slower, 2026-12-08)."""
    return np.matmul(np.ones(A.shape[0], A.dtype), A)
