"""Workspaces reused from one call to the next, so that a training step does not fault in
fresh pages for arrays it already had last step.

A training step of the text-generation model (2 x 512 LSTM, B 32, T 100) allocates and
frees about 160 MB of large arrays: input projections ``GI``, the loops' state and gate
arrays ``HS, CS, A, TC``, their gradients ``DG``. The C library hands most of that memory
back to the system when it is freed and takes it again at the next step, one page fault
per 4 kB: 4,100 faults a step (measured 2026-12-08). Keeping the C library's heap instead
(``mallopt``) made the step 1.09x faster in the same process, 601 -> 550 ms; a library
should not change its process's ``malloc``, so rnnkit keeps its own large arrays instead::

    A = workspace.empty((T, B, G), np.float32)     # like np.empty, from a kept buffer

A kept buffer is handed out again only when nothing else refers to it: no array made
from it (a view, a reshape) is alive anywhere, in a layer's cache or in the caller's
hands. That is read from CPython's reference count, so an array a caller keeps is never
overwritten; the buffers are found again by the size they hold (at least the bytes
asked for, at most twice). Arrays under MIN_BYTES come from ``np.empty`` (the C library
reuses small blocks itself).

At most :func:`limit` bytes are kept (default LIMIT_BYTES); past it the buffers unused
longest are let go, and a request that would not fit beside the ones in use gets a
plain ``np.empty``. ``set_limit(0)`` turns keeping off and lets go of every buffer.
"""

from __future__ import annotations

import math
import sys
import threading

import numpy as np

from rnnkit.errors import InputError

MIN_BYTES = 1 << 20
LIMIT_BYTES = 1 << 30

_buffers: list = []                     # 1-D uint8 arrays, least recently handed out first
_lock = threading.Lock()
_limit = LIMIT_BYTES


def limit() -> int:
    """The most bytes kept between calls."""
    return _limit


def set_limit(nbytes: int) -> None:
    """Keep at most ``nbytes`` bytes of workspaces between calls (0: keep none)."""
    global _limit
    if isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)) or nbytes < 0:
        raise InputError(f"nbytes must be an int >= 0, got {nbytes!r}")
    with _lock:
        _limit = int(nbytes)
        _let_go(0)


def kept_bytes() -> int:
    """Bytes held now, in use or not."""
    with _lock:
        return sum(buffer.nbytes for buffer in _buffers)


def _unused(index) -> bool:
    """Whether nothing but ``_buffers`` refers to ``_buffers[index]`` (the list's
    reference and the argument's make 2)."""
    return sys.getrefcount(_buffers[index]) <= 2


def _let_go(needed) -> int:
    """Drop unused buffers, least recently handed out first, until ``needed`` more bytes
    fit under the limit; returns the bytes still kept."""
    total = sum(buffer.nbytes for buffer in _buffers)
    index = 0
    while total + needed > _limit and index < len(_buffers):
        if _unused(index):
            total -= _buffers.pop(index).nbytes
        else:
            index += 1
    return total


def _take(nbytes):
    """An unused kept buffer of nbytes to 2 * nbytes bytes (the smallest), moved to the
    end of the list; or a new one, kept if it fits under the limit; or None."""
    best = None
    for index in range(len(_buffers)):
        size = _buffers[index].nbytes
        if nbytes <= size <= 2 * nbytes and (best is None or size < _buffers[best].nbytes) \
                and _unused(index):
            best = index
    if best is not None:
        buffer = _buffers.pop(best)
        _buffers.append(buffer)
        return buffer
    if _let_go(nbytes) + nbytes > _limit:
        return None
    buffer = np.empty(nbytes, np.uint8)
    _buffers.append(buffer)
    return buffer


def empty(shape, dtype) -> np.ndarray:
    """An uninitialised C-contiguous array, as ``np.empty(shape, dtype)``; large ones are
    views of a kept buffer."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize              # not np.prod: microseconds a call
    if nbytes < MIN_BYTES:
        return np.empty(shape, dtype)
    with _lock:
        buffer = _take(nbytes)
    if buffer is None:
        return np.empty(shape, dtype)
    return buffer[:nbytes].view(dtype).reshape(shape)
