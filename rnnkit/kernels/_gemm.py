"""A float32 matrix product for few rows, with the right-hand matrix packed once.

The recurrent loops multiply a few rows (the batch, B = 1..64) by the same matrix at every
step: ``S = h_prev @ W_hh^T`` forward, ``dh = DG @ W_hh`` backward. OpenBLAS runs such
skinny products far below its peak (one thread, (B, H) = (4, 256): 22 GFLOP/s, (8, 512):
32), because each call re-packs the matrix and its kernels are shaped for many rows.
Here the matrix is packed once per sequence and every step runs one register-blocked
kernel over it::

    P[p, k, j] = M[k, 16 p + j]          # (ceil(N / 16), K, 16) panels, zero-padded  pack(M)

    for each panel p, for each block of R <= 6 rows r0 .. r0 + R - 1:
        acc[r, 0:16] = sum over k of A[r0 + r, k] * P[p, k, 0:16]   # 2R vectors of 8 floats
        out[r0 + r, 16 p : 16 p + 16] = acc[r]      # matmul(A, P, out); a partial last
                                                    # panel through a (6, 16) buffer

The 2R accumulators (at most 12), the two vectors of a panel row and the broadcast of
``A[r, k]`` fit the 16 AVX registers of an x86-64 core, so the inner loop is loads and
fused multiply-adds only: 40-68 GFLOP/s on one core of the project's machine at
B = 3..16, H <= 512, where ``np.dot`` reaches 10-40 on one thread and 10-59 on two
(``bench/speed.py --gemm``; docs/speed.md). numba does not
produce this kernel from plain loops (LLVM keeps scalar accumulators scalar), so
:func:`_micro_kernel` writes it as LLVM IR with ``<8 x float>`` vectors and
``llvm.fma``; on a CPU without AVX2/FMA, LLVM lowers the same IR to what the CPU has.

float32 only: float64 runs through BLAS (the PyTorch comparisons run in float64).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from rnnkit.kernels._jit import njit

PANEL = 16                              # columns per panel: two vectors of 8 floats
MAX_ROWS = 6                            # rows per kernel call: 12 accumulators

_F32 = ir.FloatType()
_V8 = ir.VectorType(_F32, 8)
_I32 = ir.IntType(32)


def pack(M) -> np.ndarray:
    """M (K, N) -> P (ceil(N / PANEL), K, PANEL) float32, the columns past N zero."""
    K, N = M.shape
    P = np.empty((-(-N // PANEL), K, PANEL), np.float32)
    _pack_columns(M, P)
    return P


def pack_rows(W, rows) -> np.ndarray:
    """``pack(W[rows].T)`` without the copies: P[p, k, j] = W[rows[16 p + j], k]. W (R, K)
    float32, rows (N,) int: the rows of W, in order, that become P's columns."""
    P = np.empty((-(-len(rows) // PANEL), W.shape[1], PANEL), np.float32)
    _pack_rows(W, rows, P)
    return P


@njit
def _pack_columns(M, P):
    K, N = M.shape
    for p in range(P.shape[0]):
        for k in range(K):
            for j in range(PANEL):
                n = p * PANEL + j
                P[p, k, j] = M[k, n] if n < N else 0


@njit
def _pack_rows(W, rows, P):
    N, K = rows.shape[0], W.shape[1]
    P[-1] = 0                                       # the last panel's padding columns
    for n in range(N):
        p, j, row = n // PANEL, n % PANEL, rows[n]
        for k in range(K):                          # one row of W, read in order
            P[p, k, j] = W[row, k]


def _micro_kernel(rows):
    """An intrinsic ``kernel(A, a_start, a_stride, P, p_start, K, out, o_start, o_stride)``:
    out[r, 0:16] = sum_k A[r, k] P[k, 0:16] for r < rows, every index a flat offset into
    the arrays' data (strides in elements)."""

    @intrinsic
    def kernel(typingctx, A, a_start, a_stride, P, p_start, K, out, o_start, o_stride):
        intp = types.intp
        sig = types.void(A, intp, intp, P, intp, intp, out, intp, intp)

        def codegen(context, builder, signature, args):
            a_arr, a_start, a_stride, p_arr, p_start, k_count, o_arr, o_start, o_stride = args
            a_data = context.make_array(signature.args[0])(context, builder, a_arr).data
            p_data = context.make_array(signature.args[3])(context, builder, p_arr).data
            o_data = context.make_array(signature.args[6])(context, builder, o_arr).data
            fma = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(_V8, [_V8, _V8, _V8]), "llvm.fma.v8f32")
            idx = a_start.type
            zero = ir.Constant(_V8, [0.0] * 8)
            acc = [[cgutils.alloca_once_value(builder, zero) for _ in range(2)]
                   for _ in range(rows)]
            a_rows = [builder.gep(a_data, [builder.add(a_start, builder.mul(
                ir.Constant(idx, r), a_stride))]) for r in range(rows)]
            panel = builder.gep(p_data, [p_start])
            splat = ir.Constant(ir.VectorType(_I32, 8), [0] * 8)
            with cgutils.for_range(builder, k_count) as loop:
                k = loop.index
                row = builder.gep(panel, [builder.mul(k, ir.Constant(idx, PANEL))])
                w = [builder.load(builder.bitcast(builder.gep(row, [ir.Constant(idx, 8 * v)]),
                                                  _V8.as_pointer()), align=4) for v in range(2)]
                for r in range(rows):
                    x = builder.load(builder.gep(a_rows[r], [k]))
                    x = builder.insert_element(ir.Constant(_V8, ir.Undefined), x,
                                               ir.Constant(_I32, 0))
                    x = builder.shuffle_vector(x, ir.Constant(_V8, ir.Undefined), splat)
                    for v in range(2):
                        builder.store(builder.call(fma, [x, w[v], builder.load(acc[r][v])]),
                                      acc[r][v])
            for r in range(rows):
                start = builder.add(o_start, builder.mul(ir.Constant(idx, r), o_stride))
                for v in range(2):
                    where = builder.gep(o_data, [builder.add(start, ir.Constant(idx, 8 * v))])
                    builder.store(builder.load(acc[r][v]), builder.bitcast(where, _V8.as_pointer()),
                                  align=4)
            return context.get_dummy_value()

        return sig, codegen

    return kernel


_k1, _k2, _k3, _k4, _k5, _k6 = (_micro_kernel(rows) for rows in range(1, MAX_ROWS + 1))


@njit
def _rows(A, a0, a_stride, P, p0, K, out, o0, o_stride, rows):
    """One panel's kernel over ``rows`` (1..6) rows."""
    if rows == 6:
        _k6(A, a0, a_stride, P, p0, K, out, o0, o_stride)
    elif rows == 5:
        _k5(A, a0, a_stride, P, p0, K, out, o0, o_stride)
    elif rows == 4:
        _k4(A, a0, a_stride, P, p0, K, out, o0, o_stride)
    elif rows == 3:
        _k3(A, a0, a_stride, P, p0, K, out, o0, o_stride)
    elif rows == 2:
        _k2(A, a0, a_stride, P, p0, K, out, o0, o_stride)
    else:
        _k1(A, a0, a_stride, P, p0, K, out, o0, o_stride)


@njit
def matmul(A, P, out):
    """out (M, N) = A (M, K) @ M_, with P = pack(M_) and M_ (K, N); A and out float32 with
    contiguous rows. The columns of a last, partial panel go through a small buffer.
    The rows go MAX_ROWS at a time (:func:`_block_rows`)."""
    M, K = A.shape
    N = out.shape[1]
    a_stride = A.strides[0] // 4
    o_stride = out.strides[0] // 4
    full = N // PANEL
    for p in range(full):
        p0 = p * K * PANEL
        r0 = 0
        while r0 < M:
            rows = _block_rows(M - r0)
            _rows(A, r0 * a_stride, a_stride, P, p0, K, out, r0 * o_stride + p * PANEL,
                  o_stride, rows)
            r0 += rows
    tail = N - full * PANEL
    if tail:
        buffer = np.empty((MAX_ROWS, PANEL), np.float32)
        r0 = 0
        while r0 < M:
            rows = _block_rows(M - r0)
            _rows(A, r0 * a_stride, a_stride, P, full * K * PANEL, K, buffer, 0, PANEL, rows)
            for r in range(rows):
                for j in range(tail):
                    out[r0 + r, full * PANEL + j] = buffer[r, j]
            r0 += rows


@njit
def _block_rows(left):
    """How many of the ``left`` rows the next kernel call takes: MAX_ROWS, but 7 or 8
    left go as 4 + 3 or 4 + 4, not 6 + 1 or 6 + 2: a call of one or two rows has too few
    accumulators to hide the FMAs' latency (13 rows: 6, 4, 3)."""
    if MAX_ROWS < left <= MAX_ROWS + 2:
        return (left + 1) // 2
    return min(MAX_ROWS, left)

