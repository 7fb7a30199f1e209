"""Attention (rnnkit/seq2seq/attention.py): finite-difference checks of every piece in float64,
exact zeros at padded source positions, a multi-step attention run (gradient w.r.t. the
encoder outputs accumulated over the decoder steps) against the same computation in torch,
and bad input."""

import numpy as np
import pytest
from helpers import GRAD_TOL, TORCH_TOL, check_module_gradients

from rnnkit.seq2seq import attention as att
from rnnkit.seq2seq.attention import Attention, AttentionalOutput

F64 = np.float64
S, B, H_E, H_D, A, T = 5, 3, 4, 3, 6, 3
LENGTHS = np.array([5, 2, 3])
KINDS = ["additive", "dot", "general"]


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _padded(lengths=LENGTHS, S=S):
    return np.arange(S)[:, None] >= lengths[None, :]                  # (S, B)


def check_pair(forward, backward, inputs):
    """Gradient check of a pure forward/backward pair: ``forward(**inputs) -> out, cache``,
    ``backward(dout, cache) -> grads`` in the order of ``inputs``."""
    state = {}

    def run():
        out, state["cache"] = forward(**inputs)
        return out

    def grads(weights):
        return dict(zip(inputs, backward(weights, state["cache"])))

    worst, errors = check_module_gradients(run, grads, inputs, [])
    assert worst < GRAD_TOL, errors
    return grads


# ------------------------------------------------------------------ the pure pairs


def test_additive_score_gradients():
    check_pair(att.additive_score_forward, att.additive_score_backward,
               {"h": _rand(B, H_D), "keys": _rand(S, B, A, seed=1), "W_q": _rand(A, H_D, seed=2),
                "v": _rand(A, seed=3)})


def test_dot_score_gradients():
    check_pair(att.dot_score_forward, att.dot_score_backward,
               {"h": _rand(B, H_D), "keys": _rand(S, B, H_D, seed=1)})


def test_key_projection_gradients():
    check_pair(att.project_keys_forward, att.project_keys_backward,
               {"enc": _rand(S, B, H_E), "W": _rand(A, H_E, seed=1)})


def test_masked_softmax_gradients_and_exact_zeros_at_padding():
    padded = _padded()
    scores = _rand(S, B) * 3
    state = {}

    def forward():
        a, state["cache"] = att.masked_softmax_forward(scores, padded)
        return a

    def backward(w):
        state["d"] = att.masked_softmax_backward(w, state["cache"])
        return {"scores": state["d"]}

    worst, errors = check_module_gradients(forward, backward, {"scores": scores}, [])
    assert worst < GRAD_TOL, errors
    a = forward()
    assert np.all(a[padded] == 0) and np.all(state["d"][padded] == 0)
    np.testing.assert_allclose(a.sum(axis=0), 1.0, rtol=0, atol=1e-15)
    huge = np.where(padded, 1e300, scores)                            # padded scores never count
    np.testing.assert_array_equal(att.masked_softmax_forward(huge, padded)[0], a)
    a32, _ = att.masked_softmax_forward(scores.astype(np.float32), padded)
    assert a32.dtype == np.float32 and np.all(a32[padded] == 0)
    np.testing.assert_allclose(att.masked_softmax_forward(scores, None)[0].sum(0), 1.0, atol=1e-15)


def test_context_gradients():
    check_pair(att.context_forward, att.context_backward,
               {"a": _rand(S, B), "enc": _rand(S, B, H_E, seed=1)})


def test_attentional_output_gradients():
    check_pair(att.attentional_output_forward, att.attentional_output_backward,
               {"c": _rand(B, H_E), "h": _rand(B, H_D, seed=1), "W_c": _rand(H_D, H_E + H_D, seed=2),
                "b_c": _rand(H_D, seed=3)})


# ------------------------------------------------------------------ whole steps


def _modules(kind, seed=0):
    key_size = H_D if kind == "dot" else H_E
    attention = Attention(kind, H_D, key_size, attention_size=A, dtype=F64, seed=seed)
    output = AttentionalOutput(key_size, H_D, H_D, dtype=F64, seed=seed + 1)
    return attention, output, key_size


def _run_steps(attention, output, enc, hs, lengths):
    """T decoder steps over one memory: the attentional vectors (T, B, H) and weights (T, S, B)."""
    memory = attention.memory(enc, lengths)
    outs, weights = [], []
    for h in hs:
        c, a = attention.forward(h, memory)
        outs.append(output.forward(c, h))
        weights.append(a)
    return np.stack(outs), np.stack(weights)


def _backward_steps(attention, output, d_out, d_weights):
    """BPTT order; returns dhs (T, B, H_d) and denc (S, B, H_e)."""
    dhs, d_values, d_keys = [], 0, 0
    for t in range(len(d_out) - 1, -1, -1):
        dc, dh = output.backward(d_out[t])
        dh_att, dv, dk = attention.backward(dc, d_weights[t])
        dhs.append(dh + dh_att)
        d_values, d_keys = d_values + dv, d_keys + dk
    return np.stack(dhs[::-1]), attention.memory_backward(d_values, d_keys)


@pytest.mark.parametrize("kind", KINDS)
def test_attention_steps_gradients_accumulate_over_decoder_steps(kind):
    attention, output, key_size = _modules(kind)
    enc = _rand(S, B, key_size, seed=4) * np.where(_padded(), 0, 1)[:, :, None]   # as an encoder
    hs = _rand(T, B, H_D, seed=5)
    inputs = {"enc": enc, "hs": hs}

    def backward(w):
        dhs, denc = _backward_steps(attention, output, *w)
        return {"hs": dhs, "enc": denc}

    params = attention.parameters() + output.parameters()
    assert [n for n, _ in attention.named_parameters()] == {
        "additive": ["score.W_q", "score.W_k", "score.v"], "dot": [], "general": ["score.W_a"]}[kind]
    worst, errors = check_module_gradients(lambda: _run_steps(attention, output, enc, hs, LENGTHS),
                                           backward, inputs, params)
    assert worst < GRAD_TOL, errors
    # the padded source positions get exactly zero weight and zero gradient
    _, weights = _run_steps(attention, output, enc, hs, LENGTHS)
    _, denc = _backward_steps(attention, output, _rand(T, B, H_D, seed=6), _rand(T, S, B, seed=7))
    assert np.all(weights[:, _padded()] == 0) and np.all(denc[_padded()] == 0)
    assert np.any(denc[~_padded()] != 0)


def _torch_steps(kind, attention, output, enc, hs, lengths, d_out, d_weights):
    """The same T steps with torch.nn.Linear layers (weights copied); outputs and gradients."""
    import torch

    def linear(weight, bias=None):
        layer = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None,
                                dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(torch.tensor(weight))
            if bias is not None:
                layer.bias.copy_(torch.tensor(bias))
        return layer

    score = attention.score
    layers = {"additive": lambda: {"W_q": linear(score.W_q.data), "W_k": linear(score.W_k.data),
                                   "v": linear(score.v.data[None, :])},
              "general": lambda: {"W_a": linear(score.W_a.data)}, "dot": dict}[kind]()
    out_layer = linear(output.W_c.data, output.b_c.data)
    enc_t = torch.tensor(enc, requires_grad=True)
    hs_t = torch.tensor(hs, requires_grad=True)
    padded = torch.tensor(_padded(lengths, enc.shape[0]))
    keys = {"additive": lambda: layers["W_k"](enc_t), "general": lambda: layers["W_a"](enc_t),
            "dot": lambda: enc_t}[kind]()
    outs, weights = [], []
    for t in range(len(hs)):
        h = hs_t[t]
        if kind == "additive":
            e = layers["v"](torch.tanh(keys + layers["W_q"](h)))[..., 0]          # (S, B)
        else:
            e = (keys * h).sum(-1)
        a = torch.softmax(e.masked_fill(padded, float("-inf")), dim=0)
        c = (a[:, :, None] * enc_t).sum(0)
        outs.append(torch.tanh(out_layer(torch.cat([c, h], dim=1))))
        weights.append(a)
    out, w = torch.stack(outs), torch.stack(weights)
    ((out * torch.tensor(d_out)).sum() + (w * torch.tensor(d_weights)).sum()).backward()
    param_grads = {name: layer.weight.grad.numpy().reshape(getattr(score, name).shape)
                   for name, layer in layers.items()}
    param_grads["W_c"], param_grads["b_c"] = out_layer.weight.grad.numpy(), out_layer.bias.grad.numpy()
    return out.detach().numpy(), w.detach().numpy(), hs_t.grad.numpy(), enc_t.grad.numpy(), param_grads


@pytest.mark.parametrize("kind", KINDS)
def test_attention_steps_match_torch(kind):
    pytest.importorskip("torch")
    attention, output, key_size = _modules(kind, seed=3)
    enc, hs = _rand(S, B, key_size, seed=8), _rand(T, B, H_D, seed=9)
    d_out, d_weights = _rand(T, B, H_D, seed=10), _rand(T, S, B, seed=11)
    out, weights = _run_steps(attention, output, enc, hs, LENGTHS)
    dhs, denc = _backward_steps(attention, output, d_out, d_weights)
    ref_out, ref_w, ref_dhs, ref_denc, ref_grads = _torch_steps(
        kind, attention, output, enc, hs, LENGTHS, d_out, d_weights)
    for ours, ref in [(out, ref_out), (weights, ref_w), (dhs, ref_dhs), (denc, ref_denc)]:
        np.testing.assert_allclose(ours, ref, rtol=0, atol=TORCH_TOL)
    params = dict(attention.score.named_parameters()) | dict(output.named_parameters())
    assert sorted(params) == sorted(ref_grads)
    for name, p in params.items():
        np.testing.assert_allclose(p.grad, ref_grads[name], rtol=0, atol=TORCH_TOL, err_msg=name)


def test_attention_without_padding_and_in_float32():
    attention, output, _ = _modules("general")
    enc, hs = _rand(S, B, H_E, seed=1), _rand(T, B, H_D, seed=2)
    out, weights = _run_steps(attention, output, enc, hs, None)
    assert attention.memory(enc).padded is None and np.all(weights > 0)
    np.testing.assert_array_equal(_run_steps(attention, output, enc, hs, np.full(B, S))[0], out)
    a32 = Attention("additive", H_D, H_E, dtype=np.float32, seed=0)
    c, w = a32.forward(hs[0].astype(np.float32), a32.memory(enc.astype(np.float32), LENGTHS))
    assert c.dtype == w.dtype == np.float32 and np.all(w[_padded()] == 0)


# ------------------------------------------------------------------ bad input


def test_bad_attention_arguments_are_refused():
    with pytest.raises(ValueError, match=r"attention kind must be one of \['additive', 'dot', 'general'\]"):
        Attention("concat", 3, 3)
    with pytest.raises(ValueError, match="dot attention needs query_size == key_size"):
        Attention("dot", 3, 4)
    attention = Attention("additive", H_D, H_E, dtype=F64, seed=0)
    with pytest.raises(TypeError, match="enc must have dtype float64"):
        attention.memory(np.zeros((S, B, H_E), np.float32))
    with pytest.raises(ValueError, match=r"enc must have shape \(S, B, key_size=4\)"):
        attention.memory(np.zeros((S, B, H_E + 1)))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T=5\]"):
        attention.memory(np.zeros((S, B, H_E)), np.array([6, 1, 1]))
    memory = attention.memory(np.zeros((S, B, H_E)))
    with pytest.raises(ValueError, match=r"h must have shape \(B=3, query_size=3\)"):
        attention.forward(np.zeros((B + 1, H_D)), memory)
    with pytest.raises(ValueError, match="Attention.backward called before forward"):
        attention.backward(np.zeros((B, H_E)))
    with pytest.raises(ValueError, match="AdditiveScore.backward called before forward"):
        attention.score.backward(np.zeros((S, B)))
    output = AttentionalOutput(H_E, H_D, H_D, dtype=F64)
    with pytest.raises(ValueError, match=r"h must have shape \(B=3, query_size=3\)"):
        output.forward(np.zeros((B, H_E)), np.zeros((B, H_D + 1)))
    with pytest.raises(ValueError, match="AttentionalOutput.backward called before forward"):
        output.backward(np.zeros((B, H_D)))
