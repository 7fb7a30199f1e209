"""Fast paths of the recurrent kernels: one direction's whole time loop per call.

The readable reference is the per-step pair ``step_forward / step_backward`` of
each kernel in ``rnnkit/cells``; the sequence layers use the functions here by
default (``RecurrentLayer.fast_path = True``) and ``tests/test_fastpath.py``
checks them against the reference in float64. The equations are the same, in
the same order; only the bookkeeping differs:

* every per-step array is a slice of a workspace allocated once per call
  (time-major ``(T, B, .)``), so the loop allocates nothing; the large ones are kept
  from one call to the next (``_workspace.py``; a training step then takes no fresh
  pages from the system), at most 1 GB, ``set_workspace_limit(nbytes)`` (0: none);
* the hidden states live in one ``(T + 1, B, H)`` array ``HS`` (``h0`` at one end),
  so ``dW_hh = DGH^T @ H_prev`` is one GEMM over a view, without concatenation;
* element-wise arithmetic of a step is fused into one compiled loop
  (numba, ``cache=True``), while ``tanh`` stays a NumPy call, whose SIMD
  implementation is several times faster than a scalar ``tanh`` in a loop;
* sigmoids are ``sigmoid(a) = (1 + tanh(a / 2)) / 2``, so one ``np.tanh`` call
  covers every gate of a step;
* LSTM only: when ``B * 4H * H`` is tiny (long sequences of one example), per-call
  overhead dominates and the whole loop, matrix products included, runs compiled;
* small float32 LSTM and GRU batches (``_loop.runs_packed``: up to 32 rows, ``W_hh`` up
  to 4 MB, a step's product under 16 MFLOP) run the whole loop compiled too, each step's
  product ``h_prev @ W_hh^T`` (and ``DG @ W_hh`` backward) by the packed kernel of
  ``_gemm.py`` (``W_hh`` packed once per call, register-blocked FMAs on one core), up to
  3x BLAS's speed on such few-row products;
* from a step of 2 MFLOP, those loops split the hidden units between the cores
  (``_workers.py``: each core computes its units' gates from the whole previous state,
  one barrier a step), up to 64 rows and a ``W_hh`` of 16 MB;
* a layer whose loops are compiled holds BLAS to one thread and splits its large
  products between rnnkit's own workers (``_products.py``), so that no BLAS thread spins
  beside a loop's worker; a layer whose loop calls BLAS every step lends BLAS its
  threads; how many cores: ``threads()`` (default: all this process may use) /
  ``set_threads(n)``.

The GRU's ``reset_after=False`` form has no fast path and runs the reference loop.
Measurements and the reasons behind each choice: ``docs/speed.md``.

numba is imported on first use, not by ``import rnnkit``.
"""

from __future__ import annotations

import importlib.util
from functools import cache

from rnnkit.kernels._threads import set_threads, threads  # noqa: F401  (numba-free)
from rnnkit.kernels._workspace import kept_bytes as workspace_bytes  # noqa: F401
from rnnkit.kernels._workspace import set_limit as set_workspace_limit  # noqa: F401


@cache
def available() -> bool:
    """Whether numba is installed (checked without importing it)."""
    return importlib.util.find_spec("numba") is not None
