"""Stochastic gradient descent with optional momentum, Nesterov and weight decay."""

from __future__ import annotations

import numpy as np

from rnnkit.errors import InputError
from rnnkit.optim.base import Optimizer, check_bool, check_nonnegative


class SGD(Optimizer):
    r"""SGD, with the same update as ``torch.optim.SGD`` (bit-for-bit order).

    For each parameter ``p`` with gradient ``g``, at step ``t = 1, 2, ...``::

        g = g + weight_decay * p                      # if weight_decay != 0
        b = g                                         # if momentum != 0, at t == 1
        b = momentum * b + (1 - dampening) * g        # if momentum != 0, at t > 1
        g = g + momentum * b   if nesterov   else b   # if momentum != 0
        p = p - lr * g

    Parameters
    ----------
    params : iterable of Parameter
    lr : float >= 0
    momentum : float >= 0, default 0
    dampening : float >= 0, default 0
    nesterov : bool, default False (needs momentum > 0 and dampening == 0)
    weight_decay : float >= 0, default 0 (L2 penalty added to the gradient)

    State buffers: ``momentum_buffer`` (only if ``momentum != 0``).
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(
            params, lr=lr, momentum=momentum, dampening=dampening,
            nesterov=nesterov, weight_decay=weight_decay,
        )

    @staticmethod
    def _check_hyperparameters(lr, momentum, dampening, nesterov, weight_decay) -> dict:
        hp = {
            "lr": check_nonnegative(lr, "lr"),
            "momentum": check_nonnegative(momentum, "momentum"),
            "dampening": check_nonnegative(dampening, "dampening"),
            "nesterov": check_bool(nesterov, "nesterov"),
            "weight_decay": check_nonnegative(weight_decay, "weight_decay"),
        }
        if hp["nesterov"] and (hp["momentum"] <= 0 or hp["dampening"] != 0):
            raise InputError(
                f"nesterov=True requires momentum > 0 and dampening == 0, "
                f"got momentum={momentum!r} and dampening={dampening!r}"
            )
        return hp

    @staticmethod
    def _buffer_names(hp: dict) -> tuple[str, ...]:
        return ("momentum_buffer",) if hp["momentum"] != 0 else ()

    def _update(self, i: int, param: np.ndarray, grad: np.ndarray) -> None:
        if self.weight_decay != 0:
            grad = grad + self.weight_decay * param
        if self.momentum != 0:
            buf = self.state["momentum_buffer"][i]
            if self.step_count == 1:
                buf[...] = grad
            else:
                buf *= self.momentum
                buf += (1 - self.dampening) * grad
            grad = grad + self.momentum * buf if self.nesterov else buf
        param -= self.lr * grad
