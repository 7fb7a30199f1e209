"""How far back the error travels: ``||dL/dh_t||`` against the distance from the loss.

BPTT sends the error of a loss at the last step ``T-1`` back through every step; at
step ``t`` it is ``dL/dh_t`` (:func:`rnnkit.inspect.trace.state_gradients`, the
hand-written backward of the cells, no finite differences). Its norm against the
distance ``T-1-t`` is the vanishing-gradient picture (Bengio, Simard & Frasconi 1994;
Hochreiter & Schmidhuber 1997): a tanh RNN's shrinks geometrically, an LSTM's cell
path and a GRU's update gate can carry it across the whole sequence.

The long-dependency task is the adding problem (Hochreiter & Schmidhuber 1997, in the
form of Le, Jaitly & Hinton 2015)::

    x_t = (u_t, m_t),  u_t ~ U(0, 1),  m_t = 1 at one step of each half, else 0
    y   = sum_t u_t m_t                       # read off h_{T-1}: y^ = h_{T-1} W^T + b
    L   = (y^ - y)^2                          # predicting 1 always gives E[L] = 1/6

:func:`vanishing_study` measures the flow for each cell on the same batch at
initialisation and after training, with the task's MSE next to it (below 1/6 means the
model learned to carry the two numbers to the end).
"""

from __future__ import annotations

import numpy as np

from rnnkit.errors import InputError
from rnnkit.inspect.trace import state_gradients, trace

BASELINE_MSE = 1.0 / 6.0        # the variance of u_a + u_b: the best constant prediction


def state_gradient_norms(direction) -> np.ndarray:
    """``(T,)``: the mean over the batch of ``||dL/dh_t||_2`` for one traced direction
    (after :func:`~rnnkit.inspect.trace.state_gradients`)."""
    if direction.dh is None:
        raise InputError("run state_gradients on the trace first: it holds no dL/dh_t yet")
    return np.linalg.norm(direction.dh, axis=2).mean(axis=1)


def last_step_flow(layer, x, d_h_last, h0=None) -> dict:
    """``||dL/dh_t||`` of every layer and direction for a loss at the last step.

    x: (T, B, input_size); d_h_last: (B, dirs * H), the loss's gradient w.r.t. the last
    output ``out[T-1]`` (a readout's backward). Returns ``{direction name: (T,) norms}``
    indexed by time; ``norms[::-1]`` is by distance from the loss for the forward
    direction.
    """
    traced = trace(layer, x, h0)
    d_out = np.zeros_like(traced.out)
    d_out[-1] = d_h_last
    state_gradients(layer, traced, d_out)
    return {d.name: state_gradient_norms(d) for d in traced.directions}


def adding_problem(length: int, batch_size: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """A batch of the adding problem: ``x (T, B, 2)`` float64 and ``y (B, 1)``."""
    if length < 2:
        raise InputError(f"length must be at least 2, got {length}")
    T, B = length, batch_size
    x = np.zeros((T, B, 2))
    x[:, :, 0] = rng.random((T, B))
    half = T // 2
    first, second = rng.integers(0, half, B), rng.integers(half, T, B)
    columns = np.arange(B)
    x[first, columns, 1] = 1.0
    x[second, columns, 1] = 1.0
    y = (x[first, columns, 0] + x[second, columns, 0])[:, None]
    return x, y


class AddingModel:
    """A recurrent layer and a Linear readout of its last state, for the adding problem."""

    def __init__(self, cell: str, hidden_size: int, seed: int = 0):
        from rnnkit.layers import Linear
        from rnnkit.models._common import child_seeds, make_recurrent
        seeds = child_seeds(seed, 2)
        self.rnn = make_recurrent(cell, 2, hidden_size, 1, 0.0, False, np.float64, seeds[0])
        self.readout = Linear(hidden_size, 1, dtype=np.float64, seed=seeds[1])

    def parameters(self) -> list:
        return self.rnn.parameters() + self.readout.parameters()

    def loss_and_grads(self, x, y) -> float:
        """Forward and backward of the mean squared error; gradients accumulated."""
        from rnnkit.losses import MSELoss
        out, _ = self.rnn.forward(x)                                       # (T, B, H)
        mse = MSELoss()
        loss = mse.forward(self.readout.forward(out[-1]), y)
        d_out = np.zeros_like(out)
        d_out[-1] = self.readout.backward(mse.backward())                  # (B, H)
        self.rnn.backward(d_out)
        return loss

    def flow(self, x, y) -> np.ndarray:
        """``(T,)`` mean over the batch of ``||dL_b/dh_t||`` for each sequence's own squared
        error ``L_b`` (no 1/B: each sequence's gradient as if alone)."""
        traced = trace(self.rnn, x)
        error = traced.out[-1] @ self.readout.weight.data.T + self.readout.bias.data - y   # (B, 1)
        d_out = np.zeros_like(traced.out)
        d_out[-1] = 2.0 * error @ self.readout.weight.data                 # (B, H)
        state_gradients(self.rnn, traced, d_out)
        return state_gradient_norms(traced.directions[0])

    def mse(self, x, y) -> float:
        from rnnkit.module import no_grad
        with no_grad():
            out, _ = self.rnn.forward(x)
            return float(np.mean((self.readout.forward(out[-1]) - y) ** 2))


def train_adding(model: AddingModel, length: int, steps: int, batch_size: int = 32,
                 lr: float = 1e-3, clip: float = 1.0, seed: int = 0) -> None:
    """Adam on fresh batches of the adding problem, gradients clipped at ``clip``."""
    from rnnkit.optim import Adam
    from rnnkit.optim.clip import clip_grad_norm
    rng = np.random.default_rng(seed)
    optimizer = Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        x, y = adding_problem(length, batch_size, rng)
        optimizer.zero_grad()
        model.loss_and_grads(x, y)
        clip_grad_norm(model.parameters(), clip)
        optimizer.step()


def vanishing_study(cells=("rnn", "gru", "lstm"), length: int = 100, hidden_size: int = 64,
                    steps: int = 2000, eval_size: int = 256, seed: int = 0, log=None) -> dict:
    """The gradient flow of each cell at initialisation and after ``steps`` of training on
    the adding problem, on one fixed evaluation batch.

    Returns ``{cell: {"init": (T,) norms, "trained": (T,) norms, "mse_init", "mse_trained"}}``,
    norms indexed by time (the loss is at ``T-1``).
    """
    x, y = adding_problem(length, eval_size, np.random.default_rng(seed + 10_000))
    result = {}
    for cell in cells:
        model = AddingModel(cell, hidden_size, seed)
        entry = {"init": model.flow(x, y), "mse_init": model.mse(x, y)}
        train_adding(model, length, steps, seed=seed)
        entry.update(trained=model.flow(x, y), mse_trained=model.mse(x, y))
        result[cell] = entry
        if log is not None:
            log(f"{cell}: MSE {entry['mse_init']:.4f} -> {entry['mse_trained']:.4f} "
                f"(constant: {BASELINE_MSE:.4f}); ||dL/dh|| at distance {length - 1} / 0: "
                f"{entry['init'][0] / entry['init'][-1]:.2e} at init, "
                f"{entry['trained'][0] / entry['trained'][-1]:.2e} trained")
    return result
