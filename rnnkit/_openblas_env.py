"""OpenBLAS's idle threads, told to sleep sooner, before NumPy loads OpenBLAS.

After every multi-threaded call, OpenBLAS's threads keep spinning for
``2 ** OPENBLAS_THREAD_TIMEOUT`` CPU cycles (default ``2 ** 28``: about 0.1 s here) before
they sleep. rnnkit's recurrent loops split a step between the cores themselves
(``rnnkit/kernels/_workers.py``) right after BLAS calls (the input projection, the
previous layer's gradients), and a BLAS thread spinning on a worker's core slows every
step of the loop: measured 2026-12-07 on 2 cores, LSTM (B, T, H) = (4, 100, 256), the
loop on two cores took 2.6 ms after a BLAS call with the spinning left as it is, with
one run in 15 at 112 ms, against 3.5 ms on one core.

So ``import rnnkit`` sets ``OPENBLAS_THREAD_TIMEOUT`` to THREAD_TIMEOUT (``2 ** 16``
cycles, about 27 us) unless it is already set. OpenBLAS reads the variable once, when
it loads: if NumPy was imported before rnnkit (and the variable was not set), it comes
too late, ``spin_bounded`` is False, and the loops stay on one core. Subprocesses
inherit the variable. This module imports nothing that loads NumPy.
"""

from __future__ import annotations

import os
import sys

THREAD_TIMEOUT = "16"

spin_bounded = "numpy" not in sys.modules or "OPENBLAS_THREAD_TIMEOUT" in os.environ
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", THREAD_TIMEOUT)
