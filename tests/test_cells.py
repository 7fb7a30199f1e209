"""Cells: finite-difference checks, torch.nn.*Cell equivalence over several steps
(BPTT through the cell's cache stack), and GRU reset_after=False against an
independent plain reference."""

import numpy as np
import pytest
from helpers import GRAD_TOL, TORCH_TOL, check_module_gradients

import rnnkit

CELLS = {
    "rnn_tanh": lambda **kw: rnnkit.RNNCell(nonlinearity="tanh", **kw),
    "rnn_relu": lambda **kw: rnnkit.RNNCell(nonlinearity="relu", **kw),
    "gru": lambda **kw: rnnkit.GRUCell(**kw),
    "gru_reset_before": lambda **kw: rnnkit.GRUCell(reset_after=False, **kw),
    "lstm": lambda **kw: rnnkit.LSTMCell(**kw),
    "lnlstm": lambda **kw: rnnkit.LayerNormLSTMCell(**kw),
}


def make_state(kind, rng, B, H):
    if kind in ("lstm", "lnlstm"):
        return (rng.standard_normal((B, H)), rng.standard_normal((B, H)))
    return rng.standard_normal((B, H))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_gradients_over_three_steps(kind, bias):
    rng = np.random.default_rng(0)
    B, D, H, T = 3, 4, 5, 3
    cell = CELLS[kind](input_size=D, hidden_size=H, bias=bias, dtype=np.float64, seed=1)
    xs = rng.standard_normal((T, B, D))
    state0 = make_state(kind, rng, B, H)
    parts0 = state0 if isinstance(state0, tuple) else (state0,)

    def forward():
        cell.reset()
        state = state0
        outs = []
        for t in range(T):
            state = cell.forward(xs[t], state)
            outs.append(state)
        return tuple(outs)

    def backward(weights):
        dxs = np.zeros_like(xs)
        d_state = None
        for t in range(T - 1, -1, -1):
            w = weights[t]
            d = w if d_state is None else (
                tuple(a + b for a, b in zip(w, d_state)) if isinstance(w, tuple) else w + d_state)
            dxs[t], d_state = cell.backward(d)
        grads = {"xs": dxs}
        for k, d in enumerate(d_state if isinstance(d_state, tuple) else (d_state,)):
            grads[f"s{k}"] = d
        return grads

    inputs = {"xs": xs, **{f"s{k}": s for k, s in enumerate(parts0)}}
    worst, errors = check_module_gradients(forward, backward, inputs, cell.parameters())
    assert worst < GRAD_TOL, errors


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", ["rnn_tanh", "rnn_relu", "gru", "lstm"])
def test_cell_matches_torch_over_four_steps(kind, bias):
    torch = pytest.importorskip("torch")
    from rnnkit import interop

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    B, D, H, T = 3, 4, 5, 4
    tcls = {"rnn_tanh": lambda **k: torch.nn.RNNCell(nonlinearity="tanh", **k),
            "rnn_relu": lambda **k: torch.nn.RNNCell(nonlinearity="relu", **k),
            "gru": torch.nn.GRUCell, "lstm": torch.nn.LSTMCell}[kind]
    tcell = tcls(input_size=D, hidden_size=H, bias=bias).double()
    cell = interop.from_torch(tcell)
    xs = rng.standard_normal((T, B, D))
    s0 = make_state(kind, rng, B, H)
    d_outs = [make_state(kind, rng, B, H) for _ in range(T)]
    is_lstm = kind == "lstm"

    # rnnkit: forward T steps, then backward T steps in reverse order
    state, outs = s0, []
    for t in range(T):
        state = cell.forward(xs[t], state)
        outs.append(state)
    dxs, d_state = [None] * T, None
    for t in range(T - 1, -1, -1):
        d = d_outs[t]
        if d_state is not None:
            d = tuple(a + b for a, b in zip(d, d_state)) if is_lstm else d + d_state
        dxs[t], d_state = cell.backward(d)

    # torch
    xts = [torch.tensor(x, requires_grad=True) for x in xs]
    s0t = tuple(torch.tensor(s, requires_grad=True) for s in (s0 if is_lstm else (s0,)))
    state_t, loss = (s0t if is_lstm else s0t[0]), 0
    for t in range(T):
        state_t = tcell(xts[t], state_t)
        parts = state_t if is_lstm else (state_t,)
        douts = d_outs[t] if is_lstm else (d_outs[t],)
        loss = loss + sum((p * torch.tensor(d)).sum() for p, d in zip(parts, douts))
        if is_lstm:
            np.testing.assert_allclose(outs[t][0], state_t[0].detach().numpy(), rtol=0, atol=TORCH_TOL)
        else:
            np.testing.assert_allclose(outs[t], state_t.detach().numpy(), rtol=0, atol=TORCH_TOL)
    loss.backward()
    for t in range(T):
        np.testing.assert_allclose(dxs[t], xts[t].grad.numpy(), rtol=0, atol=TORCH_TOL)
    for ours, theirs in zip(d_state if is_lstm else (d_state,), s0t):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=0, atol=TORCH_TOL)
    grads = dict(cell.named_parameters())
    for name, p in tcell.named_parameters():
        np.testing.assert_allclose(grads[name].grad, p.grad.numpy(), rtol=0, atol=TORCH_TOL, err_msg=name)


def plain_gru_reset_before(x, h, W_ih, W_hh, b_ih, b_hh):
    """Cho et al. (2014), one gate at a time, no stacking tricks."""
    H = h.shape[1]
    W_ir, W_iz, W_in = W_ih[:H], W_ih[H:2 * H], W_ih[2 * H:]
    W_hr, W_hz, W_hn = W_hh[:H], W_hh[H:2 * H], W_hh[2 * H:]
    b_ir, b_iz, b_in = b_ih[:H], b_ih[H:2 * H], b_ih[2 * H:]
    b_hr, b_hz, b_hn = b_hh[:H], b_hh[H:2 * H], b_hh[2 * H:]
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    r = sig(x @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
    z = sig(x @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
    n = np.tanh(x @ W_in.T + b_in + (r * h) @ W_hn.T + b_hn)
    return (1 - z) * n + z * h


def test_gru_reset_before_matches_plain_reference():
    rng = np.random.default_rng(5)
    T, B, D, H = 6, 3, 4, 5
    layer = rnnkit.GRU(D, H, reset_after=False, dtype=np.float64, seed=3)
    x = rng.standard_normal((T, B, D))
    h0 = rng.standard_normal((1, B, H))
    out, h_n = layer.forward(x, h0)
    p = {n: q.data for n, q in layer.named_parameters()}
    h = h0[0]
    for t in range(T):
        h = plain_gru_reset_before(x[t], h, p["weight_ih_l0"], p["weight_hh_l0"],
                                   p["bias_ih_l0"], p["bias_hh_l0"])
        np.testing.assert_allclose(out[t], h, rtol=0, atol=1e-13)
    np.testing.assert_allclose(h_n[0], h, rtol=0, atol=1e-13)
    # and it really is a different function from reset_after=True with the same weights
    other = rnnkit.GRU(D, H, reset_after=True, dtype=np.float64, seed=3)
    assert np.abs(other.forward(x, h0)[0] - out).max() > 1e-3


def test_no_grad_keeps_no_cache():
    cell = rnnkit.LSTMCell(3, 4, seed=0)
    with rnnkit.no_grad():
        cell.forward(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="before forward"):
        cell.backward((np.zeros((2, 4), np.float32),) * 2)
