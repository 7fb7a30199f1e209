"""Layer-normalised LSTM (Ba, Kiros & Hinton 2016, "Layer Normalization", section 3.1).

Layer normalisation of a row ``a`` of K features, with gain ``gamma`` and bias ``beta``
(``EPS = 1e-5``, as ``torch.nn.LayerNorm``)::

    LN(a) = gamma * (a - mean(a)) / sqrt(var(a) + EPS) + beta     # mean, var over the K features

Gate order ``i, f, g, o`` as :class:`rnnkit.LSTM`. Parameters: ``weight_ih (4H, D)``,
``weight_hh (4H, H)``, gains ``ln_ih_weight, ln_hh_weight (4H,)``, ``ln_c_weight (H,)``
and, when ``bias``, biases ``ln_ih_bias, ln_hh_bias (4H,)``, ``ln_c_bias (H,)``. The
paper's gate bias ``b`` is not a separate parameter: ``ln_ih_bias + ln_hh_bias`` is it.
Gains start at 1, biases at 0, weights at U(-1/sqrt(H), 1/sqrt(H)).

Forward, in the order the code computes it::

    gi    = LN_ih(x @ W_ih^T)                    # (B, 4H)  hoisted out of the time loop
    gh    = LN_hh(h_prev @ W_hh^T)               # (B, 4H)
    gates = gi + gh
    i, f, o = sigmoid(gates_i), sigmoid(gates_f), sigmoid(gates_o)
    g     = tanh(gates_g)
    c     = f * c_prev + i * g                   # (B, H)  the state keeps c un-normalised
    tc    = tanh(LN_c(c))
    h     = o * tc                               # (B, H)

Backward, given dL/dh and dL/dc (the latter from step t+1); ``LN'`` is the
layer-norm backward below::

    do      = dh * tc
    dc      = dc + LN_c'(dh * o * (1 - tc^2))
    di, dg, df = dc * g, dc * i, dc * c_prev
    dc_prev = dc * f
    dgi     = [di i(1-i), df f(1-f), dg (1-g^2), do o(1-o)]     # dL/dgates
    da_hh   = LN_hh'(dgi);  dW_hh = da_hh^T @ h_prev;  dh_prev = da_hh @ W_hh

Layer-norm backward, with ``a_hat = (a - mean) / sqrt(var + EPS)`` kept from forward::

    dgamma = sum over rows of dy * a_hat;   dbeta = sum over rows of dy
    d_hat  = dy * gamma
    da     = (d_hat - mean(d_hat) - a_hat * mean(d_hat * a_hat)) / sqrt(var + EPS)

PyTorch has no such layer; ``tests/test_layernorm_lstm.py`` checks it against a twin
built from ``torch.nn.LayerNorm`` and a step loop, and by finite differences.
"""

from __future__ import annotations

import numpy as np

from rnnkit.cells.kernel import ParameterSpec, RecurrentKernel
from rnnkit.cells.lstm import gate_activations, gates_backward

EPS = 1e-5


def layer_norm(a, gain, bias):
    """LN over the last axis of ``a (N, K)``; returns ``y (N, K)`` and the cache ``(a_hat, rstd)``."""
    centred = a - a.mean(-1, keepdims=True)
    rstd = 1.0 / np.sqrt((centred * centred).mean(-1, keepdims=True) + EPS)   # (N, 1)
    a_hat = centred * rstd
    y = a_hat * gain
    if bias is not None:
        y += bias
    return y, (a_hat, rstd)


def layer_norm_backward(dy, cache, gain, prefix, has_bias):
    """Returns ``da (N, K)`` and the gain/bias gradients named ``{prefix}_weight/_bias``."""
    a_hat, rstd = cache
    d_hat = dy * gain
    da = rstd * (d_hat - d_hat.mean(-1, keepdims=True)
                 - a_hat * (d_hat * a_hat).mean(-1, keepdims=True))
    grads = {f"{prefix}_weight": (dy * a_hat).sum(0)}
    if has_bias:
        grads[f"{prefix}_bias"] = dy.sum(0)
    return da, grads


class LayerNormLSTMKernel(RecurrentKernel):
    """Step functions of the layer-normalised LSTM; ``state`` is the pair ``(h, c)``."""

    num_gates = 4
    state_names = ("h", "c")
    gate_names = ("input", "forget", "output")

    def parameters(self, input_size, hidden_size, bias):
        G, H = 4 * hidden_size, hidden_size
        specs = [ParameterSpec("weight_ih", (G, input_size)), ParameterSpec("weight_hh", (G, H))]
        for prefix, size in (("ln_ih", G), ("ln_hh", G), ("ln_c", H)):
            specs.append(ParameterSpec(f"{prefix}_weight", (size,), "ones"))
            if bias:
                specs.append(ParameterSpec(f"{prefix}_bias", (size,), "zeros"))
        return specs

    def project_input(self, X, params):
        """GI = LN_ih(X @ W_ih^T) for all rows at once. X (N, D) -> GI (N, 4H)."""
        GI, ln_cache = layer_norm(X @ params["weight_ih"].T, params["ln_ih_weight"],
                                  params.get("ln_ih_bias"))
        return GI, (X, ln_cache)

    def project_input_backward(self, DGI, cache, params):
        X, ln_cache = cache
        dA, grads = layer_norm_backward(DGI, ln_cache, params["ln_ih_weight"], "ln_ih",
                                        "ln_ih_bias" in params)           # (N, 4H)
        grads["weight_ih"] = dA.T @ X                                       # (4H, D)
        return dA @ params["weight_ih"], grads                              # (N, D)

    def step_forward(self, gi, state, params):
        h_prev, c_prev = state
        H = h_prev.shape[1]
        gh, ln_hh = layer_norm(h_prev @ params["weight_hh"].T, params["ln_hh_weight"],
                               params.get("ln_hh_bias"))                    # (B, 4H)
        gates = gi + gh
        i, f, g, o = gate_activations(gates, H)                            # as rnnkit.LSTM
        c = f * c_prev + i * g
        cn, ln_c = layer_norm(c, params["ln_c_weight"], params.get("ln_c_bias"))
        tc = np.tanh(cn)
        h = o * tc
        return (h, c), (h_prev, c_prev, i, f, g, o, tc, ln_hh, ln_c)

    def step_backward(self, d_state, cache, params):
        dh, dc = d_state
        h_prev, c_prev, i, f, g, o, tc, ln_hh, ln_c = cache
        has_bias = "ln_c_bias" in params
        do = dh * tc
        dc_norm, grads = layer_norm_backward(dh * o * (1 - tc * tc), ln_c, params["ln_c_weight"],
                                             "ln_c", has_bias)
        dgates, dc_prev = gates_backward(dc + dc_norm, do, c_prev, i, f, g, o)  # (B, 4H)
        da_hh, ln_grads = layer_norm_backward(dgates, ln_hh, params["ln_hh_weight"], "ln_hh",
                                              has_bias)
        grads |= ln_grads
        grads["weight_hh"] = da_hh.T @ h_prev                               # (4H, H)
        dh_prev = da_hh @ params["weight_hh"]                               # (B, H)
        return dgates, (dh_prev, dc_prev), grads

    def step_gates(self, cache):
        _, _, i, f, _, o = cache[:6]
        return i, f, o
