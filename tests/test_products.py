"""Matrix products on rnnkit's own workers (rnnkit/kernels/_products.py): BLAS held to one
thread while rnnkit uses more than one core, large products split between the workers,
the same numbers."""

import numpy as np
import pytest

import rnnkit
from rnnkit.kernels import _pool, _products, _threads


@pytest.fixture
def blas(monkeypatch):
    """NumPy's BLAS at two threads, nothing held; restored afterwards."""
    controllers = _threads.blas_controllers()
    if not controllers:
        pytest.skip("threadpoolctl finds no BLAS to control")
    before = controllers[0].get_num_threads()
    monkeypatch.setattr(_products, "_given_back", {})
    controllers[0].set_num_threads(2)
    yield controllers[0]
    controllers[0].set_num_threads(before)


@pytest.fixture
def split_calls(monkeypatch):
    """Every product split (no size threshold); records each call's number of parts."""
    calls = []
    run = _pool.run
    monkeypatch.setattr(_products, "SPLIT_FLOPS", 0)
    monkeypatch.setattr(_pool, "run", lambda tasks: (calls.append(len(tasks)), run(tasks)))
    return calls


def test_hold_blas_holds_it_until_one_thread_is_asked_for(blas, monkeypatch):
    monkeypatch.setattr(_threads, "_threads", 2)
    _products.hold_blas()
    assert blas.get_num_threads() == 1
    blas.set_num_threads(3)                                # e.g. a threadpool_limits context
    _products.hold_blas()                                  # held again, 2 still remembered
    assert blas.get_num_threads() == 1
    rnnkit.kernels.set_threads(1)
    assert blas.get_num_threads() == 2                     # given back as it was first
    _products.hold_blas()                                  # one worker: nothing to hold
    assert blas.get_num_threads() == 2


@pytest.mark.parametrize("shape", [(70, 33, 20), (20, 33, 70), (4, 5, 9)])
@pytest.mark.parametrize("transposed", [False, True])
def test_split_product_equals_one_call(shape, transposed, blas, monkeypatch, split_calls):
    """Rows split where M >= N, columns otherwise, into ``out`` or a new array."""
    M, K, N = shape
    monkeypatch.setattr(_threads, "_threads", 3)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((K, M)).T if transposed else rng.standard_normal((M, K))
    b = rng.standard_normal((N, K)).T if transposed else rng.standard_normal((K, N))
    out = np.full((M, N), np.nan)
    assert _products.split_workers(M, N, K) == 1           # not held: BLAS's own threads
    _products.hold_blas()
    new = _products.matmul(a, b)
    into = _products.matmul(a, b, out=out)
    assert into is out
    np.testing.assert_allclose(new, a @ b, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(new, out)
    assert split_calls == [min(3, max(M, N))] * 2
    with _products.blas_steps():                           # BLAS's threads lent: no split
        _products.matmul(a, b)
    assert len(split_calls) == 2


@pytest.mark.parametrize("shape", [(70, 33, 20), (20, 33, 70)])
def test_split_product_adds_the_bias_to_every_row(shape, blas, monkeypatch, split_calls):
    """``bias`` is added by each worker to its rows (M >= N) or columns (M < N)."""
    M, K, N = shape
    monkeypatch.setattr(_threads, "_threads", 2)
    rng = np.random.default_rng(1)
    a, b, bias = rng.standard_normal((M, K)), rng.standard_normal((K, N)), rng.standard_normal(N)
    expected = np.matmul(a, b) + bias
    np.testing.assert_array_equal(_products.matmul(a, b, bias=bias), expected)   # not held
    _products.hold_blas()
    split = _products.matmul(a, b, bias=bias)
    np.testing.assert_allclose(split, expected, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(split, _products.matmul(a, b) + bias)   # the same sums
    assert split_calls == [2, 2]


def test_one_worker_splits_nothing(blas, monkeypatch, split_calls):
    monkeypatch.setattr(_threads, "_threads", 1)
    a, b = np.ones((40, 30), np.float32), np.ones((30, 50), np.float32)
    assert np.array_equal(_products.matmul(a, b), a @ b)
    assert split_calls == [] and blas.get_num_threads() == 2


def test_small_products_run_in_one_call(blas, monkeypatch):
    monkeypatch.setattr(_threads, "_threads", 2)
    _products.hold_blas()
    assert _products.split_workers(32, 512, 128) == 1          # 4 MFLOP
    assert _products.split_workers(3200, 2048, 512) == 2
    assert _products.split_workers(1, 1 << 20, 64) == 1        # one row: skinny, BLAS threads


def test_skinny_products_get_blas_threads_for_the_call(blas, monkeypatch, split_calls):
    """A product of <= SKINNY rows or columns (one-token generation) runs on BLAS's own
    threads, and BLAS is held to one thread again after it."""
    monkeypatch.setattr(_threads, "_threads", 2)
    _products.hold_blas()
    seen = []
    monkeypatch.setattr(_products.np, "matmul",
                        lambda a, b, out=None: (seen.append(blas.get_num_threads()), a @ b)[1])
    a, b = np.ones((1, 30)), np.ones((30, 50))
    assert np.array_equal(_products.matmul(a, b), np.full((1, 50), 30.0))
    _products.matmul(np.ones((40, 30)), b)                 # not skinny: one thread, split
    assert seen == [2, 1, 1] and split_calls == [2]
    assert blas.get_num_threads() == 1


def test_blas_steps_lends_blas_its_threads_back(blas, monkeypatch):
    """blas_steps: BLAS's threads for a while where rnnkit holds it, one thread after;
    nothing changes where rnnkit does not hold BLAS."""
    monkeypatch.setattr(_threads, "_threads", 2)
    with _products.blas_steps():
        assert blas.get_num_threads() == 2 and not _products.held()
    _products.hold_blas()
    assert _products.held()
    with _products.blas_steps():
        assert blas.get_num_threads() == 2 and not _products.held()
    assert blas.get_num_threads() == 1 and _products.held()


def test_bounds():
    assert _products.bounds(10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert _products.bounds(2, 3) == [(0, 1), (1, 2)]


@pytest.mark.parametrize("cell, shape, dtype, blas_threads", [
    ("lstm", (40, 8, 6, 64), np.float32, 1),               # packed on two cores: held
    ("gru", (40, 8, 6, 64), np.float32, 1),
    ("lstm", (5, 3, 6, 8), np.float32, 1),                 # compiled, one core: as it was
    ("lstm", (40, 8, 6, 64), np.float64, 2),               # a BLAS call per step: BLAS's
    ("rnn", (40, 8, 6, 64), np.float32, 2)])
def test_layers_use_the_cores_as_their_loops_do(cell, shape, dtype, blas_threads, blas,
                                                monkeypatch):
    """A layer's products run with BLAS held to one thread where its loops run on rnnkit's
    workers or are compiled, and with BLAS's own threads (lent for the call) where its
    loops call BLAS every step; held again after."""
    from rnnkit.kernels import _loop, _workers
    monkeypatch.setattr(_threads, "_threads", 2)
    monkeypatch.setattr(_workers, "WORKER_STEP_FLOPS", 1)
    monkeypatch.setattr(_loop, "PACK_FROM_ROWS", 64)
    seen = []
    matmul = _products.matmul

    def spy(a, b, out=None, bias=None):
        seen.append(blas.get_num_threads())
        return matmul(a, b, out=out, bias=bias)

    import rnnkit.cells.kernel
    monkeypatch.setattr(rnnkit.cells.kernel, "matmul", spy)
    T, B, D, H = shape
    layer = {"lstm": rnnkit.LSTM, "gru": rnnkit.GRU, "rnn": rnnkit.RNN}[cell](
        D, H, seed=0, dtype=dtype)
    _products.hold_blas()                                  # as an earlier layer would have
    out, _ = layer(np.ones((T, B, D), dtype))
    layer.backward(np.ones_like(out))
    assert seen == [blas_threads] * 3
    assert blas.get_num_threads() == 1                     # held between calls
