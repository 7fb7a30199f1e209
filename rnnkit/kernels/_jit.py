"""The one place numba is imported: compiled loops are cached on disk (``cache=True``),
so the JIT cost is paid once per machine, not once per process."""

from __future__ import annotations

import numba


def njit(fn):
    """Compile ``fn`` in nopython mode, caching the machine code next to the module."""
    return numba.njit(cache=True, nogil=True)(fn)
