"""The one place numba is imported: compiled loops are cached on disk (``cache=True``),
so the JIT cost is paid once per machine, not once per process.

``error_model="numpy"``: a division by zero gives inf or nan, as in NumPy, instead of
raising; without it numba checks every divisor, and a loop that divides is not vectorised.
"""

from __future__ import annotations

import numba


def njit(fn):
    """Compile ``fn`` in nopython mode, caching the machine code next to the module."""
    return numba.njit(cache=True, nogil=True, error_model="numpy")(fn)
