"""CrossEntropyLoss(label_smoothing=eps): finite differences and torch's
CrossEntropyLoss(label_smoothing=eps), with a padding mask, ignore_index and both reductions."""

import numpy as np
import pytest
from helpers import GRAD_TOL, TORCH_TOL

import rnnkit
from rnnkit.gradcheck import numerical_gradient, relative_error


@pytest.mark.parametrize("eps", [0.1, 0.35, 1.0])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_label_smoothing_matches_torch_with_mask(eps, reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 3, 5)) * 3                      # (T, B, C)
    targets = rng.integers(0, 5, (6, 3))
    mask = np.arange(6)[:, None] < np.array([6, 4, 2])[None, :]
    loss = rnnkit.CrossEntropyLoss(reduction=reduction, label_smoothing=eps)
    value = loss.forward(logits, np.where(mask, targets, 99), mask)  # masked targets are never read
    grad = loss.backward()
    numeric = numerical_gradient(lambda: loss.forward(logits, targets, mask), logits)
    assert relative_error(grad, numeric) < GRAD_TOL
    lt = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.CrossEntropyLoss(ignore_index=-100, reduction=reduction, label_smoothing=eps)(
        lt.reshape(-1, 5), torch.tensor(np.where(mask, targets, -100)).reshape(-1))
    ref.backward()
    assert abs(value - ref.item()) < TORCH_TOL
    np.testing.assert_allclose(grad, lt.grad.numpy(), atol=TORCH_TOL, rtol=0)
    assert np.all(grad[~mask] == 0)


def test_label_smoothing_with_ignore_index_and_zero_is_the_plain_loss():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((8, 4)) * 50
    targets = rng.integers(0, 4, 8)
    targets[[2, 6]] = 0
    loss = rnnkit.CrossEntropyLoss(ignore_index=0, label_smoothing=0.2)
    lt = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.CrossEntropyLoss(ignore_index=0, label_smoothing=0.2)(lt, torch.tensor(targets))
    ref.backward()
    assert abs(loss.forward(logits, targets) - ref.item()) < TORCH_TOL
    np.testing.assert_allclose(loss.backward(), lt.grad.numpy(), atol=TORCH_TOL, rtol=0)
    plain, zero = rnnkit.CrossEntropyLoss(), rnnkit.CrossEntropyLoss(label_smoothing=0.0)
    assert plain.forward(logits, targets) == zero.forward(logits, targets)
    np.testing.assert_array_equal(plain.backward(), zero.backward())


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.1", True])
def test_bad_label_smoothing_is_refused(bad):
    with pytest.raises(ValueError, match=r"label_smoothing must be a float in \[0, 1\]"):
        rnnkit.CrossEntropyLoss(label_smoothing=bad)
