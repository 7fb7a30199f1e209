"""NADE: finite differences, a PyTorch twin, normalisation, sampling and bad input."""

import itertools

import numpy as np
import pytest
from helpers import GRAD_TOL, check_module_gradients

import rnnkit
from rnnkit.layers import NADE

TORCH_TOL = 1e-10    # the brief's bound; tighter than helpers.TORCH_TOL


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def make_rows(rng, N, D, H, dtype=np.float64, scale=1.0):
    """Random binary rows (one all-zero, one all-one when N >= 2) and their biases."""
    v = (rng.random((N, D)) < 0.4).astype(dtype)
    if N >= 2:
        v[0], v[1] = 0, 1
    b_v = (rng.standard_normal((N, D)) * scale).astype(dtype)
    b_h = (rng.standard_normal((N, H)) * scale).astype(dtype)
    return v, b_v, b_h


def all_binary_vectors(D):
    return np.array(list(itertools.product([0.0, 1.0], repeat=D)))      # (2^D, D)


def test_init_names_shapes_and_seed():
    nade = NADE(5, 3, dtype=np.float64, seed=1)
    assert [(name, p.shape) for name, p in nade.named_parameters()] == [("W", (3, 5)), ("V", (5, 3))]
    assert np.abs(nade.W.data).max() <= 1 / np.sqrt(5) and np.abs(nade.V.data).max() <= 1 / np.sqrt(3)
    again = NADE(5, 3, dtype=np.float64, seed=1)
    np.testing.assert_array_equal(nade.W.data, again.W.data)
    assert NADE(5, 3).W.dtype == np.float32
    assert repr(nade) == "NADE(num_visible=5, num_hidden=3)"


def test_gradients_match_finite_differences(rng):
    nade = NADE(6, 4, dtype=np.float64, seed=0)
    nade.W.data *= 4                       # weights large enough that every term matters
    nade.V.data *= 4
    v, b_v, b_h = make_rows(rng, 4, 6, 4)

    def backward(weights):
        d_b_v, d_b_h = nade.backward(weights)
        return {"b_v": d_b_v, "b_h": d_b_h}

    worst, errors = check_module_gradients(lambda: nade.forward(v, b_v, b_h), backward,
                                           {"b_v": b_v, "b_h": b_h}, nade.parameters())
    assert worst < GRAD_TOL, errors


def torch_twin(W, V, v, b_v, b_h, d_nll):
    """The same recursion with autograd: nll and the gradients of sum(nll * d_nll)."""
    torch = pytest.importorskip("torch")
    W, V, b_v, b_h = (torch.tensor(x, requires_grad=True) for x in (W, V, b_v, b_h))
    vt = torch.tensor(v)
    a, logits = b_h, []
    for i in range(v.shape[1]):
        h = torch.sigmoid(a)
        logits.append(b_v[:, i] + h @ V[i])
        a = a + vt[:, i:i + 1] * W[:, i]
    z = torch.stack(logits, dim=1)
    nll = torch.nn.functional.binary_cross_entropy_with_logits(z, vt, reduction="none").sum(1)
    (nll * torch.tensor(d_nll)).sum().backward()
    return [x.detach().numpy() for x in (nll, W.grad, V.grad, b_v.grad, b_h.grad)]


def test_matches_torch_twin_and_accumulates(rng):
    N, D, H = 9, 12, 7
    nade = NADE(D, H, dtype=np.float64, seed=3)
    v, b_v, b_h = make_rows(rng, N, D, H, scale=2.0)
    d_nll = rng.standard_normal(N)
    nll = nade.forward(v, b_v, b_h)
    d_b_v, d_b_h = nade.backward(d_nll)
    ref = torch_twin(nade.W.data, nade.V.data, v, b_v, b_h, d_nll)
    for name, ours, theirs in zip(["nll", "W", "V", "b_v", "b_h"],
                                  [nll, nade.W.grad, nade.V.grad, d_b_v, d_b_h], ref):
        np.testing.assert_allclose(ours, theirs, atol=TORCH_TOL, rtol=0, err_msg=name)
    nade.forward(v, b_v, b_h)                           # a second pass adds to .grad
    nade.backward(d_nll)
    np.testing.assert_allclose(nade.W.grad, 2 * ref[1], atol=2 * TORCH_TOL, rtol=0)
    np.testing.assert_allclose(nade.V.grad, 2 * ref[2], atol=2 * TORCH_TOL, rtol=0)


def test_float32_agrees_with_float64(rng):
    N, D, H = 16, 20, 8
    v, b_v, b_h = make_rows(rng, N, D, H)
    d_nll = rng.standard_normal(N)
    results = []
    for dtype in (np.float64, np.float32):
        nade = NADE(D, H, dtype=dtype, seed=5)
        nll = nade.forward(v.astype(dtype), b_v.astype(dtype), b_h.astype(dtype))
        d_b_v, d_b_h = nade.backward(d_nll.astype(dtype))
        outputs = [nll, d_b_v, d_b_h, nade.W.grad, nade.V.grad]
        assert all(x.dtype == dtype for x in outputs)
        results.append(outputs)
    for wide, narrow in zip(*results):
        np.testing.assert_allclose(narrow, wide, rtol=0, atol=1e-5 * max(1, np.abs(wide).max()))


def test_distribution_sums_to_one_and_factorises(rng):
    D, H = 4, 5
    nade = NADE(D, H, dtype=np.float64, seed=2)
    nade.W.data *= 3
    vectors = all_binary_vectors(D)                                      # (16, D)
    for _ in range(3):                                                   # three conditioners
        b_v = np.repeat(rng.standard_normal((1, D)) * 2, len(vectors), axis=0)
        b_h = np.repeat(rng.standard_normal((1, H)) * 2, len(vectors), axis=0)
        with rnnkit.no_grad():
            nll = nade.forward(vectors, b_v, b_h)
        assert np.exp(-nll).sum() == pytest.approx(1.0, abs=1e-12)
        p = nade.conditional_probabilities(vectors, b_v, b_h)
        np.testing.assert_allclose(np.prod(np.where(vectors == 1, p, 1 - p), axis=1), np.exp(-nll),
                                   rtol=1e-12)


def test_extreme_logits_stay_finite(rng):
    nade = NADE(6, 3, dtype=np.float64, seed=0)
    v, b_v, b_h = make_rows(rng, 5, 6, 3)
    b_v = b_v * 1e3                                      # probabilities of exactly 0 or 1 in float64
    nll = nade.forward(v, b_v, b_h)
    d_b_v, d_b_h = nade.backward(np.ones(5))
    assert np.isfinite(nll).all() and np.isfinite(d_b_v).all() and np.isfinite(d_b_h).all()
    assert nll.max() > 100                               # a wrong sure guess costs |logit|


def test_sampling_is_reproducible_and_follows_the_distribution(rng):
    D, H, draws = 4, 6, 40_000
    nade = NADE(D, H, dtype=np.float64, seed=4)
    nade.W.data *= 4                                     # strong dependence between units
    b_v = np.repeat(rng.standard_normal((1, D)), draws, axis=0)
    b_h = np.repeat(rng.standard_normal((1, H)), draws, axis=0)
    samples = nade.sample(b_v, b_h, np.random.default_rng(7))
    np.testing.assert_array_equal(samples, nade.sample(b_v, b_h, np.random.default_rng(7)))
    assert not np.array_equal(samples, nade.sample(b_v, b_h, np.random.default_rng(8)))
    assert samples.dtype == np.float64 and set(np.unique(samples)) <= {0.0, 1.0}

    vectors = all_binary_vectors(D)
    with rnnkit.no_grad():
        expected = draws * np.exp(-nade.forward(vectors, b_v[:16], b_h[:16]))      # (16,)
    index = samples @ (2 ** np.arange(D - 1, -1, -1))   # row of each sample in `vectors`
    observed = np.bincount(index.astype(int), minlength=2 ** D)
    chi2 = ((observed - expected) ** 2 / expected).sum()
    assert chi2 < 40                                     # 15 degrees of freedom: p ~ 5e-4


def test_temperature_zero_is_greedy_and_small_temperature_tends_to_it(rng):
    N, D, H = 50, 10, 6
    nade = NADE(D, H, dtype=np.float64, seed=6)
    _, b_v, b_h = make_rows(rng, N, D, H, scale=2.0)
    generator = np.random.default_rng(1)
    state = generator.bit_generator.state
    greedy = nade.sample(b_v, b_h, generator, temperature=0)
    assert generator.bit_generator.state == state                      # nothing drawn
    p = nade.conditional_probabilities(greedy, b_v, b_h)
    np.testing.assert_array_equal(greedy, (p > 0.5).astype(float))    # each unit its likelier value
    cold = nade.sample(b_v, b_h, np.random.default_rng(2), temperature=1e-9)
    np.testing.assert_array_equal(cold, greedy)
    hot = nade.sample(b_v, b_h, np.random.default_rng(2), temperature=1.0)
    assert not np.array_equal(hot, greedy)


def test_no_grad_keeps_nothing_and_backward_needs_forward(rng):
    nade = NADE(5, 3, dtype=np.float64, seed=0)
    v, b_v, b_h = make_rows(rng, 3, 5, 3)
    with rnnkit.no_grad():
        nade.forward(v, b_v, b_h)
    with pytest.raises(ValueError, match="before forward"):
        nade.backward(np.ones(3))
    nade.forward(v, b_v, b_h)
    nade.backward(np.ones(3))
    with pytest.raises(ValueError, match="before forward"):          # the cache is used up
        nade.backward(np.ones(3))


def test_bool_rows_and_empty_batch(rng):
    nade = NADE(5, 3, dtype=np.float64, seed=0)
    v, b_v, b_h = make_rows(rng, 4, 5, 3)
    np.testing.assert_array_equal(nade.forward(v.astype(bool), b_v, b_h), nade.forward(v, b_v, b_h))
    assert nade.forward(v[:0], b_v[:0], b_h[:0]).shape == (0,)
    assert [g.shape for g in nade.backward(np.zeros(0))] == [(0, 5), (0, 3)]


def test_bad_input(rng):
    nade = NADE(5, 3, dtype=np.float64, seed=0)
    v, b_v, b_h = make_rows(rng, 4, 5, 3)
    with pytest.raises(ValueError, match="v must hold only 0 and 1"):
        nade.forward(np.where(v == 1, 0.5, 0.0), b_v, b_h)
    with pytest.raises(TypeError, match=r"v must be a numpy.ndarray of 0/1 with dtype float64 .* got int64"):
        nade.forward(v.astype(np.int64), b_v, b_h)
    with pytest.raises(TypeError, match="v must be a numpy.ndarray"):
        nade.forward(v.tolist(), b_v, b_h)
    with pytest.raises(ValueError, match=r"v must have shape \(N, num_visible=5\), got \(4, 6\)"):
        nade.forward(np.zeros((4, 6)), b_v, b_h)
    with pytest.raises(ValueError, match=r"b_v must have shape \(N=4, num_visible=5\), got \(3, 5\)"):
        nade.forward(v, b_v[:3], b_h)
    with pytest.raises(ValueError, match=r"b_h must have shape \(N=4, num_hidden=3\), got \(4, 4\)"):
        nade.forward(v, b_v, np.zeros((4, 4)))
    with pytest.raises(ValueError, match="b_h contains NaN"):
        nade.forward(v, b_v, np.where(b_h > 0, np.nan, b_h))
    with pytest.raises(TypeError, match="b_v must have dtype float64"):
        nade.forward(v, b_v.astype(np.float32), b_h)
    nade.forward(v, b_v, b_h)
    with pytest.raises(ValueError, match=r"d_nll must have shape \(N=4,\)"):
        nade.backward(np.ones(5))
    with pytest.raises(ValueError, match="temperature must be a finite number >= 0"):
        nade.sample(b_v, b_h, rng, temperature=-1)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        nade.sample(b_v, b_h, 0)
    with pytest.raises(ValueError, match=r"b_h must have shape \(N=4, num_hidden=3\)"):
        nade.sample(b_v, b_h[:2], rng)
    with pytest.raises(ValueError, match="num_visible must be a positive integer"):
        NADE(0, 3)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        NADE(5, 3, dtype=np.int32)
