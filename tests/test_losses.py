"""Losses: finite-difference checks and torch equivalence, with masks."""

import numpy as np
import pytest
from helpers import GRAD_TOL, TORCH_TOL

import rnnkit
from rnnkit.gradcheck import numerical_gradient, relative_error


def check_loss(loss, pred, *args, **kwargs):
    value = loss.forward(pred, *args, **kwargs)
    analytic = loss.backward()
    numeric = numerical_gradient(lambda: loss.forward(pred, *args, **kwargs), pred)
    assert relative_error(analytic, numeric) < GRAD_TOL
    return value, analytic


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_cross_entropy_with_padding_mask(rng):
    torch = pytest.importorskip("torch")
    logits = rng.standard_normal((6, 3, 5)) * 3          # (T, B, C)
    targets = rng.integers(0, 5, (6, 3))
    mask = np.ones((6, 3), bool)
    mask[4:, 1] = False
    mask[2:, 2] = False
    value, grad = check_loss(rnnkit.CrossEntropyLoss(), logits, targets, mask)
    padded = np.where(mask, targets, -100)
    lt = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(lt.reshape(-1, 5), torch.tensor(padded).reshape(-1), ignore_index=-100)
    ref.backward()
    assert abs(value - ref.item()) < TORCH_TOL
    np.testing.assert_allclose(grad, lt.grad.numpy(), atol=TORCH_TOL, rtol=0)
    assert np.all(grad[4:, 1] == 0)


def test_cross_entropy_ignore_index_sum_and_extreme_logits(rng):
    torch = pytest.importorskip("torch")
    logits = rng.standard_normal((8, 4)) * 200           # large logits: log-sum-exp must stay finite
    targets = rng.integers(0, 4, 8)
    targets[[1, 5]] = 3
    for reduction in ("mean", "sum"):
        loss = rnnkit.CrossEntropyLoss(ignore_index=3, reduction=reduction)
        value = loss.forward(logits, targets)
        lt = torch.tensor(logits, requires_grad=True)
        ref = torch.nn.functional.cross_entropy(lt, torch.tensor(targets), ignore_index=3, reduction=reduction)
        ref.backward()
        assert np.isfinite(value) and abs(value - ref.item()) < 1e-9 * max(1, abs(value))
        np.testing.assert_allclose(loss.backward(), lt.grad.numpy(), atol=TORCH_TOL, rtol=0)


def test_mse_masked(rng):
    torch = pytest.importorskip("torch")
    pred = rng.standard_normal((5, 2, 3))
    target = rng.standard_normal((5, 2, 3))
    check_loss(rnnkit.MSELoss(), pred, target)
    mask = rng.random((5, 2, 3)) > 0.3
    value, grad = check_loss(rnnkit.MSELoss(), pred, target, mask)
    np.testing.assert_allclose(value, ((pred - target) ** 2)[mask].mean(), rtol=1e-12)
    pt = torch.tensor(pred, requires_grad=True)
    ref = torch.nn.functional.mse_loss(pt, torch.tensor(target))
    ref.backward()
    loss = rnnkit.MSELoss()
    assert abs(loss.forward(pred, target) - ref.item()) < TORCH_TOL
    np.testing.assert_allclose(loss.backward(), pt.grad.numpy(), atol=TORCH_TOL, rtol=0)


def test_bce_with_logits(rng):
    torch = pytest.importorskip("torch")
    logits = rng.standard_normal(12) * 40
    targets = (rng.random(12) > 0.5).astype(float)
    targets[0] = 0.3
    value, grad = check_loss(rnnkit.BCEWithLogitsLoss(), logits, targets)
    lt = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(lt, torch.tensor(targets))
    ref.backward()
    assert abs(value - ref.item()) < TORCH_TOL
    np.testing.assert_allclose(grad, lt.grad.numpy(), atol=TORCH_TOL, rtol=0)
    mask = np.arange(12) % 3 != 0
    value, _ = check_loss(rnnkit.BCEWithLogitsLoss(), logits, targets, mask)


def test_loss_bad_input(rng):
    ce = rnnkit.CrossEntropyLoss()
    with pytest.raises(ValueError, match="targets must have shape"):
        ce.forward(rng.standard_normal((4, 3)), np.zeros(5, int))
    with pytest.raises(ValueError, match=r"targets entries must lie in \[0, 3\)"):
        ce.forward(rng.standard_normal((4, 3)), np.array([0, 1, 2, 3]))
    with pytest.raises(TypeError, match="mask must be a boolean"):
        ce.forward(rng.standard_normal((4, 3)), np.zeros(4, int), mask=np.ones(4))
    with pytest.raises(ValueError, match="mask selects no position"):
        ce.forward(rng.standard_normal((4, 3)), np.zeros(4, int), mask=np.zeros(4, bool))
    with pytest.raises(ValueError, match="NaN"):
        rnnkit.MSELoss().forward(np.array([np.nan]), np.array([0.0]))
    with pytest.raises(ValueError, match="targets must lie in"):
        rnnkit.BCEWithLogitsLoss().forward(np.zeros(2), np.array([0.0, 2.0]))
    with pytest.raises(ValueError, match="before forward"):
        rnnkit.MSELoss().backward()
