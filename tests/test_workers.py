"""The recurrent loops split between cores (rnnkit/kernels/_workers.py): the barrier, the
shares of hidden units, the thread count, and results identical to one core's."""

import os
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import rnnkit
from rnnkit import kernels

pytestmark = pytest.mark.skipif(not kernels.available(), reason="numba is not installed")

if kernels.available():
    from rnnkit.kernels import _loop, _pool, _threads, _workers
    from rnnkit.kernels._jit import njit

    @njit
    def _relay(done, worker, slots, seen, steps):
        """Each step: write the step number in this worker's slot, meet, read every slot;
        seen[s] counts the slots that did not hold s (0 if the barrier holds)."""
        for step in range(steps):
            slots[worker * 16] = step
            _workers.arrive_and_wait(done, worker, 2 * step)      # barrier ids only grow
            for other in range(slots.shape[0] // 16):
                if slots[other * 16] != step:
                    seen[step] += 1
            _workers.arrive_and_wait(done, worker, 2 * step + 1)


@pytest.mark.parametrize("workers", [2, 3])
def test_barrier_lets_no_worker_read_a_step_early(workers):
    steps = 3000
    done = _workers.barrier(workers)
    slots = np.full(16 * workers, -1, np.int64)
    seen = [np.zeros(steps, np.int64) for _ in range(workers)]
    _pool.run([lambda w=w: _relay(done, w, slots, seen[w], steps) for w in range(workers)])
    assert all(s.sum() == 0 for s in seen)
    assert done[::_workers.LINE].tolist() == [2 * steps] * workers


def test_units_split_evenly_on_panel_boundaries():
    assert _workers.units(512, 2) == [(0, 256), (256, 512)]
    assert _workers.units(100, 2) == [(0, 48), (48, 100)]
    assert _workers.units(300, 3) == [(0, 96), (96, 192), (192, 300)]
    assert _workers.units(10, 2) == [(0, 10)]              # too few units for two shares
    assert _workers.units(70, 1) == [(0, 70)]


def test_run_raises_a_workers_exception():
    def fails():
        raise RuntimeError("in the pool")
    with pytest.raises(RuntimeError, match="in the pool"):
        _pool.run([lambda: None, fails])


def test_set_threads(monkeypatch):
    monkeypatch.setattr(_threads, "_threads", None)
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ValueError, match="threads: expected a positive int or None"):
            kernels.set_threads(bad)
    kernels.set_threads(3)
    assert kernels.threads() == 3
    kernels.set_threads(None)
    assert kernels.threads() == _threads.default_threads() >= 1
    monkeypatch.setattr(_threads, "_controllers", [])
    assert _threads.default_threads() == 1                 # BLAS's threads out of reach: one core


def test_cli_threads_set_the_loops_threads(monkeypatch):
    from rnnkit.apps._threads import blas_threads
    monkeypatch.setattr(_threads, "_threads", 2)
    with blas_threads(1):
        assert kernels.threads() == 1
    assert kernels.threads() == 2


def test_every_core_by_default_where_blas_can_be_held_to_one_thread():
    code = ("import rnnkit; from rnnkit.kernels import _threads; "
            "print(len(_threads.blas_controllers()), _threads.default_threads(), "
            "_threads.usable_cores())")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMI_", "MPI_"))}
    found, default, cores = map(int, subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split())
    assert found >= 1                                      # NumPy's OpenBLAS
    assert default == cores


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("varlen", [False, True])
def test_two_workers_give_one_workers_results_exactly(cell, varlen, monkeypatch):
    """Each hidden unit's sums run in the same order whichever core computes them (BLAS on
    one thread in both runs, as two workers hold it: its threads may round differently)."""
    T, B, D, H = 9, 6, 20, 80                              # shares 48 + 32: a partial panel
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, D)).astype(np.float32)
    d_out = rng.standard_normal((T, B, 2 * H)).astype(np.float32)
    lengths = np.array([9, 3, 7, 9, 1, 5]) if varlen else None
    monkeypatch.setattr(_loop, "PACK_FROM_ROWS", 0)
    monkeypatch.setattr(_workers, "WORKER_STEP_FLOPS", 0)
    results = []
    for workers in (1, 2):
        monkeypatch.setattr(_threads, "_threads", workers)
        layer = (rnnkit.LSTM if cell == "lstm" else rnnkit.GRU)(
            D, H, num_layers=2, bidirectional=True, dtype=np.float32, seed=1)
        with threadpool_limits(1, user_api="blas"):
            out, state = layer(x, lengths=lengths)
            d_x, _ = layer.backward(d_out)
        states = state if isinstance(state, tuple) else (state,)
        results.append([out, *states, d_x] + [p.grad for p in layer.parameters()])
    assert len(results[0]) == len(results[1]) >= 11
    for one, two in zip(*results):
        assert np.array_equal(np.asarray(one), np.asarray(two))
