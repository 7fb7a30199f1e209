"""Building blocks: Embedding, Linear, Dropout, LastValid, Sequential —
finite-difference checks and PyTorch equivalence where torch has the same thing."""

import numpy as np
import pytest
from helpers import GRAD_TOL, TORCH_TOL, check_module_gradients

import rnnkit

F64 = np.float64


def test_linear_gradients_on_sequences():
    rng = np.random.default_rng(0)
    lin = rnnkit.Linear(4, 3, dtype=F64, seed=0)
    x = rng.standard_normal((5, 2, 4))                  # (T, B, H): y_t = W_hy h_t at every step
    worst, errors = check_module_gradients(lambda: lin.forward(x), lambda w: {"x": lin.backward(w)},
                                           {"x": x}, lin.parameters())
    assert worst < GRAD_TOL, errors


def test_linear_without_bias():
    lin = rnnkit.Linear(4, 3, bias=False, dtype=F64, seed=0)
    assert [n for n, _ in lin.named_parameters()] == ["weight"]
    x = np.random.default_rng(1).standard_normal((2, 4))
    np.testing.assert_allclose(lin.forward(x), x @ lin.weight.data.T)


def test_embedding_gradients_accumulate_repeated_ids():
    emb = rnnkit.Embedding(6, 3, dtype=F64, seed=0)
    ids = np.array([[1, 2, 1], [5, 1, 0]])
    worst, errors = check_module_gradients(lambda: emb.forward(ids), lambda w: (emb.backward(w), {})[1],
                                           {}, emb.parameters())
    assert worst < GRAD_TOL, errors


@pytest.mark.parametrize("dtype", [np.float32, F64])
def test_embedding_backward_is_np_add_at_bit_for_bit(dtype):
    """The compiled scatter (rnnkit/kernels/scatter.py) adds the same rows in the same order
    as np.add.at: many repeats of a few ids, in float32 where the order shows."""
    rng = np.random.default_rng(3)
    emb = rnnkit.Embedding(7, 5, dtype=dtype, seed=0)
    ids = rng.integers(0, 7, (40, 9))
    d_out = rng.standard_normal((40, 9, 5)).astype(dtype)
    emb.weight.grad[...] = rng.standard_normal((7, 5))
    expected = emb.weight.grad.copy()
    np.add.at(expected, ids.reshape(-1), d_out.reshape(-1, 5))
    emb.forward(ids)
    emb.backward(d_out)
    np.testing.assert_array_equal(emb.weight.grad, expected)


def test_embedding_padding_row_stays_zero_and_gets_no_gradient():
    emb = rnnkit.Embedding(5, 2, padding_idx=0, dtype=F64, seed=0)
    ids = np.array([0, 3, 0])
    out = emb.forward(ids)
    assert np.all(out[0] == 0)
    emb.backward(np.ones((3, 2)))
    assert np.all(emb.weight.grad[0] == 0)
    np.testing.assert_array_equal(emb.weight.grad[3], [1, 1])


def test_linear_and_embedding_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    lin = rnnkit.Linear(4, 3, dtype=F64, seed=0)
    tlin = torch.nn.Linear(4, 3).double()
    with torch.no_grad():
        tlin.weight.copy_(torch.tensor(lin.weight.data))
        tlin.bias.copy_(torch.tensor(lin.bias.data))
    x = rng.standard_normal((5, 2, 4))
    dy = rng.standard_normal((5, 2, 3))
    xt = torch.tensor(x, requires_grad=True)
    (tlin(xt) * torch.tensor(dy)).sum().backward()
    np.testing.assert_allclose(lin.forward(x), tlin(xt).detach().numpy(), atol=TORCH_TOL, rtol=0)
    dx = lin.backward(dy)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=TORCH_TOL, rtol=0)
    np.testing.assert_allclose(lin.weight.grad, tlin.weight.grad.numpy(), atol=TORCH_TOL, rtol=0)
    np.testing.assert_allclose(lin.bias.grad, tlin.bias.grad.numpy(), atol=TORCH_TOL, rtol=0)

    emb = rnnkit.Embedding(7, 3, padding_idx=2, dtype=F64, seed=1)
    temb = torch.nn.Embedding(7, 3, padding_idx=2).double()
    with torch.no_grad():
        temb.weight.copy_(torch.tensor(emb.weight.data))
    ids = rng.integers(0, 7, (4, 5))
    de = rng.standard_normal((4, 5, 3))
    (temb(torch.tensor(ids)) * torch.tensor(de)).sum().backward()
    np.testing.assert_array_equal(emb.forward(ids), temb(torch.tensor(ids)).detach().numpy())
    emb.backward(de)
    np.testing.assert_allclose(emb.weight.grad, temb.weight.grad.numpy(), atol=TORCH_TOL, rtol=0)


def test_dropout_scales_kept_units_and_backward_uses_the_same_mask():
    drop = rnnkit.Dropout(0.25, seed=0)
    x = np.ones((1000, 8))
    y = drop.forward(x)
    assert set(np.unique(y)) == {0.0, 1 / 0.75}
    assert abs((y == 0).mean() - 0.25) < 0.02
    np.testing.assert_array_equal(drop.backward(np.ones_like(x)), y)
    drop.eval()
    np.testing.assert_array_equal(drop.forward(x), x)


def test_dropout_is_reproducible_from_its_seed():
    x = np.ones((5, 5))
    np.testing.assert_array_equal(rnnkit.Dropout(0.5, seed=3).forward(x), rnnkit.Dropout(0.5, seed=3).forward(x))


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_last_valid_pooling(bidirectional, batch_first):
    rng = np.random.default_rng(0)
    out = rng.standard_normal((3, 6, 4) if batch_first else (6, 3, 4))
    lengths = np.array([6, 2, 4])
    pool = rnnkit.LastValid(bidirectional=bidirectional, batch_first=batch_first)
    y = pool.forward(out, lengths)
    seq = out.transpose(1, 0, 2) if batch_first else out
    for b, L in enumerate(lengths):
        expected = seq[L - 1, b].copy()
        if bidirectional:
            expected[2:] = seq[0, b, 2:]
        np.testing.assert_array_equal(y[b], expected)
    worst, errors = check_module_gradients(lambda: pool.forward(out, lengths),
                                           lambda w: {"out": pool.backward(w)}, {"out": out}, [])
    assert worst < GRAD_TOL, errors


def test_sequential_many_to_one_model_gradients():
    rng = np.random.default_rng(0)
    model = rnnkit.Sequential(
        rnnkit.Embedding(10, 4, dtype=F64, seed=0),
        rnnkit.GRU(4, 5, bidirectional=True, dtype=F64, seed=1),
        rnnkit.LastValid(bidirectional=True),
        rnnkit.Linear(10, 2, dtype=F64, seed=2),
    )
    ids = rng.integers(0, 10, (6, 3))
    lengths = np.array([6, 1, 4])
    worst, errors = check_module_gradients(lambda: model.forward(ids, lengths=lengths),
                                           lambda w: (model.backward(w), {})[1], {}, model.parameters())
    assert worst < GRAD_TOL, errors
    names = [n for n, _ in model.named_parameters()]
    assert names[:2] == ["0.weight", "1.weight_ih_l0"] and names[-1] == "3.bias"
    assert len(model.final_states) == 1 and model.final_states[0].shape == (2, 3, 5)


def test_sequential_many_to_many_with_dropout():
    rng = np.random.default_rng(1)
    model = rnnkit.Sequential(rnnkit.LSTM(3, 4, num_layers=2, dtype=F64, seed=0),
                              rnnkit.Dropout(0.3, seed=0), rnnkit.Linear(4, 2, dtype=F64, seed=1))
    model.eval()  # dropout off: a deterministic function for finite differences
    x = rng.standard_normal((5, 2, 3))
    worst, errors = check_module_gradients(lambda: model.forward(x), lambda w: {"x": model.backward(w)},
                                           {"x": x}, model.parameters())
    assert worst < GRAD_TOL, errors
    model.train()
    assert all(m.training for m in model.modules())


def test_module_state_dict_round_trip_and_refusal():
    a = rnnkit.LSTM(3, 4, num_layers=2, seed=0)
    b = rnnkit.LSTM(3, 4, num_layers=2, seed=1)
    b.load_state_dict(a.state_dict())
    for (n, p), (m, q) in zip(a.named_parameters(), b.named_parameters()):
        assert n == m and np.array_equal(p.data, q.data)
    with pytest.raises(ValueError, match="missing"):
        rnnkit.LSTM(3, 4, num_layers=3).load_state_dict(a.state_dict())
    wrong = a.state_dict()
    wrong["weight_hh_l0"] = np.zeros((4, 4), np.float32)
    before = b.state_dict()
    with pytest.raises(ValueError, match="weight_hh_l0"):
        b.load_state_dict(wrong)
    for k, v in b.state_dict().items():     # refused entirely: nothing half-loaded
        np.testing.assert_array_equal(v, before[k])
