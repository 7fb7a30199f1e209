"""The packed float32 product of rnnkit/kernels/_gemm.py against NumPy in float64: every
row-block size (1-6 rows and the blocks of larger batches), full and partial column panels,
views into larger arrays, and the contract that the columns past N are not written."""

import numpy as np
import pytest

from rnnkit import kernels

pytestmark = pytest.mark.skipif(not kernels.available(), reason="numba is not installed")


def product(A, M, out=None):
    from rnnkit.kernels._gemm import matmul, pack

    out = np.full((A.shape[0], M.shape[1]), np.nan, np.float32) if out is None else out
    matmul(A, pack(M), out)
    return out


@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 32])
@pytest.mark.parametrize("K, N", [(1, 1), (5, 3), (13, 16), (40, 17), (100, 130), (64, 512)])
def test_matches_float64_product(rows, K, N):
    rng = np.random.default_rng(rows * 1000 + K + N)
    A = rng.standard_normal((rows, K)).astype(np.float32)
    M = rng.standard_normal((K, N)).astype(np.float32)
    out = product(A, M)
    exact = A.astype(np.float64) @ M.astype(np.float64)
    # float32 rounding of K products: |error| <= K * eps * sum |a_k m_k|
    bound = K * np.finfo(np.float32).eps * (np.abs(A).astype(np.float64) @ np.abs(M))
    assert np.all(np.abs(out - exact) <= bound + 1e-30)


def test_pack_pads_the_last_panel_with_zeros():
    from rnnkit.kernels._gemm import PANEL, pack

    M = np.arange(3 * 20, dtype=np.float32).reshape(3, 20)
    P = pack(M)
    assert P.shape == (2, 3, PANEL) and P.dtype == np.float32
    np.testing.assert_array_equal(P[0], M[:, :16])
    np.testing.assert_array_equal(P[1, :, :4], M[:, 16:])
    assert not P[1, :, 4:].any()


@pytest.mark.parametrize("K, N", [(1, 1), (7, 16), (9, 33), (48, 100)])
def test_pack_of_views_and_of_chosen_rows(K, N):
    """pack reads a strided view as it is; pack_rows(W, rows) is pack(W[rows].T)."""
    from rnnkit.kernels._gemm import pack, pack_rows

    rng = np.random.default_rng(K * N)
    W = rng.standard_normal((2 * N + 3, K + 5)).astype(np.float32)
    view = W[1:2 * N + 1:2, 2:K + 2].T                          # (K, N), strided both ways
    expected = pack(np.ascontiguousarray(view))
    np.testing.assert_array_equal(pack(view), expected)
    rows = np.arange(1, 2 * N + 1, 2)[rng.permutation(N)]
    np.testing.assert_array_equal(pack_rows(W, rows), pack(np.ascontiguousarray(W[rows].T)))
    assert not pack_rows(W, rows)[-1, :, N - 16 * (len(expected) - 1):].any()


def test_rows_of_a_larger_array_in_and_out():
    """The loops pass HS[t] (a (B, H) block of a (T+1, B, H) array) and write into a block
    of a wider array: only that block changes."""
    rng = np.random.default_rng(1)
    HS = rng.standard_normal((4, 9, 24)).astype(np.float32)
    M = rng.standard_normal((24, 40)).astype(np.float32)
    target = np.full((3, 9, 40), 7.0, np.float32)
    product(HS[2], M, out=target[1])
    np.testing.assert_allclose(target[1], HS[2] @ M, rtol=1e-5, atol=1e-5)
    assert (target[0] == 7).all() and (target[2] == 7).all()


def test_columns_past_n_are_left_alone():
    """A partial last panel goes through a buffer: writing into the first 20 columns of a
    wider array leaves the others as they were."""
    rng = np.random.default_rng(2)
    A = rng.standard_normal((5, 8)).astype(np.float32)
    M = rng.standard_normal((8, 20)).astype(np.float32)
    wide = np.full((5, 24), 3.0, np.float32)
    product(A, M, out=wide[:, :20])
    np.testing.assert_allclose(wide[:, :20], A @ M, rtol=1e-5, atol=1e-5)
    assert (wide[:, 20:] == 3).all()
