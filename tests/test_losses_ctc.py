"""CTC loss: torch equivalence (loss and dL/dlogits), finite differences, bad inputs."""

import numpy as np
import pytest
from helpers import GRAD_TOL, TORCH_TOL

import rnnkit
from rnnkit.gradcheck import numerical_gradient, relative_error


def torch_ctc(logits, targets, input_lengths, target_lengths, **kwargs):
    torch = pytest.importorskip("torch")
    lt = torch.tensor(logits, requires_grad=True)
    loss = torch.nn.functional.ctc_loss(
        lt.log_softmax(-1), torch.tensor(targets), torch.tensor(input_lengths),
        torch.tensor(target_lengths), **kwargs)
    weights = torch.ones_like(loss)      # d(sum of losses) for reduction='none'
    loss.backward(weights)
    return loss.detach().numpy(), lt.grad.numpy()


def random_case(seed, blank=0, impossible=False):
    """Logits (T, B, C), padded targets with repeats, and lengths; S_b = 0 allowed."""
    rng = np.random.default_rng(seed)
    B, C, S = int(rng.integers(1, 5)), int(rng.integers(3, 7)), int(rng.integers(1, 5))
    T = 2 * S + int(rng.integers(1, 4))
    labels = np.array([c for c in range(C) if c != blank])
    targets = rng.choice(labels, (B, S))
    targets[:, 1:] = np.where(rng.random((B, S - 1)) < 0.4, targets[:, :-1], targets[:, 1:])  # repeats
    target_lengths = rng.integers(0, S + 1, B)
    target_lengths[0] = S
    input_lengths = rng.integers(2 * S + 1, T + 1, B)
    input_lengths[-1] = T
    targets[np.arange(S)[None, :] >= target_lengths[:, None]] = blank   # padding, as torch allows
    if impossible:                     # S labels, all equal: need 2S - 1 frames, give S - 1
        targets[0, :] = labels[0]
        input_lengths[0] = max(S - 1, 1)
    logits = rng.standard_normal((T, B, C)) * 2
    return logits, targets, input_lengths, target_lengths


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ctc_matches_torch(seed, reduction):
    blank = seed % 3                   # 0, 1, 2: blank not only at 0
    case = random_case(seed, blank)
    loss = rnnkit.CTCLoss(blank=blank, reduction=reduction)
    value = loss.forward(*case)
    grad = loss.backward()
    ref_value, ref_grad = torch_ctc(*case, blank=blank, reduction=reduction)
    np.testing.assert_allclose(value, ref_value, atol=TORCH_TOL, rtol=TORCH_TOL)
    np.testing.assert_allclose(grad, ref_grad, atol=TORCH_TOL, rtol=0)
    assert np.all(grad[case[2][0]:, 0] == 0)     # nothing past the input length


def test_ctc_repeated_labels_and_empty_target_by_hand():
    """Equal neighbours need a blank between them; S = 0 is the all-blank path."""
    logits = np.random.default_rng(3).standard_normal((3, 2, 3))
    targets = np.array([[1, 1], [0, 0]])
    loss = rnnkit.CTCLoss(reduction="none")
    values = loss.forward(logits, targets, np.array([3, 3]), np.array([2, 0]))
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    only_path = p[0, 0, 1] * p[1, 0, 0] * p[2, 0, 1]                   # "1 - 1"
    np.testing.assert_allclose(values, [-np.log(only_path), -np.log(p[:, 1, 0].prod())], rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("zero_infinity", [True, False])
def test_ctc_impossible_alignment(reduction, zero_infinity):
    case = random_case(4, blank=1, impossible=True)   # B=3, S=4: only sequence 0 impossible
    loss = rnnkit.CTCLoss(blank=1, reduction=reduction, zero_infinity=zero_infinity)
    value = np.asarray(loss.forward(*case))
    grad = loss.backward()
    ref_value, ref_grad = torch_ctc(*case, blank=1, reduction=reduction, zero_infinity=zero_infinity)
    np.testing.assert_allclose(value, ref_value, atol=TORCH_TOL, rtol=TORCH_TOL)
    if zero_infinity:
        assert np.all(grad[:, 0] == 0) and np.isfinite(value).all() and np.any(grad[:, 1:] != 0)
        np.testing.assert_allclose(grad, ref_grad, atol=TORCH_TOL, rtol=0)
    else:
        assert np.isinf(value).all() if reduction != "none" else np.isinf(value).tolist() == [True, False, False]
        # torch's gradient of an infinite loss is NaN; ours agrees where it is finite
        np.testing.assert_array_equal(np.isnan(grad), np.isnan(ref_grad))
        finite = ~np.isnan(ref_grad)
        np.testing.assert_allclose(grad[finite], ref_grad[finite], atol=TORCH_TOL, rtol=0)


def test_ctc_finite_differences():
    logits, targets, input_lengths, target_lengths = random_case(5, blank=2)
    loss = rnnkit.CTCLoss(blank=2)
    loss.forward(logits, targets, input_lengths, target_lengths)
    analytic = loss.backward(scale=1.0)
    numeric = numerical_gradient(lambda: loss.forward(logits, targets, input_lengths, target_lengths), logits)
    assert relative_error(analytic, numeric) < GRAD_TOL
    loss.forward(logits, targets, input_lengths, target_lengths)
    np.testing.assert_allclose(loss.backward(scale=3.0), 3.0 * analytic, rtol=1e-12)


def test_ctc_none_backward_takes_per_sequence_scale():
    case = random_case(2)
    B = case[0].shape[1]
    scale = np.arange(1.0, B + 1)
    loss = rnnkit.CTCLoss(reduction="none")
    loss.forward(*case)
    grad = loss.backward(scale)
    loss.forward(*case)
    np.testing.assert_allclose(grad, loss.backward() * scale[None, :, None], rtol=1e-12)


@pytest.mark.parametrize("change, message", [
    (dict(logits=np.zeros((4, 2))), r"logits must have shape \(T, B, C\)"),
    (dict(logits=np.zeros((4, 2, 3), np.int64)), "logits must be a float"),
    (dict(targets=np.array([[1, 2]])), r"targets must have shape \(B=2, S\)"),
    (dict(targets=np.array([[1.0, 2.0], [1.0, 2.0]])), "targets must be an integer array"),
    (dict(targets=np.array([[1, 0], [1, 2]])), "must not contain the blank index 0"),
    (dict(targets=np.array([[1, 3], [1, 2]])), r"targets must lie in \[0, C=3\)"),
    (dict(input_lengths=np.array([4, 5])), r"input_lengths must lie in \[1, 4\]"),
    (dict(input_lengths=np.array([0, 4])), r"input_lengths must lie in \[1, 4\]"),
    (dict(input_lengths=np.array([4])), r"input_lengths must have shape \(B=2,\)"),
    (dict(target_lengths=np.array([3, 1])), r"target_lengths must lie in \[0, 2\]"),
    (dict(target_lengths=np.array([1.0, 1.0])), "target_lengths must be integers"),
])
def test_ctc_bad_inputs(change, message):
    args = dict(logits=np.zeros((4, 2, 3)), targets=np.array([[1, 2], [2, 0]]),
                input_lengths=np.array([4, 3]), target_lengths=np.array([2, 1]))
    args.update(change)
    with pytest.raises((ValueError, TypeError), match=message):
        rnnkit.CTCLoss().forward(**args)


def test_ctc_bad_constructor_and_order():
    with pytest.raises(ValueError, match="reduction must be one of"):
        rnnkit.CTCLoss(reduction="batchmean")
    with pytest.raises(ValueError, match="blank must be"):
        rnnkit.CTCLoss(blank=-1)
    with pytest.raises(ValueError, match=r"blank must lie in \[0, C=3\)"):
        rnnkit.CTCLoss(blank=3).forward(np.zeros((2, 1, 3)), np.array([[1]]), np.array([2]), np.array([1]))
    with pytest.raises(ValueError, match="backward called before forward"):
        rnnkit.CTCLoss().backward()


@pytest.mark.parametrize("seed", range(5))
def test_ctc_log_likelihood_is_minus_the_unreduced_loss(seed):
    blank = seed % 2
    # seed 4 with impossible=True: B=3, S=4, sequence 0 has no alignment
    logits, targets, input_lengths, target_lengths = random_case(seed, blank, impossible=seed == 4)
    expected = -rnnkit.losses.CTCLoss(blank, reduction="none").forward(
        logits, targets, input_lengths, target_lengths)
    got = rnnkit.losses.ctc_log_likelihood(logits, targets, input_lengths, target_lengths, blank)
    assert got.shape == (logits.shape[1],)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert np.isneginf(got).tolist() == ([True, False, False] if seed == 4 else [False] * len(got))
    # log probabilities give the same as their logits: log-softmax leaves them as they are
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    np.testing.assert_allclose(rnnkit.losses.ctc_log_likelihood(
        log_probs, targets, input_lengths, target_lengths, blank), got, rtol=0, atol=1e-12)


def test_ctc_log_likelihood_by_hand_and_bad_inputs():
    # T = 2, one label: paths "a a", "a -", "- a" -> 0.5*0.5 + 0.5*0.5 + 0.5*0.5 = 0.75
    log_probs = np.log(np.full((2, 1, 2), 0.5))
    got = rnnkit.losses.ctc_log_likelihood(log_probs, np.array([[1]]), [2], [1])
    assert abs(got[0] - np.log(0.75)) < 1e-12
    with pytest.raises(ValueError, match="must not contain the blank"):
        rnnkit.losses.ctc_log_likelihood(log_probs, np.array([[0]]), [2], [1])
    with pytest.raises(ValueError, match=r"logits must have shape \(T, B, C\)"):
        rnnkit.losses.ctc_log_likelihood(log_probs[:, 0], np.array([[1]]), [2], [1])
