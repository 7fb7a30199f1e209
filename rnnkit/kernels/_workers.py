"""Two (or more) cores on one time loop: the hidden units split between workers, a barrier
after every step.

A recurrent step's product ``h_prev @ W_hh^T`` and its gate arithmetic are independent
per hidden unit, so worker ``w`` of ``W`` computes the gates, cell and state of its own
units ``units(H, W)[w]`` from the whole of ``h_prev``; backward, its part of
``dh_prev = DG @ W_hh`` from the whole of ``DG[t]``. The only exchange is the state (or
gate gradient) row of each step, so the workers meet once a step::

    worker w, step s:   compute its units of step s       (reads the whole row of step s-1)
                        done[w] = s + 1                     (release: its writes are visible)
                        wait until done[v] >= s + 1 for every v   (acquire)

``done`` is an int64 array, one cache line per worker, written and read with atomic
instructions (LLVM IR through numba ``@intrinsic``; numba has no atomics). A worker that
waits re-reads the flags for ``SPIN`` rounds, then calls ``sched_yield`` between rounds,
so that on a machine whose cores other jobs hold, a waiting worker gives its core away
instead of burning it (OpenMP's spinning threads are why BLAS's two threads made a step
15-35x slower on a loaded machine; docs/textgen.md).

Worker 0 runs in the calling thread, the others in a pool of Python threads (the compiled
loops release the GIL). How many: ``rnnkit.kernels.threads()`` (``_threads.py``: the cores
this process may run on, where BLAS's idle threads do not spin for long), and one where
a step is too small to pay for the barrier (:func:`count`).
"""

from __future__ import annotations

from functools import partial

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from rnnkit.kernels import _gemm, _pool
from rnnkit.kernels._jit import njit
from rnnkit.kernels._threads import threads

LINE = 8                                # int64 entries per 64-byte cache line
SPIN = 20000                            # rounds a waiting worker spins before it yields


def _flag_pointer(context, builder, signature, args):
    data = context.make_array(signature.args[0])(context, builder, args[0]).data
    return builder.gep(data, [args[1]])


@intrinsic
def _store_release(typingctx, flags, index, value):
    """flags[index] = value, an atomic store with release order."""
    def codegen(context, builder, signature, args):
        builder.store_atomic(args[2], _flag_pointer(context, builder, signature, args),
                             "release", 8)
        return context.get_dummy_value()
    return types.void(flags, types.intp, types.int64), codegen


@intrinsic
def _load_acquire(typingctx, flags, index):
    """flags[index], an atomic load with acquire order."""
    def codegen(context, builder, signature, args):
        return builder.load_atomic(_flag_pointer(context, builder, signature, args),
                                   "acquire", 8)
    return types.int64(flags, types.intp), codegen


@intrinsic
def _sched_yield(typingctx):
    """``sched_yield()``: give the core to another runnable thread."""
    def codegen(context, builder, signature, args):
        yield_fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
        builder.call(yield_fn, [])
        return context.get_dummy_value()
    return types.void(), codegen


@njit
def arrive_and_wait(done, worker, step):
    """Worker ``worker`` has finished step ``step``; returns once every worker has. Each
    worker's steps must grow from 0 by one per call (the flags only move forward)."""
    _store_release(done, worker * LINE, step + 1)
    spins = 0
    for other in range(done.shape[0] // LINE):
        while _load_acquire(done, other * LINE) < step + 1:
            spins += 1
            if spins > SPIN:
                _sched_yield()


@njit
def spin_while_equal(counter, index, value, rounds, yield_after):
    """Waits while ``counter[index] == value``, for at most ``rounds`` rounds, yielding the
    core after the first ``yield_after`` (a pool thread waiting for its next task)."""
    for spins in range(rounds):
        if _load_acquire(counter, index) != value:
            return
        if spins >= yield_after:
            _sched_yield()


def barrier(workers) -> np.ndarray:
    """A fresh barrier for ``workers`` workers (no step done)."""
    return np.zeros(workers * LINE, np.int64)


# Each worker's share of hidden units is a multiple of this (the packed product's panel
# width), so that no worker's product ends in a partial panel but the last one's.
SHARE_MULTIPLE = 16


def packed_rows(W_hh, gates, workers):
    """[(j0, j1, P), ...]: each worker's hidden units and P = pack(W_hh's rows of those
    units' ``gates`` gate blocks, transposed), the right-hand matrix of its forward step."""
    H = W_hh.shape[1]

    def share(j0, j1):
        rows = np.concatenate([np.arange(g * H + j0, g * H + j1) for g in range(gates)])
        return _gemm.pack_rows(W_hh, rows)
    return _packed_shares(share, units(H, workers))


def packed_columns(W_hh, workers):
    """[(j0, j1, P), ...]: each worker's hidden units and P = pack(W_hh[:, j0:j1]), the
    right-hand matrix of its part of ``dh_prev = DG @ W_hh``."""
    return _packed_shares(lambda j0, j1: _gemm.pack(W_hh[:, j0:j1]), units(W_hh.shape[1], workers))


def _packed_shares(share, bounds):
    """[(j0, j1, share(j0, j1)), ...], each share packed by the worker that will use it, all
    at once (a 9 MB W_hh, H = 757: 3.2 ms forward, 5.8 backward on one core; 1.9 and 2.4
    ms on two, 2026-12-08)."""
    packed = [None] * len(bounds)

    def pack(i, j0, j1):
        packed[i] = (j0, j1, share(j0, j1))
    _pool.run([partial(pack, i, j0, j1) for i, (j0, j1) in enumerate(bounds)])
    return packed


def units(H, workers):
    """[(j0, j1), ...]: ``H`` hidden units in at most ``workers`` contiguous, non-empty
    shares, each boundary a multiple of SHARE_MULTIPLE, as even as that allows."""
    multiple = SHARE_MULTIPLE
    bounds = [0] + [min(H, round(H * w / workers / multiple) * multiple)
                    for w in range(1, workers)] + [H]
    return [(j0, j1) for j0, j1 in zip(bounds[:-1], bounds[1:]) if j1 > j0]


def run_shares(loop, shares, leading, trailing) -> None:
    """Runs ``loop(*leading, P, *trailing, j0, j1, done, worker)`` for every worker's share
    ``(j0, j1, P)`` of :func:`packed_rows` or :func:`packed_columns`, all at once, meeting
    at one fresh barrier."""
    done = barrier(len(shares))
    _pool.run([partial(loop, *leading, P, *trailing, j0, j1, done, worker)
         for worker, (j0, j1, P) in enumerate(shares)])


# A step's product of at least WORKER_STEP_FLOPS is split between the cores; a smaller
# one runs on one (the barrier and the exchange of each step's state cost a few us).
# Measured 2026-12-07, two cores vs one, training / inference, LSTM (B, H) = (8, 200)
# (2.6 MFLOP a step) 1.12x / 1.24x, (1, 625) (3.1) 1.36x / 1.16x, (32, 128) (4.2) 1.27x /
# 1.23x; below 2 MFLOP mixed: GRU (2, 390) (1.8) 0.82x / 1.11x, (4, 232) (1.3) 0.88x /
# 0.90x, LSTM (3, 277) (1.8) 1.17x / 1.28x (docs/speed.md).
WORKER_STEP_FLOPS = 1 << 21


def count(B, H, gates) -> int:
    """How many workers a packed loop of ``B`` rows, ``H`` hidden units and ``gates`` gate
    blocks runs on: :func:`threads`, or 1 for a step under WORKER_STEP_FLOPS."""
    return threads() if 2 * B * gates * H * H >= WORKER_STEP_FLOPS else 1
