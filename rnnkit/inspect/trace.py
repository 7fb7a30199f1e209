"""Every unit at every step: a recurrent layer's states and gates forward, and dL/dh_t backward.

The layers' fast paths keep only what their backward needs; to *look* at a trained layer,
this module runs the readable reference step pair of its kernel (``step_forward`` /
``step_backward``, ``rnnkit/cells``) over one batch of whole sequences and keeps
everything, in eval mode (no dropout), time-major as everywhere inside rnnkit.

Forward, for each layer ``k`` and direction (the reverse one runs ``t = T-1 .. 0``)::

    GI        = X_k @ W_ih^T + b_ih                       # (T, B, G)   the kernel's projection
    s_t       = step_forward(GI[t], s_{t-1})              # s = (h,) or (h, c)
    h[t], c[t] = s_t                                      # (T, B, H) each
    gates[t]  = step_gates(cache_t)                       # e.g. LSTM i, f, o: (T, B, H) each
    X_{k+1}   = [h_forward, h_reverse]                    # (T, B, dirs * H)

Backward, given ``d_out = dL/d(out)`` of the top layer, again per layer and direction,
from the top layer down (the order of :meth:`rnnkit.layers.RecurrentLayer.backward`)::

    for t = T-1 .. 0 (0 .. T-1 for the reverse direction):
        dh[t]   = d_out[t] + dh_from_step_after            # dL/dh_t: through the output and
        dc[t]   = dc_from_step_after                       #   through every later step
        dGI[t], (dh_from_step_after, dc_from_step_after) = step_backward((dh[t], dc[t]))
    dX_k       = dGI @ W_ih  (summed over directions)      # d_out of layer k-1

``dh[t]`` is the error sent back to step ``t`` by BPTT, the quantity whose norm shrinks
(or not) with the distance from the loss: :mod:`rnnkit.inspect.gradient_flow`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rnnkit.errors import InputError, InputTypeError
from rnnkit.layers.recurrent import RecurrentLayer


@dataclass
class DirectionTrace:
    """One layer and direction of a traced sequence (time-major, ``t`` is the position
    in the sequence for both directions)."""

    layer: int
    direction: int                      # 0 forward, 1 reverse
    h: np.ndarray                       # (T, B, H) hidden state after step t
    c: np.ndarray | None                # (T, B, H) LSTM cell state, else None
    gates: dict = field(default_factory=dict)   # gate name -> (T, B, H) sigmoid values
    dh: np.ndarray | None = None        # (T, B, H) dL/dh_t, after state_gradients
    dc: np.ndarray | None = None        # (T, B, H) dL/dc_t (LSTM), after state_gradients

    @property
    def name(self) -> str:
        return f"layer {self.layer}" + (" reverse" if self.direction else "")


@dataclass
class Trace:
    """What :func:`trace` returns: ``directions`` in (layer, direction) order, the layer's
    output ``out (T, B, dirs * H)`` (equal to ``layer.forward``'s in eval mode) and the
    per-step caches the backward pass needs."""

    directions: list
    out: np.ndarray
    _steps: list = field(default_factory=list, repr=False)   # per direction: (X, params, caches)

    @property
    def top(self) -> list:
        """The directions of the last layer."""
        last = self.directions[-1].layer
        return [d for d in self.directions if d.layer == last]


def _check_layer(layer) -> RecurrentLayer:
    if not isinstance(layer, RecurrentLayer):
        raise InputTypeError(f"layer must be a recurrent layer (rnnkit.LSTM, GRU, RNN, ...), "
                             f"got {type(layer).__name__}")
    return layer


def _run_direction(kernel, GI, state, params, reverse):
    """The reference loop of one direction, keeping every state, gate and cache."""
    T, B = GI.shape[:2]
    states = [np.empty((T,) + s.shape, s.dtype) for s in state]          # each (T, B, H)
    gates = [np.empty((T,) + state[0].shape, state[0].dtype) for _ in kernel.gate_names]
    caches = [None] * T
    for t in range(T - 1, -1, -1) if reverse else range(T):
        state, caches[t] = kernel.step_forward(GI[t], state, params)
        for k, s in enumerate(state):
            states[k][t] = s
        for k, g in enumerate(kernel.step_gates(caches[t])):
            gates[k][t] = g
    return states, dict(zip(kernel.gate_names, gates)), caches


def trace(layer, x, h0=None) -> Trace:
    """Run ``layer`` over ``x`` keeping every state and gate of every step.

    layer: a recurrent layer (:class:`rnnkit.LSTM`, ``GRU``, ``RNN``, or any registered cell).
    x: (T, B, input_size) — (B, T, input_size) if ``layer.batch_first`` — whole sequences,
        no padding.
    h0: as ``layer.forward``'s (zeros when None).
    """
    layer = _check_layer(layer)
    x = layer._check_input(x)
    T, B = x.shape[:2]
    init_states = layer._check_state(h0, B)
    kernel, dirs = layer.kernel, layer.num_directions
    layer_input, directions, steps = x, [], []
    for k in range(layer.num_layers):
        X = layer_input.reshape(T * B, -1)                                    # (T*B, D_k)
        outs = []
        for direction in range(dirs):
            params = {name: p.data for name, p in layer._parameters(k, direction).items()}
            GI, input_cache = kernel.project_input(X, params)                 # (T*B, G)
            states, gates, caches = _run_direction(kernel, GI.reshape(T, B, -1),
                                                   init_states[k * dirs + direction], params,
                                                   direction == 1)
            directions.append(DirectionTrace(k, direction, states[0],
                                             states[1] if len(states) > 1 else None, gates))
            steps.append((input_cache, params, caches))
            outs.append(states[0])
        layer_input = outs[0] if dirs == 1 else np.concatenate(outs, axis=2)  # (T, B, dirs*H)
    return Trace(directions, layer_input, steps)


def state_gradients(layer, traced: Trace, d_out):
    """BPTT through a :func:`trace`, keeping ``dL/dh_t`` (and ``dL/dc_t``) of every step.

    d_out: (T, B, dirs * H), the gradient of the loss w.r.t. the layer's output — for a
        loss at the last step only, zero everywhere but ``d_out[T-1]``.
    Fills each direction's ``dh`` and ``dc`` and returns ``(dx (T, B, input_size), dh0)``,
    what ``layer.backward(d_out)`` returns after a forward in eval mode (time-major;
    ``dh0`` a tuple for LSTMs). No parameter gradient is touched.
    """
    layer = _check_layer(layer)
    T, B = traced.out.shape[:2]
    H, dirs, kernel = layer.hidden_size, layer.num_directions, layer.kernel
    if np.shape(d_out) != traced.out.shape:
        raise InputError(f"d_out must have the traced output's shape {traced.out.shape} "
                         f"(T, B, num_directions * hidden_size), got {np.shape(d_out)}")
    d_layer_out = np.asarray(d_out, traced.out.dtype)
    d_init = [None] * len(traced.directions)
    for k in range(layer.num_layers - 1, -1, -1):
        d_input = None
        for direction in range(dirs):
            idx = k * dirs + direction
            record, (input_cache, params, caches) = traced.directions[idx], traced._steps[idx]
            d_state = tuple(np.zeros((B, H), d_layer_out.dtype) for _ in kernel.state_names)
            dh, dc = np.empty((T, B, H), d_layer_out.dtype), None
            if kernel.num_states > 1:
                dc = np.empty_like(dh)
            DGI = None
            for t in range(T) if direction == 1 else range(T - 1, -1, -1):
                d_state = (d_state[0] + d_layer_out[t, :, direction * H:(direction + 1) * H],) \
                    + tuple(d_state[1:])
                dh[t] = d_state[0]
                if dc is not None:
                    dc[t] = d_state[1]
                dgi, d_state, _ = kernel.step_backward(d_state, caches[t], params)
                if DGI is None:
                    DGI = np.empty((T,) + dgi.shape, dgi.dtype)              # (T, B, G)
                DGI[t] = dgi
            record.dh, record.dc, d_init[idx] = dh, dc, d_state
            dX, _ = kernel.project_input_backward(DGI.reshape(T * B, -1), input_cache, params)
            dX = dX.reshape(T, B, -1)
            d_input = dX if d_input is None else d_input + dX
        d_layer_out = d_input
    return d_layer_out, layer._pack_state(d_init)


def unit_columns(traced) -> tuple[list, np.ndarray]:
    """Every unit of sequence 0 of a trace as columns: ``h`` of each layer and direction,
    and ``tanh(c)`` of each LSTM one, in layer order. Returns the groups
    ``[{"name", "offset", "size"}]`` and the activations ``(T, U)``."""
    groups, columns = [], []
    for d in traced.directions:
        parts = [(f"{d.name} h", d.h[:, 0, :])]
        if d.c is not None:
            parts.append((f"{d.name} cell tanh(c)", np.tanh(d.c[:, 0, :])))
        for name, values in parts:
            groups.append({"name": name, "offset": sum(g["size"] for g in groups),
                           "size": values.shape[1]})
            columns.append(values)
    return groups, np.concatenate(columns, axis=1)
