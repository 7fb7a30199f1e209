"""The attentional decoder: stacked single-step cells, attention, Luong's output layer.

Layout is time-major: ``tgt_in (T, B)`` -> ``logits (T, B, V)``. One step ``t``, in the
order the code computes it (``L`` stacked cells of any registered kind, each
``rnnkit.<Cell>Cell``; attention from ``rnnkit/seq2seq/attention.py``)::

    x^0_t  = [E[y_{t-1}]; h~_{t-1}]           # (B, E + H)  input feeding (Luong et al. 2015)
           =  E[y_{t-1}]                      # (B, E)      without it
    s^l_t  = cell_l(x^l_t, s^l_{t-1})         # s = h, or (h, c); x^{l+1}_t = dropout(h^l_t)
    c_t, a_t = attention(h^{L-1}_t, memory)   # (B, H_e), (S, B)
    h~_t   = tanh(W_c [c_t; h^{L-1}_t] + b_c) # (B, H)  the attentional vector
           = h^{L-1}_t                        #         attention='none' (Sutskever et al. 2014)

and after the loop, for all steps at once (one GEMM)::

    logits = dropout(h~) W_out^T + b_out      # (T, B, V)
           = dropout(h~)[rows] W_out^T + b_out  # (N, V)  only the N positions a loss reads

``h~_{-1} = 0``. With ``attention='none'`` and input feeding, the fed vector is the top
state itself. Backward runs the steps in reverse (BPTT): the gradient of ``h~_t`` is
its own (from the logits) plus, with input feeding, what step ``t + 1`` sends back
through its input. The gradients of the attention memory (values and keys) are summed
over the steps and returned, so the key projection runs backward once
(:meth:`Attention.memory_backward`).

Teacher forcing hoists out of the step loop what does not depend on the previous step
(``fast_path``, the default, for cells whose input projection is the linear
``gi = x W_ih^T + b_ih``: rnn, gru, lstm). Layer 0's ``W_ih = [W_e, W_f]`` splits by
input columns, the embedding's and the fed vector's::

    GI_e   = E[y] W_e^T + b_ih                 # (T, B, G)  all steps, one GEMM (before)
    gi^0_t = GI_e[t] + h~_{t-1} W_f^T          # (B, G)     in the loop; = GI_e[t] without feeding
    gi^l_t = x^l_t W_ih^T + b_ih               # (B, G)     layers l > 0, in the loop
    s^l_t  = step(gi^l_t, s^l_{t-1})           # the kernel's step_forward

and in backward the loop keeps only what flows to another step or layer::

    dgi^l_t, ds^l_{t-1} = step_backward(...)   # the kernel's; dW_hh, db_hh per step
    dh~_{t-1} += dgi^0_t W_f                   # (B, H)     input feeding
    dx^l_t = dgi^l_t W_ih                      # (B, D)     layers l > 0, to layer l - 1

then, once for all ``T * B`` rows (``X^l`` the inputs, ``X^0 = [E[y]; h~_{t-1}]``)::

    dW_ih += DGI^T X;  db_ih += sum DGI;  dE[y] = DGI^0 W_e      # one GEMM each

``fast_path = False`` runs the reference loop instead: each step the cells' own
``forward``/``backward`` (input projection included), as decoding runs them.

The decoder's *state* (what :meth:`AttentionalDecoder.step` takes and returns) is a tuple
of arrays with the batch on axis 1: the cells' state parts, each ``(L, R, H)`` (``h``, or
``h, c``), then, with input feeding, ``h~_{t-1}`` as ``(1, R, H)``.

Parameters: ``embedding.weight``, ``cells.{l}.weight_ih`` ... (as ``torch.nn.LSTMCell``),
``attention.score.*``, ``attention_output.W_c``, ``attention_output.b_c``,
``projection.weight``, ``projection.bias``.
"""

from __future__ import annotations

import numpy as np

from rnnkit._validation import require_forward
from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.kernel import RecurrentKernel, accumulate_grads
from rnnkit.layers import Dropout, Embedding, Linear
from rnnkit.layers.registry import CELLS
from rnnkit.models._common import child_seeds
from rnnkit.module import Module, is_grad_enabled, no_grad
from rnnkit.seq2seq.attention import Attention, AttentionalOutput, StepModule


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def for_cell(parts: tuple):
    """A state tuple as a cell takes it: the bare array for a one-part state."""
    return parts[0] if len(parts) == 1 else parts


def split_layers(parts: tuple) -> list:
    """State parts, each (L, B, H) -> per layer a tuple of (B, H)."""
    return [tuple(part[layer] for part in parts) for layer in range(len(parts[0]))]


def stack_layers(per_layer: list) -> tuple:
    """The inverse of :func:`split_layers`."""
    return tuple(np.stack(part) for part in zip(*per_layer))


def has_linear_input(kernel) -> bool:
    """Whether the kernel's input projection is ``gi = x W_ih^T + b_ih`` (the default), so
    that it can be split by input columns and its weight gradient taken after the loop."""
    kind = type(kernel)
    return (kind.project_input is RecurrentKernel.project_input
            and kind.project_input_backward is RecurrentKernel.project_input_backward)


class AttentionalDecoder(Module):
    """Target embedding, ``num_layers`` cells run one step at a time, attention of kind
    ``attention`` ('additive', 'dot', 'general' or 'none') over memory values of width
    ``context_size``, the attentional output layer and the projection to ``vocab_size``.

    Built by :class:`rnnkit.seq2seq.Seq2Seq`, which documents the arguments.
    ``fast_path`` (default True): teacher forcing hoists the input projections' work out
    of the step loop (module docstring); False runs the reference loop.
    """

    fast_path = True

    def __init__(self, vocab_size, embed_size, hidden_size, num_layers, cell, attention,
                 context_size, attention_size, input_feeding, dropout, pad_id, dtype, seed):
        seeds = child_seeds(seed, num_layers + 6)
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.embed_size, self.input_feeding, self.dropout = embed_size, input_feeding, dropout
        self.embedding = Embedding(vocab_size, embed_size, padding_idx=pad_id, dtype=dtype, seed=seeds[0])
        first_input = embed_size + (hidden_size if input_feeding else 0)
        self.cells = [CELLS[cell].cell(first_input if layer == 0 else hidden_size, hidden_size,
                                       dtype=dtype, seed=seeds[6 + layer])
                      for layer in range(num_layers)]
        self.num_states = self.cells[0].kernel.num_states
        self.attention_kind = attention
        if attention != "none":
            self.attention = Attention(attention, hidden_size, context_size, attention_size,
                                       dtype=dtype, seed=seeds[1])
            self.attention_output = AttentionalOutput(context_size, hidden_size, hidden_size,
                                                      dtype=dtype, seed=seeds[2])
        self.output_dropout = Dropout(dropout, seed=seeds[3])
        self.projection = Linear(hidden_size, vocab_size, dtype=dtype, seed=seeds[4])
        self.dropout_rng = np.random.default_rng(seeds[5])    # between the stacked cells
        self.dtype = dtype
        self._cache = None

    # -- one step -------------------------------------------------------------------
    def _step(self, emb, states, feed, memory, drop_masks):
        """emb (B, E); states: per layer a tuple of (B, H); feed (B, H) or None; drop_masks
        (L-1, B, H) or None. Returns the new states, h~ (B, H) and the weights (S, B) or None."""
        x = emb if feed is None else np.concatenate([emb, feed], axis=1)          # (B, E [+ H])
        new_states = []
        for layer, cell in enumerate(self.cells):
            if layer > 0 and drop_masks is not None:
                x = x * drop_masks[layer - 1]
            new_states.append(as_tuple(cell.forward(x, for_cell(states[layer]))))
            x = new_states[-1][0]
        h_tilde, weights = self._attend(x, memory)
        return new_states, h_tilde, weights

    def _step_backward(self, d_h_tilde, d_states, drop_masks):
        """Backward of the latest :meth:`_step`; d_states: per layer the gradient of its new
        state (from step t+1). Returns d_emb, d_feed (or None), the gradients of the
        previous states, and this step's d_values, d_keys (or zeros)."""
        d_x, d_values, d_keys = self._attend_backward(d_h_tilde)
        d_prev = [None] * self.num_layers
        for layer in range(self.num_layers - 1, -1, -1):
            d_state = (d_states[layer][0] + d_x,) + d_states[layer][1:]
            d_x, d_prev_layer = self.cells[layer].backward(for_cell(d_state))
            d_prev[layer] = as_tuple(d_prev_layer)
            if layer > 0 and drop_masks is not None:
                d_x = d_x * drop_masks[layer - 1]
        E = self.embed_size
        d_feed = d_x[:, E:] if self.input_feeding else None
        return d_x[:, :E], d_feed, d_prev, d_values, d_keys

    def _drop_step_caches(self) -> None:
        """Forget the steps of a forward that was never backpropagated, so that backward
        always undoes the latest forward (the cells and attention keep a stack of steps)."""
        for module in self.modules():
            if isinstance(module, (RecurrentCell, StepModule)):
                module.reset()

    def _drop_masks(self, T, B):
        """Inverted-dropout masks between the stacked cells, all steps at once:
        (T, L-1, B, H), or None (eval mode, dropout 0, or one layer)."""
        if not (self.training and self.dropout > 0 and self.num_layers > 1):
            return None
        keep = 1.0 - self.dropout
        shape = (T, self.num_layers - 1, B, self.hidden_size)
        return ((self.dropout_rng.random(shape) < keep) / keep).astype(self.dtype)

    # -- teacher forcing ------------------------------------------------------------
    def _hoists(self) -> bool:
        return self.fast_path and all(has_linear_input(cell.kernel) for cell in self.cells)

    def forward(self, tgt_in, state0, memory, rows=None):
        """tgt_in (T, B) ids (checked by the caller); state0: the cells' state parts, each
        (L, B, H); memory: an AttentionMemory (None for attention='none'); rows: (T, B)
        bool or None, the positions whose logits are wanted (a loss needs only the valid
        ones). Returns logits (T, B, V), or (N, V) at the N ``rows`` in time-major order."""
        T, B = tgt_in.shape
        self._drop_step_caches()
        emb = self.embedding.forward(tgt_in)                                      # (T, B, E)
        drop_masks = self._drop_masks(T, B)
        run = self._forward_hoisted if self._hoists() else self._forward_reference
        h_tilde, loop_cache = run(emb, split_layers(state0), memory, drop_masks)   # (T, B, H)
        dropped = self.output_dropout.forward(h_tilde)
        logits = self.projection.forward(dropped if rows is None else dropped[rows])   # (T, B, V) | (N, V)
        self._cache = (T, B, drop_masks, rows, loop_cache) if is_grad_enabled() else None
        return logits

    def backward(self, dlogits):
        """BPTT through the last forward; ``dlogits`` shaped as its logits. Returns the
        gradient of ``state0`` (a tuple of (L, B, H)) and of the memory's values and keys,
        summed over the steps (zeros for attention='none')."""
        require_forward(self._cache, "AttentionalDecoder")
        T, B, drop_masks, rows, loop_cache = self._cache
        d_dropped = self.projection.backward(dlogits)                              # (T, B, H) | (N, H)
        if rows is not None:
            d_dropped, d_rows = np.zeros((T, B, self.hidden_size), self.dtype), d_dropped
            d_dropped[rows] = d_rows                                               # 0 where no logit
        d_h_tilde = self.output_dropout.backward(d_dropped)                       # (T, B, H)
        run = self._backward_reference if loop_cache is None else self._backward_hoisted
        d_emb, d_states, d_values, d_keys = run(d_h_tilde, drop_masks, loop_cache)
        self.embedding.backward(d_emb)
        self._cache = None
        return stack_layers(d_states), d_values, d_keys

    # the reference loop: each step the cells' own forward and backward
    def _forward_reference(self, emb, states, memory, drop_masks):
        T, B = emb.shape[:2]
        feed = np.zeros((B, self.hidden_size), self.dtype) if self.input_feeding else None
        h_tilde = np.empty((T, B, self.hidden_size), self.dtype)
        for t in range(T):
            states, h_tilde[t], _ = self._step(emb[t], states, feed, memory,
                                               None if drop_masks is None else drop_masks[t])
            if self.input_feeding:
                feed = h_tilde[t]
        return h_tilde, None

    def _backward_reference(self, d_h_tilde, drop_masks, _):
        T, B = d_h_tilde.shape[:2]
        zeros = np.zeros((B, self.hidden_size), self.dtype)
        d_states = [(zeros,) * self.num_states] * self.num_layers
        d_emb = np.empty((T, B, self.embed_size), self.dtype)
        d_feed, d_values, d_keys = 0, 0, 0
        for t in range(T - 1, -1, -1):
            d_emb[t], d_feed, d_states, dv, dk = self._step_backward(
                d_h_tilde[t] + d_feed, d_states, None if drop_masks is None else drop_masks[t])
            d_values, d_keys = d_values + dv, d_keys + dk
            d_feed = 0 if d_feed is None else d_feed
        return d_emb, d_states, d_values, d_keys

    # the hoisted loop: the kernels' step pair, input projections' GEMMs outside
    def _forward_hoisted(self, emb, states, memory, drop_masks):
        T, B, E = emb.shape
        H = self.hidden_size
        params = [{name: p.data for name, p in cell._params().items()} for cell in self.cells]
        W_ih = params[0]["weight_ih"]                                              # (G, E [+ H])
        GI_emb = emb.reshape(T * B, E) @ W_ih[:, :E].T                             # (T * B, G)
        if "bias_ih" in params[0]:
            GI_emb += params[0]["bias_ih"]
        GI_emb = GI_emb.reshape(T, B, -1)
        W_feed_T = W_ih[:, E:].T                                                   # (H, G)
        inputs = [None] + [np.empty((T, B, H), self.dtype) for _ in self.cells[1:]]   # X^l, l > 0
        step_caches = [[None] * T for _ in self.cells]
        h_tilde = np.empty((T, B, H), self.dtype)
        for t in range(T):
            x = None
            for layer, cell in enumerate(self.cells):
                p = params[layer]
                if layer == 0:
                    gi = GI_emb[t]                                                 # (B, G)
                    if self.input_feeding and t:                                   # h~_{-1} = 0
                        gi = gi + h_tilde[t - 1] @ W_feed_T
                else:
                    if drop_masks is not None:
                        x = x * drop_masks[t, layer - 1]
                    inputs[layer][t] = x
                    gi = x @ p["weight_ih"].T                                      # (B, G)
                    if "bias_ih" in p:
                        gi += p["bias_ih"]
                new_state, step_caches[layer][t] = cell.kernel.step_forward(gi, states[layer], p)
                states[layer] = new_state
                x = new_state[0]
            h_tilde[t], _ = self._attend(x, memory)
        return h_tilde, (params, inputs, step_caches, emb, h_tilde)

    def _backward_hoisted(self, d_h_tilde, drop_masks, loop_cache):
        params, inputs, step_caches, emb, h_tilde = loop_cache
        T, B, E = emb.shape
        parameters = [cell._params() for cell in self.cells]                       # {name: Parameter}
        W_feed = params[0]["weight_ih"][:, E:]                                     # (G, H)
        zeros = np.zeros((B, self.hidden_size), self.dtype)
        d_states = [(zeros,) * self.num_states for _ in self.cells]
        DGI = [np.empty((T, B, p["weight_hh"].shape[0]), self.dtype) for p in params]   # (T, B, G)
        d_feed, d_values, d_keys = 0, 0, 0
        for t in range(T - 1, -1, -1):
            d_x, dv, dk = self._attend_backward(d_h_tilde[t] + d_feed)
            d_values, d_keys = d_values + dv, d_keys + dk
            for layer in range(self.num_layers - 1, -1, -1):
                p = params[layer]
                d_state = (d_states[layer][0] + d_x,) + d_states[layer][1:]
                DGI[layer][t], d_states[layer], hidden_grads = self.cells[layer].kernel.step_backward(
                    d_state, step_caches[layer][t], p)
                accumulate_grads(parameters[layer], hidden_grads)                 # dW_hh, db_hh
                if layer > 0:
                    d_x = DGI[layer][t] @ p["weight_ih"]                           # (B, H)
                    if drop_masks is not None:
                        d_x = d_x * drop_masks[t, layer - 1]
            if self.input_feeding and t:
                d_feed = DGI[0][t] @ W_feed                                        # (B, H)
        # the input projections' gradients, all T * B rows at once
        for layer, grads in enumerate(parameters):
            DGI_rows = DGI[layer].reshape(T * B, -1)                               # (T * B, G)
            if "bias_ih" in grads:
                grads["bias_ih"].grad += DGI_rows.sum(0)
            if layer > 0:
                grads["weight_ih"].grad += DGI_rows.T @ inputs[layer].reshape(T * B, -1)
        # layer 0 by column blocks, X^0 = [E[y]; h~_{t-1}] (h~_{-1} = 0 adds nothing)
        dW_ih = parameters[0]["weight_ih"].grad                                    # (G, E [+ H])
        dW_ih[:, :E] += DGI[0].reshape(T * B, -1).T @ emb.reshape(T * B, E)
        if self.input_feeding and T > 1:
            dW_ih[:, E:] += DGI[0][1:].reshape((T - 1) * B, -1).T @ h_tilde[:-1].reshape((T - 1) * B, -1)
        d_emb = DGI[0] @ params[0]["weight_ih"][:, :E]                              # (T, B, E)
        return d_emb, d_states, d_values, d_keys

    def _attend(self, top, memory):
        """h~ (B, H) of one step from the top cell's output ``top (B, H)``, and the
        attention weights (S, B) (None for attention='none')."""
        if self.attention_kind == "none":
            return top, None
        context, weights = self.attention.forward(top, memory)
        return self.attention_output.forward(context, top), weights

    def _attend_backward(self, d_h_tilde):
        """Backward of the latest :meth:`_attend`: the gradient of ``top`` and this step's
        d_values, d_keys (or zeros)."""
        if self.attention_kind == "none":
            return d_h_tilde, 0, 0
        d_context, d_top = self.attention_output.backward(d_h_tilde)
        d_top_att, d_values, d_keys = self.attention.backward(d_context)
        return d_top + d_top_att, d_values, d_keys

    # -- one step for decoding ----------------------------------------------------------
    def initial_state(self, state0):
        """The decoding state from the cells' initial state parts (each (L, R, H))."""
        feed = (np.zeros((1,) + state0[0].shape[1:], self.dtype),) if self.input_feeding else ()
        return tuple(state0) + feed

    def step(self, tokens, state, memory):
        """One step for decoding, without dropout and without caches: tokens (R,) ids,
        state as :meth:`initial_state` makes it. Returns logits (R, V), the new state
        and the attention weights (S, R) (None for attention='none')."""
        with no_grad():
            parts, feed = state[:self.num_states], (state[-1][0] if self.input_feeding else None)
            new_states, h_tilde, weights = self._step(self.embedding.forward(tokens),
                                                      split_layers(parts), feed, memory, None)
            logits = self.projection.forward(h_tilde)                            # (R, V)
        feed = (h_tilde[None],) if self.input_feeding else ()                   # (1, R, H)
        return logits, stack_layers(new_states) + feed, weights
