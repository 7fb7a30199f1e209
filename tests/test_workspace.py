"""Workspaces kept between calls (rnnkit/kernels/_workspace.py): a buffer is handed out
again only when nothing refers to it, within a byte limit; layers give the same numbers
with and without them."""

import weakref

import numpy as np
import pytest

from rnnkit import LSTM
from rnnkit.errors import InputError
from rnnkit.kernels import _workspace as workspace

MB = 1 << 20


@pytest.fixture
def fresh(monkeypatch):
    """An empty set of kept buffers, a 64 MB limit; the module's state restored after."""
    monkeypatch.setattr(workspace, "_buffers", [])
    monkeypatch.setattr(workspace, "_limit", 64 * MB)
    return workspace


def test_empty_is_a_contiguous_writable_array_of_the_shape_and_dtype(fresh):
    for dtype in (np.float32, np.float64, np.int64):
        a = fresh.empty((3, 256, 1024), dtype)
        assert a.shape == (3, 256, 1024) and a.dtype == dtype
        assert a.flags.c_contiguous and a.flags.writeable
        a[...] = 7
        assert (a == 7).all()


def test_a_buffer_nothing_refers_to_is_handed_out_again(fresh):
    a = fresh.empty((512, 1024), np.float32)              # 2 MB
    address = a.ctypes.data
    del a
    b = fresh.empty((256, 2048), np.float32)              # the same bytes, another shape
    assert b.ctypes.data == address and len(fresh._buffers) == 1


@pytest.mark.parametrize("keep", ["array", "view", "reshape", "row"])
def test_a_buffer_still_referred_to_is_never_handed_out(fresh, keep):
    a = fresh.empty((512, 1024), np.float32)
    a[...] = 1.5
    held = {"array": a, "view": a[1:], "reshape": a.reshape(-1), "row": a[3]}[keep]
    del a
    b = fresh.empty((512, 1024), np.float32)
    b[...] = -2.0
    assert (held == 1.5).all()                            # untouched by the new array's writes
    assert len(fresh._buffers) == 2


def test_small_requests_are_plain_arrays(fresh):
    a = fresh.empty((fresh.MIN_BYTES // 8 - 1,), np.float64)
    assert a.base is None and fresh._buffers == []


def test_buffers_are_matched_by_size_at_most_twice_the_request(fresh):
    big = fresh.empty((8 * MB,), np.uint8)
    del big
    small = fresh.empty((2 * MB,), np.uint8)              # 8 MB > 2 x 2 MB: a new buffer
    assert len(fresh._buffers) == 2 and small.base.nbytes == 2 * MB
    del small
    middle = fresh.empty((3 * MB,), np.uint8)             # 8 MB > 6 MB and 2 MB < 3 MB: a third
    assert middle.base.nbytes == 3 * MB
    del middle
    assert fresh.empty((5 * MB,), np.uint8).base.nbytes == 8 * MB   # smallest that fits


def test_the_limit_lets_go_of_the_buffers_unused_longest(fresh):
    fresh.set_limit(10 * MB)
    first = fresh.empty((4 * MB,), np.uint8)
    second = fresh.empty((4 * MB,), np.uint8)
    first_buffer, second_buffer = weakref.ref(first.base), weakref.ref(second.base)
    del first, second
    third = fresh.empty((5 * MB,), np.uint8)              # 13 MB > 10: the first one goes
    assert fresh.kept_bytes() == 9 * MB
    assert first_buffer() is None and second_buffer() is fresh._buffers[0]
    assert third.base is fresh._buffers[-1]


def test_a_request_beyond_the_limit_beside_buffers_in_use_is_a_plain_array(fresh):
    fresh.set_limit(6 * MB)
    held = fresh.empty((4 * MB,), np.uint8)
    extra = fresh.empty((4 * MB,), np.uint8)
    assert extra.base is None and fresh.kept_bytes() == 4 * MB
    assert held.base is fresh._buffers[0]


def test_set_limit_zero_lets_go_of_every_unused_buffer_and_keeps_none(fresh):
    fresh.empty((4 * MB,), np.uint8)
    fresh.set_limit(0)
    assert fresh.kept_bytes() == 0
    assert fresh.empty((4 * MB,), np.uint8).base is None


@pytest.mark.parametrize("bad", [-1, 1.5, "1GB", True, None])
def test_set_limit_rejects_what_is_not_a_byte_count(fresh, bad):
    with pytest.raises(InputError, match="nbytes must be an int >= 0"):
        fresh.set_limit(bad)


def _train_two_steps(bidirectional):
    """Two forward/backward passes of an LSTM large enough to use kept workspaces;
    returns the first pass's output (held across the second), a copy of it, the second
    output and the gradients."""
    rng = np.random.default_rng(0)
    lstm = LSTM(48, 128, num_layers=2, bidirectional=bidirectional, seed=0)
    x1, x2 = (rng.standard_normal((64, 40, 48)).astype(np.float32) for _ in range(2))
    out1, _ = lstm.forward(x1)
    kept = out1.copy()
    lstm.backward(np.ones_like(out1))
    out2, _ = lstm.forward(x2)
    lstm.backward(out2)
    return out1, kept, out2, {name: p.grad.copy() for name, p in lstm.named_parameters()}


@pytest.mark.parametrize("bidirectional", [False, True])
def test_layers_give_the_same_numbers_with_and_without_kept_workspaces(fresh, bidirectional):
    out1, kept, out2, grads = _train_two_steps(bidirectional)
    assert fresh.kept_bytes() > 0
    np.testing.assert_array_equal(out1, kept)             # the held output was not reused
    fresh.set_limit(0)
    plain1, _, plain2, plain_grads = _train_two_steps(bidirectional)
    np.testing.assert_array_equal(out1, plain1)
    np.testing.assert_array_equal(out2, plain2)
    for name in grads:
        np.testing.assert_array_equal(grads[name], plain_grads[name])
