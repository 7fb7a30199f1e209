"""Shared test helpers: finite-difference checks and PyTorch twins of rnnkit runs."""

from __future__ import annotations

import numpy as np
import pytest

import rnnkit
from rnnkit.gradcheck import numerical_gradient, relative_error

GRAD_TOL = 1e-6      # relative error of analytic vs finite-difference gradients
TORCH_TOL = 1e-9     # absolute difference from PyTorch in float64


def model_loss_gradient_errors(model, batch, eps, before_forward=lambda: None):
    """Relative errors ``{name: error}`` of every parameter gradient that a ``ModelLoss``
    model's ``loss_and_backward(batch)`` accumulates, against central differences (step
    ``eps``) of ``model.loss(batch)``; ``before_forward()`` runs before every loss (e.g. to
    reset the dropout generators). Also checks that both methods give the same loss. Returns
    ``(errors, loss)`` with ``loss`` the no-grad loss function, for further checks."""
    def loss():
        before_forward()
        with rnnkit.no_grad():
            return model.loss(batch)

    model.zero_grad()
    before_forward()
    value = model.loss_and_backward(batch)
    assert value == pytest.approx(loss(), abs=0, rel=1e-14)
    errors = {name: relative_error(p.grad, numerical_gradient(loss, p.data, eps=eps))
              for name, p in model.named_parameters()}
    return errors, loss


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def check_module_gradients(forward, backward, inputs: dict, params, seed=0):
    """Finite-difference check of a module.

    ``forward()`` returns an array or a tuple of arrays (states may be tuples too);
    the loss is a fixed random projection of all of them. ``backward(weights)``
    receives the projection weights (shaped like forward's output) and returns a
    dict of analytic input gradients keyed like ``inputs``. Returns the largest
    relative error over inputs and parameters.
    """
    rng = np.random.default_rng(seed)

    def flat(outputs):
        if isinstance(outputs, tuple):
            return [a for o in outputs for a in flat(o)]
        return [outputs]

    def shaped(outputs):
        if isinstance(outputs, tuple):
            return tuple(shaped(o) for o in outputs)
        return rng.standard_normal(outputs.shape)

    weights = shaped(forward())
    flat_w = flat(weights)

    def loss():
        with rnnkit.no_grad():
            return sum(float((o * w).sum()) for o, w in zip(flat(forward()), flat_w))

    for p in params:
        p.grad[...] = 0
    forward()
    analytic = backward(weights)
    errors = {}
    for name, array in inputs.items():
        errors[name] = relative_error(analytic[name], numerical_gradient(loss, array))
    for i, p in enumerate(params):
        errors[f"param{i}"] = relative_error(p.grad, numerical_gradient(loss, p.data))
    return max(errors.values()), errors


def torch_sequence_run(module, x, hx, lengths, d_out, d_h_n):
    """Forward and backward through a torch.nn.RNN/GRU/LSTM (packed when lengths given).

    Returns out, h_n, dx, dh0 (states as tuples for LSTM) as numpy arrays.
    """
    import torch

    is_lstm = isinstance(module, torch.nn.LSTM)
    xt = torch.tensor(x, requires_grad=True)
    hxt = tuple(torch.tensor(h, requires_grad=True) for h in as_tuple(hx)) if hx is not None else None
    feed = None if hxt is None else (hxt if is_lstm else hxt[0])
    if lengths is not None:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            xt, torch.tensor(lengths), batch_first=module.batch_first, enforce_sorted=False)
        out_packed, h_n = module(packed, feed)
        total = x.shape[1] if module.batch_first else x.shape[0]
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(
            out_packed, batch_first=module.batch_first, total_length=total)
    else:
        out, h_n = module(xt, feed)
    h_n = as_tuple(h_n)
    loss = (out * torch.tensor(d_out)).sum()
    for h, d in zip(h_n, as_tuple(d_h_n)):
        loss = loss + (h * torch.tensor(d)).sum()
    loss.backward()
    dh0 = None if hxt is None else tuple(h.grad.numpy() for h in hxt)
    return (out.detach().numpy(), tuple(h.detach().numpy() for h in h_n),
            xt.grad.numpy(), dh0)


def run_cli(argv, capsys):
    """Run the ``rnnkit`` command in-process: (exit status, stdout, stderr)."""
    from rnnkit.cli import main

    try:
        status = main(argv)
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err
