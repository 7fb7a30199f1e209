"""The recurrent kernel protocol: what a cell must say and compute to become a layer.

A *kernel* holds one cell's equations and nothing else; the single-step module
(:class:`rnnkit.cells.base.RecurrentCell`) and the sequence layers
(:class:`rnnkit.layers.RecurrentLayer`) create its parameters, run it and
accumulate its gradients, whatever it declares. A new cell is a subclass of
:class:`RecurrentKernel` in one file of ``rnnkit/cells`` plus one line in
``rnnkit/layers/registry.py``.

What a kernel declares::

    num_gates       G = num_gates * H columns of the input projection
    state_names     ("h",) or ("h", "c"): the state tuple, h first (h is the output)
    parameters(input_size, hidden_size, bias) -> [ParameterSpec(name, shape, init)]

What it computes (``params`` maps each declared name to its array; states are tuples)::

    project_input(X (N, D), params)           -> GI (N, G), input_cache
    project_input_backward(DGI, input_cache, params[, bias_grad]) -> dX (N, D), {name: grad}
    step_forward(gi (B, G), state, params)     -> new_state, cache
    step_backward(d_state, cache, params)      -> dgi (B, G), d_state_prev, {name: grad}
    forward_sequence(GI (T, B, G), state, params, reverse, padded, keep)
                                               -> out (T, B, H), final state, cache
    backward_sequence(d_out (T, B, H), d_state, cache, params, reverse, padded)
                                               -> DGI (T, B, G), d_state0, {name: grad}

``project_input`` is the work that does not depend on ``h_{t-1}``: the layer runs it
once for all ``T * B`` rows (one GEMM), and its backward once after BPTT. A kernel whose
``DGI`` is the hidden projection's gradient too (``gi`` and ``gh`` added before any
nonlinearity: LSTM, Elman RNN) sets ``shared_gate_grads``; the layer then passes the
summed ``bias_hh`` gradient as ``bias_grad`` (it is ``bias_ih``'s) instead of summing
the same rows twice. The step pair
is the readable reference; ``forward_sequence / backward_sequence`` unroll it over one
direction (defined here, once, for every kernel). A kernel with a compiled whole-
direction loop sets ``has_fast_path`` and overrides ``fast_forward_sequence /
fast_backward_sequence``, which take and return exactly the same things, so the layer
treats both paths alike. Gradients are returned, never accumulated: the caller adds
them to ``Parameter.grad``.

``padded`` is ``(T, B)`` bool, True at steps past a sequence's end, or None: there the
state is passed through unchanged, the output is zero, and in backward the state
gradient passes through while the step contributes nothing — exactly what
``pack_padded_sequence`` computes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.kernels._products import matmul, row_sum
from rnnkit.module import Parameter

from rnnkit.errors import InputError


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter a kernel declares. ``init``: ``"uniform"`` (PyTorch's
    U(-1/sqrt(H), 1/sqrt(H))), ``"ones"`` or ``"zeros"``."""

    name: str
    shape: tuple
    init: str = "uniform"


def linear_parameters(num_gates, input_size, hidden_size, bias) -> list[ParameterSpec]:
    """PyTorch's four: ``weight_ih (G, D)``, ``weight_hh (G, H)``, ``bias_ih, bias_hh (G,)``."""
    G = num_gates * hidden_size
    specs = [ParameterSpec("weight_ih", (G, input_size)), ParameterSpec("weight_hh", (G, hidden_size))]
    if bias:
        specs += [ParameterSpec("bias_ih", (G,)), ParameterSpec("bias_hh", (G,))]
    return specs


def initial_value(spec: ParameterSpec, rng: np.random.Generator, hidden_size, dtype) -> np.ndarray:
    """A fresh array for ``spec``; only ``"uniform"`` draws from ``rng``."""
    if spec.init == "uniform":
        bound = 1.0 / np.sqrt(hidden_size)
        return rng.uniform(-bound, bound, size=spec.shape).astype(dtype)
    if spec.init == "ones":
        return np.ones(spec.shape, dtype)
    if spec.init == "zeros":
        return np.zeros(spec.shape, dtype)
    raise InputError(f"unknown init {spec.init!r} for parameter {spec.name!r}")


def create_parameters(module, specs, rng, hidden_size, dtype, suffix: str = "") -> dict:
    """Give ``module`` a Parameter ``<name><suffix>`` for each spec, in order (the order
    seeded draws are made in); returns ``{kernel name: attribute name}``."""
    names = {}
    for spec in specs:
        setattr(module, spec.name + suffix,
                Parameter(initial_value(spec, rng, hidden_size, dtype)))
        names[spec.name] = spec.name + suffix
    return names


def accumulate_grads(parameters: dict, *grads: dict) -> None:
    """Add the gradients a kernel returned (``{name: array}``) to ``parameters[name].grad``."""
    for part in grads:
        for name, grad in part.items():
            parameters[name].grad += grad


def hidden_grads(dgh, h_prev, params) -> dict:
    """One step's gradients of the hidden projection ``gh = h_prev @ W_hh^T + b_hh``:
    ``dW_hh = dgh^T @ h_prev`` (G, H) and ``db_hh`` = sum of dgh's rows."""
    grads = {"weight_hh": dgh.T @ h_prev}
    if "bias_hh" in params:
        grads["bias_hh"] = dgh.sum(0)
    return grads


def hidden_grads_summed(DGH, dW_hh, params) -> dict:
    """The same over a whole direction, where the fast path computed ``dW_hh`` as one
    GEMM: DGH (T, B, G)."""
    grads = {"weight_hh": dW_hh}
    if "bias_hh" in params:
        grads["bias_hh"] = row_sum(DGH.reshape(-1, DGH.shape[-1]))
    return grads


class RecurrentKernel:
    """Base class of every cell's equations; see the module docstring for the protocol.

    Subclasses set ``num_gates`` and ``state_names`` and write ``step_forward`` and
    ``step_backward``. The defaults below are those of PyTorch's cells: the
    parameters ``weight_ih, weight_hh, bias_ih, bias_hh`` and the input projection
    ``GI = X @ W_ih^T + b_ih``.
    """

    num_gates: int = 1
    state_names: tuple = ("h",)
    has_fast_path: bool = False
    shared_gate_grads: bool = False  # DGI is DGH: bias_ih's gradient is bias_hh's
    gate_names: tuple = ()          # the sigmoid gates ``step_gates`` returns (rnnkit.inspect)

    @property
    def num_states(self) -> int:
        return len(self.state_names)

    # -- what the kernel declares ---------------------------------------------------
    def parameters(self, input_size, hidden_size, bias) -> list[ParameterSpec]:
        """Every parameter, in creation order (the order seeded draws are made in)."""
        return linear_parameters(self.num_gates, input_size, hidden_size, bias)

    # -- the input projection, hoisted out of the time loop -------------------------
    def project_input(self, X, params):
        """GI = X @ W_ih^T + b_ih for all rows at once. X (N, D) -> GI (N, G)."""
        GI = matmul(X, params["weight_ih"].T, bias=params.get("bias_ih"))   # (N, G)
        return GI, X

    def project_input_backward(self, DGI, X, params, bias_grad=None):
        """dW_ih = DGI^T @ X,  db_ih = sum of DGI's rows (``bias_grad`` if the caller
        has it),  dX = DGI @ W_ih."""
        grads = {"weight_ih": matmul(DGI.T, X)}                     # (G, D)
        if "bias_ih" in params:
            grads["bias_ih"] = row_sum(DGI) if bias_grad is None else bias_grad
        return matmul(DGI, params["weight_ih"]), grads              # (N, D)

    # -- one step (subclasses) ------------------------------------------------------
    def step_forward(self, gi, state, params):  # pragma: no cover - interface
        raise NotImplementedError

    def step_backward(self, d_state, cache, params):  # pragma: no cover - interface
        raise NotImplementedError

    def step_gates(self, cache) -> tuple:
        """The sigmoid gates of one step, read from its ``step_forward`` cache: one
        ``(B, H)`` array per name in ``gate_names`` (none for a cell without gates)."""
        return ()

    # -- one direction: the reference loop over the step pair -----------------------
    def forward_sequence(self, GI, state, params, reverse, padded, keep=True):
        """Unroll one direction. GI (T, B, G); ``keep`` is ignored here (the
        per-step caches are what backward needs). Returns out (T, B, H), the
        final state tuple, and the per-step caches in time order."""
        T, B = GI.shape[:2]
        out = np.empty((T, B, state[0].shape[1]), dtype=GI.dtype)
        caches = [None] * T
        for t in range(T - 1, -1, -1) if reverse else range(T):
            new_state, caches[t] = self.step_forward(GI[t], state, params)
            if padded is None:
                out[t] = new_state[0]
            else:
                hold = padded[t][:, None]                           # (B, 1)
                new_state = tuple(np.where(hold, s, s_new) for s_new, s in zip(new_state, state))
                out[t] = np.where(hold, 0, new_state[0])
            state = new_state
        return out, state, caches

    def backward_sequence(self, d_out, d_state, caches, params, reverse, padded):
        """BPTT through one direction. d_out (T, B, H); d_state: gradient of the final
        state. Returns DGI (T, B, G), the gradient of the initial state, and the
        recurrent parameters' gradients summed over the steps."""
        T = d_out.shape[0]
        DGI, grads = None, {}
        for t in range(T) if reverse else range(T - 1, -1, -1):
            d_total = (d_state[0] + d_out[t],) + tuple(d_state[1:])
            if padded is None:
                dgi, d_state, step_grads = self.step_backward(d_total, caches[t], params)
            else:
                hold = padded[t][:, None]                           # (B, 1)
                d_new = tuple(np.where(hold, 0, d) for d in d_total)
                dgi, d_prev, step_grads = self.step_backward(d_new, caches[t], params)
                # a padded step passed its state through, and so passes its gradient
                d_state = tuple(p + np.where(hold, d, 0) for p, d in zip(d_prev, d_state))
            if DGI is None:
                DGI = np.empty((T,) + dgi.shape, dgi.dtype)
            DGI[t] = dgi
            for name, g in step_grads.items():
                grads[name] = g if name not in grads else grads[name] + g
        return DGI, d_state, grads

    # -- the compiled loop, for kernels that have one (rnnkit/kernels) -------------
    def fast_loop_kind(self, T, B, H, dtype) -> str:
        """What the fast path's loop of one direction runs on: "workers" (compiled, split
        between rnnkit's workers), "compiled" (compiled, one core, no BLAS call per step) or
        "blas" (a BLAS call per step); ``rnnkit/kernels/_products.py`` says what each means
        for BLAS's threads. Kernels with compiled loops override this."""
        return "blas"

    def fast_forward_sequence(self, GI, state, params, reverse, padded, keep):
        raise NotImplementedError(f"{type(self).__name__} has no fast path")

    def fast_backward_sequence(self, d_out, d_state, cache, params, reverse, padded):
        raise NotImplementedError(f"{type(self).__name__} has no fast path")
