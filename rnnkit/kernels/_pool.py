"""The threads rnnkit's workers run on: worker 0 is the calling thread, the others a pool
of Python threads, as many as the widest call so far has needed. The work handed to them
(compiled loops, BLAS calls) releases the GIL.

A pool thread that has finished its task does not go to sleep at once: it waits for the
next one in compiled code (GIL released), re-reading a counter of tasks handed to it, for
about SPIN_ROUNDS rounds, each after the first YIELD_AFTER giving its core away
(``sched_yield``) to any other runnable thread, and only then blocks on its queue. The
calls of one training step follow each other within microseconds to milliseconds, and a
core that sleeps between them comes back slowly: on this project's 2-core virtual machine
a product half handed to a thread whose core had been idle for 20-200 ms took 11-12.5 ms
instead of 6.9 (measured 2026-12-07). OpenBLAS's threads wait the same way, for 0.1 s.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

import numpy as np

LINE = 8                                # int64 entries per 64-byte cache line
SPIN_ROUNDS = 20000                     # rounds a finished pool thread waits for more work
YIELD_AFTER = 2000                      # ... of which the first ones without yielding

MAX_THREADS = 256
_threads: list = []                     # [(queue, counter index)] per pool thread
_handed = np.zeros(MAX_THREADS * LINE, np.int64)   # tasks handed to thread i, at [i * LINE]


def _serve(tasks: queue.SimpleQueue, index: int) -> None:
    from rnnkit.kernels._workers import spin_while_equal    # compiled, GIL released
    seen = 0
    while True:
        spin_while_equal(_handed, index, seen, SPIN_ROUNDS, YIELD_AFTER)
        task, future = tasks.get()          # at once if the spin saw it; else sleeps
        seen += 1
        try:
            future.set_result(task())
        except BaseException as error:      # raised in the caller by run()
            future.set_exception(error)


def _grow(size: int) -> None:
    """At least ``size`` pool threads (daemons: they never hold the interpreter open)."""
    if size > MAX_THREADS:
        raise ValueError(f"threads: at most {MAX_THREADS + 1} workers, asked for {size + 1}")
    while len(_threads) < size:
        tasks, index = queue.SimpleQueue(), len(_threads) * LINE
        threading.Thread(target=_serve, args=(tasks, index), daemon=True,
                         name=f"rnnkit-worker-{len(_threads) + 1}").start()
        _threads.append((tasks, index))


def run(tasks) -> None:
    """Runs ``tasks`` (callables), the first in this thread and the rest in the pool, all
    at once, and returns when all have; an exception in any is raised here."""
    if len(tasks) == 1:
        tasks[0]()
        return
    _grow(len(tasks) - 1)                   # every task must run at once: they may meet each step
    futures = []
    for task, (pending, index) in zip(tasks[1:], _threads):
        future = Future()
        pending.put((task, future))
        _handed[index] += 1                 # ends the thread's spin
        futures.append(future)
    tasks[0]()
    for future in futures:
        future.result()
