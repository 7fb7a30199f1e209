"""Whether OpenBLAS's idle threads spin briefly, which rnnkit's two-core loops need.

After every multi-threaded call, OpenBLAS's threads keep spinning for
``2 ** OPENBLAS_THREAD_TIMEOUT`` CPU cycles (default ``2 ** 28``: about 0.1 s here) before
they sleep. rnnkit's recurrent loops can split a step between the cores themselves
(``rnnkit/kernels/_workers.py``), right after BLAS calls (the input projection, the
previous layer's gradients), and a BLAS thread spinning on a worker's core slows every
step: measured 2026-12-07 on 2 cores, LSTM (B, T, H) = (4, 100, 256), the loop on two
cores took 2.6 ms after a BLAS call with the default spinning, one run in 15 took 112 ms,
against 3.5 ms on one core.

Set ``OPENBLAS_THREAD_TIMEOUT=16`` (``2 ** 16`` cycles, about 27 us) in the environment
*before* NumPy is imported, e.g. ``OPENBLAS_THREAD_TIMEOUT=16 python train.py``, and the
loops use both cores (``spin_bounded`` is True). rnnkit does not set it for you: with
BLAS threads that sleep after 27 us, every BLAS call of a small, short workload wakes
them again, and the sweep of bench/speed.py found such shapes up to 4x slower (a 2 MFLOP
step or less; docs/speed.md), while large steps were 1.2-1.9x faster and the
text-generation model 1.41x. This module imports nothing that loads NumPy.
"""

from __future__ import annotations

import os

spin_bounded = "OPENBLAS_THREAD_TIMEOUT" in os.environ
