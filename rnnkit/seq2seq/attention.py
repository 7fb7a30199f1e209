"""Attention over encoder outputs, one decoder step at a time, with hand-written backward.

Layout is **time-major**, as everywhere in rnnkit: the encoder outputs (the *values*)
are ``enc (S, B, H_e)``, and the scores, weights and source padding are ``(S, B)``
(source position first). A decoder state is ``h (B, H_d)``.

One step, in the order the code computes it (``keys`` are computed once per source
sequence, not per decoder step: :meth:`Attention.memory`)::

    keys   = enc W_k^T                      # (S, B, A)    additive  (Bahdanau et al. 2015)
           = enc W_a^T                      # (S, B, H_d)  general   (Luong et al. 2015)
           = enc                            # (S, B, H_e)  dot       (Luong; H_d == H_e)
    e_s    = v^T tanh(W_q h + keys_s)       # (S, B)       additive
           = h^T keys_s                     # (S, B)       dot and general (= h^T W_a enc_s)
    a      = softmax_s(e) over valid s      # (S, B)       a_s = 0 exactly where s >= length
    c      = sum_s a_s enc_s                # (B, H_e)     the context

and, once per step after the attention, Luong's attentional vector
(:class:`AttentionalOutput`)::

    h~     = tanh(W_c [c; h] + b_c)         # (B, H_out)

Backward, in reverse order (``dh`` from both the score and the output layer)::

    dh~ -> dpre = dh~ (1 - h~^2);  dW_c += dpre^T [c; h];  db_c += sum dpre;  [dc; dh] = dpre W_c
    dc  -> da_s = dc . enc_s;  denc_s += a_s dc
    da  -> de = a (da - sum_s a_s da_s)                     # zero where a_s = 0 (padding)
    de  -> additive: du = de v;  dpre = du (1 - u^2) with u = tanh(W_q h + keys);
                     dv += sum u de;  dkeys = dpre;  dq = sum_s dpre;  dW_q += dq^T h;  dh = dq W_q
           dot/general: dh = sum_s de_s keys_s;  dkeys_s = de_s h
    after the last step backward (keys were shared by every step):
           denc += dkeys W_k (additive) / dkeys W_a (general) / dkeys (dot);  dW_k += dkeys^T enc

Every piece is a CS231n-style pair of pure functions (``*_forward -> out, cache`` and
``*_backward(dout, cache)``); the Modules hold the parameters, a *stack* of step
caches (forward may run for several steps; each ``backward`` undoes the latest
forward, BPTT order, as the single-step cells do) and accumulate ``Parameter.grad``.

Parameters are stored in ``torch.nn.Linear``'s ``(out, in)`` layout, so weights port
to ``nn.Linear(in, out, bias=False)`` by copying: ``W_q (A, H_d)``, ``W_k (A, H_e)``,
``v (A,)`` (``nn.Linear(A, 1).weight[0]``), ``W_a (H_d, H_e)``, ``W_c (H_out, H_e + H_d)``
and ``b_c (H_out,)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnnkit._validation import (
    check_dtype, check_float_array, check_lengths, check_positive_int, require_forward,
)
from rnnkit.errors import InputError
from rnnkit.layers.recurrent import padding_mask
from rnnkit.module import Module, Parameter, is_grad_enabled

KINDS = ("additive", "dot", "general")


# ----------------------------------------------------------------------------- pure pairs

def project_keys_forward(enc, W):
    """keys = enc W^T. enc (S, B, H_e), W (K, H_e) -> keys (S, B, K)."""
    return enc @ W.T, (enc, W)


def project_keys_backward(dkeys, cache):
    """dW = dkeys^T enc (all S*B rows at once), denc = dkeys W."""
    enc, W = cache
    dW = dkeys.reshape(-1, W.shape[0]).T @ enc.reshape(-1, W.shape[1])     # (K, H_e)
    return dkeys @ W, dW                                                     # (S, B, H_e)


def additive_score_forward(h, keys, W_q, v):
    """e = tanh(h W_q^T + keys) v. h (B, H_d), keys (S, B, A) -> e (S, B)."""
    u = np.tanh(keys + h @ W_q.T)                                  # (S, B, A)
    return u @ v, (h, u, W_q, v)


def additive_score_backward(de, cache):
    """Returns dh (B, H_d), dkeys (S, B, A), dW_q (A, H_d), dv (A,)."""
    h, u, W_q, v = cache
    dv = np.einsum("sb,sba->a", de, u)
    dpre = de[:, :, None] * v * (1 - u * u)                        # (S, B, A)
    dq = dpre.sum(axis=0)                                          # (B, A)
    return dq @ W_q, dpre, dq.T @ h, dv


def dot_score_forward(h, keys):
    """e_s = h . keys_s. h (B, H), keys (S, B, H) -> e (S, B)."""
    return np.einsum("bh,sbh->sb", h, keys), (h, keys)


def dot_score_backward(de, cache):
    """Returns dh (B, H) and dkeys (S, B, H)."""
    h, keys = cache
    return np.einsum("sb,sbh->bh", de, keys), de[:, :, None] * h


def masked_softmax_forward(scores, padded):
    """Softmax over source positions (axis 0); padded (S, B) bool or None.

    Padded scores become -inf before the exponential, so their weights are exactly 0
    (and so are their gradients in backward: ``de = a (da - sum a da)`` has the factor a).
    """
    if padded is not None:
        scores = np.where(padded, -np.inf, scores)
    e = np.exp(scores - scores.max(axis=0, keepdims=True))        # (S, B); every column has a valid s
    a = e / e.sum(axis=0, keepdims=True)
    return a, a


def masked_softmax_backward(da, a):
    """de = a (da - sum_s a_s da_s)."""
    return a * (da - (a * da).sum(axis=0, keepdims=True))


def context_forward(a, enc):
    """c = sum_s a_s enc_s. a (S, B), enc (S, B, H_e) -> c (B, H_e)."""
    return np.einsum("sb,sbh->bh", a, enc), (a, enc)


def context_backward(dc, cache):
    """Returns da (S, B) and denc (S, B, H_e)."""
    a, enc = cache
    return np.einsum("bh,sbh->sb", dc, enc), a[:, :, None] * dc


def attentional_output_forward(c, h, W_c, b_c):
    """h~ = tanh([c; h] W_c^T + b_c). c (B, H_e), h (B, H_d) -> h~ (B, H_out)."""
    ch = np.concatenate([c, h], axis=1)                            # (B, H_e + H_d)
    h_tilde = np.tanh(ch @ W_c.T + b_c)
    return h_tilde, (ch, h_tilde, W_c, c.shape[1])


def attentional_output_backward(dh_tilde, cache):
    """Returns dc (B, H_e), dh (B, H_d), dW_c, db_c."""
    ch, h_tilde, W_c, H_e = cache
    dpre = dh_tilde * (1 - h_tilde * h_tilde)                      # (B, H_out)
    dch = dpre @ W_c                                               # (B, H_e + H_d)
    return dch[:, :H_e], dch[:, H_e:], dpre.T @ ch, dpre.sum(axis=0)


# ----------------------------------------------------------------------------- modules

def _uniform(rng, shape, fan_in, dtype):
    """torch.nn.Linear's initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / np.sqrt(fan_in)
    return Parameter(rng.uniform(-bound, bound, shape).astype(dtype))


class StepModule(Module):
    """A Module whose forward may run for several steps before backward: it keeps a
    stack of caches, and each backward pops the latest (BPTT order).

    ``_forward_step(pair_forward, *args)`` runs a pure forward and pushes its cache;
    ``_backward_step(pair_backward, dout, names)`` pops it, adds the trailing gradients
    the pure backward returns to the Parameters ``names`` (in that order) and returns the
    leading ones (the inputs' gradients).
    """

    def _push(self, cache) -> None:
        if is_grad_enabled():
            self._caches.append(cache)

    def _pop(self):
        require_forward(self._caches or None, type(self).__name__)
        return self._caches.pop()

    def _forward_step(self, pair_forward, *args):
        out, cache = pair_forward(*args)
        self._push(cache)
        return out

    def _backward_step(self, pair_backward, dout, names=()):
        grads = pair_backward(dout, self._pop())
        inputs = len(grads) - len(names)
        for name, grad in zip(names, grads[inputs:]):
            getattr(self, name).grad += grad
        return grads[:inputs]

    def reset(self) -> None:
        """Drop cached steps (e.g. after a forward that was not backpropagated)."""
        self._caches.clear()


class ProjectedKeys(StepModule):
    """A score whose keys are a projection ``keys = enc W^T``, computed once per source
    batch; ``key_weight`` names the Parameter ``W`` (``W_k`` or ``W_a``)."""

    _keys_cache = None

    def keys(self, enc):
        keys, self._keys_cache = project_keys_forward(enc, self.key_weight.data)
        return keys

    def keys_backward(self, dkeys):
        require_forward(self._keys_cache, type(self).__name__)
        denc, dW = project_keys_backward(dkeys, self._keys_cache)
        self.key_weight.grad += dW
        self._keys_cache = None
        return denc


class AdditiveScore(ProjectedKeys):
    """Bahdanau et al. (2015): ``e_s = v^T tanh(W_q h + W_k enc_s)``, no biases.

    Parameters: ``W_q (A, H_d)``, ``W_k (A, H_e)``, ``v (A,)``.
    """

    def __init__(self, query_size, key_size, attention_size, dtype, rng):
        self.W_q = _uniform(rng, (attention_size, query_size), query_size, dtype)
        self.W_k = _uniform(rng, (attention_size, key_size), key_size, dtype)
        self.v = _uniform(rng, (attention_size,), attention_size, dtype)
        self._caches = []

    @property
    def key_weight(self):
        return self.W_k

    def forward(self, h, keys):
        return self._forward_step(additive_score_forward, h, keys, self.W_q.data, self.v.data)

    def backward(self, de):
        """Returns dh (B, H_d) and dkeys (S, B, A); accumulates dW_q and dv."""
        return self._backward_step(additive_score_backward, de, ("W_q", "v"))


class DotScore(StepModule):
    """Luong et al. (2015) *dot*: ``e_s = h^T enc_s`` (needs H_d == H_e); no parameters."""

    def __init__(self):
        self._caches = []

    def keys(self, enc):
        return enc

    def keys_backward(self, dkeys):
        return dkeys

    def forward(self, h, keys):
        return self._forward_step(dot_score_forward, h, keys)

    def backward(self, de):
        """Returns dh (B, H_d) and dkeys (S, B, H_d)."""
        return self._backward_step(dot_score_backward, de)


class GeneralScore(ProjectedKeys, DotScore):
    """Luong et al. (2015) *general*: ``e_s = h^T W_a enc_s``: the dot score against the
    keys ``W_a enc``, computed once per source batch. Parameter: ``W_a (H_d, H_e)``."""

    def __init__(self, query_size, key_size, dtype, rng):
        DotScore.__init__(self)
        self.W_a = _uniform(rng, (query_size, key_size), key_size, dtype)

    @property
    def key_weight(self):
        return self.W_a


class AttentionMemory(NamedTuple):
    """What attention reads at every decoder step, computed once per source batch.
    Every array has the batch on axis 1, so ``rnnkit.decoding.select_rows(memory, rows)``
    expands or reorders it (beam search)."""

    values: np.ndarray            # (S, B, H_e) the encoder outputs
    keys: np.ndarray              # (S, B, K)   projected once: W_k enc, W_a enc, or enc itself
    padded: np.ndarray | None     # (S, B) bool, True past each source length; None: no padding


class Attention(StepModule):
    """Scores of one kind, the masked softmax and the context, for one decoder step.

    Parameters
    ----------
    kind : 'additive', 'dot' or 'general'
    query_size : int
        ``H_d``, the decoder state's width.
    key_size : int
        ``H_e``, the encoder outputs' width (``dot`` needs ``H_e == H_d``).
    attention_size : int or None
        ``A`` of the additive score (default ``query_size``); unused by the others.
    dtype, seed : as every rnnkit module.

    Use::

        memory = attention.memory(enc, lengths)     # once per source batch (the keys)
        for t ...:  c_t, a_t = attention.forward(h_t, memory)        # (B, H_e), (S, B)
        for t reversed: dh_t, d_values, d_keys = attention.backward(dc_t)   # sum these
        denc = attention.memory_backward(sum d_values, sum d_keys)    # (S, B, H_e)

    The parameters live in the child ``score`` (``score.W_q``, ``score.W_k``,
    ``score.v`` or ``score.W_a``).
    """

    def __init__(self, kind, query_size, key_size, attention_size=None, dtype=np.float32, seed=None):
        if kind not in KINDS:
            raise InputError(f"attention kind must be one of {list(KINDS)}, got {kind!r}")
        self.kind = kind
        self.query_size = check_positive_int(query_size, "query_size")
        self.key_size = check_positive_int(key_size, "key_size")
        self.dtype = check_dtype(dtype)
        rng = np.random.default_rng(seed)
        if kind == "additive":
            self.attention_size = check_positive_int(
                query_size if attention_size is None else attention_size, "attention_size")
            self.score = AdditiveScore(query_size, key_size, self.attention_size, self.dtype, rng)
        elif kind == "general":
            self.score = GeneralScore(query_size, key_size, self.dtype, rng)
        else:
            if query_size != key_size:
                raise InputError(f"dot attention needs query_size == key_size (h^T enc_s), got "
                                 f"{query_size} and {key_size}; use 'general' or 'additive'")
            self.score = DotScore()
        self._caches = []

    def memory(self, enc, lengths=None) -> AttentionMemory:
        """The keys of ``enc (S, B, H_e)`` and the padding from ``lengths (B,)`` (None: all S)."""
        check_float_array(enc, "enc", (None, None, self.key_size), self.dtype,
                          f"(S, B, key_size={self.key_size})")
        S, B = enc.shape[:2]
        padded = None if lengths is None else padding_mask(check_lengths(lengths, B, S), S)
        return AttentionMemory(enc, self.score.keys(enc), padded)

    def memory_backward(self, d_values, d_keys):
        """``denc`` from the gradients of the memory's values and keys, each summed over
        the steps: the key projection's backward runs once, for all of them."""
        return d_values + self.score.keys_backward(d_keys)

    def forward(self, h, memory: AttentionMemory):
        """One step: ``h (B, H_d)`` -> ``context (B, H_e)`` and ``weights (S, B)``."""
        B = memory.values.shape[1]
        check_float_array(h, "h", (B, self.query_size), self.dtype, f"(B={B}, query_size={self.query_size})")
        scores = self.score.forward(h, memory.keys)                  # (S, B)
        weights, softmax_cache = masked_softmax_forward(scores, memory.padded)
        context, context_cache = context_forward(weights, memory.values)
        self._push((softmax_cache, context_cache))
        return context, weights

    def backward(self, d_context, d_weights=None):
        """Backward of the latest step. Returns ``dh (B, H_d)`` and this step's parts of
        the memory gradient, ``d_values (S, B, H_e)`` and ``d_keys``, for the caller to sum
        over the steps and pass to :meth:`memory_backward`."""
        softmax_cache, context_cache = self._pop()
        da, d_values = context_backward(d_context, context_cache)
        if d_weights is not None:
            da = da + d_weights
        dh, d_keys = self.score.backward(masked_softmax_backward(da, softmax_cache))
        return dh, d_values, d_keys

    def __repr__(self):
        return f"Attention({self.kind!r}, query_size={self.query_size}, key_size={self.key_size})"


class AttentionalOutput(StepModule):
    """Luong's attentional vector ``h~ = tanh(W_c [c; h] + b_c)`` for one step.

    Parameters ``W_c (output_size, context_size + query_size)`` and ``b_c (output_size,)``
    (``nn.Linear(context_size + query_size, output_size)``; the context comes first).
    ``forward(c (B, H_e), h (B, H_d)) -> h~ (B, H_out)``; ``backward(dh~) -> (dc, dh)``.
    """

    def __init__(self, context_size, query_size, output_size, dtype=np.float32, seed=None):
        self.context_size = check_positive_int(context_size, "context_size")
        self.query_size = check_positive_int(query_size, "query_size")
        self.output_size = check_positive_int(output_size, "output_size")
        self.dtype = check_dtype(dtype)
        rng = np.random.default_rng(seed)
        fan_in = self.context_size + self.query_size
        self.W_c = _uniform(rng, (self.output_size, fan_in), fan_in, self.dtype)
        self.b_c = _uniform(rng, (self.output_size,), fan_in, self.dtype)
        self._caches = []

    def forward(self, c, h):
        check_float_array(c, "c", (None, self.context_size), self.dtype,
                          f"(B, context_size={self.context_size})")
        check_float_array(h, "h", (c.shape[0], self.query_size), self.dtype,
                          f"(B={c.shape[0]}, query_size={self.query_size})")
        return self._forward_step(attentional_output_forward, c, h, self.W_c.data, self.b_c.data)

    def backward(self, dh_tilde):
        """Returns dc (B, H_e) and dh (B, H_d); accumulates dW_c and db_c."""
        return self._backward_step(attentional_output_backward, dh_tilde, ("W_c", "b_c"))

    def __repr__(self):
        return f"AttentionalOutput({self.context_size} + {self.query_size} -> {self.output_size})"
