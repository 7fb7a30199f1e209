"""RMSprop, the optimizer char-rnn trains with by default."""

from __future__ import annotations

import numpy as np

from rnnkit.optim.base import Optimizer, check_bool, check_nonnegative, lerp_


class RMSprop(Optimizer):
    r"""RMSprop, with the same update as ``torch.optim.RMSprop`` (same arithmetic order).

    For each parameter ``p`` with gradient ``g`` (``v``, ``g_avg``, ``b`` start at zero)::

        g     = g + weight_decay * p                  # if weight_decay != 0
        v     = alpha * v + (1 - alpha) * g * g
        g_avg = g_avg + (1 - alpha) * (g - g_avg)     # if centered
        avg   = sqrt(v - g_avg * g_avg) + eps         # if centered
        avg   = sqrt(v) + eps                         # otherwise
        b     = momentum * b + g / avg                # if momentum > 0
        p     = p - lr * b                            # if momentum > 0
        p     = p - lr * g / avg                      # otherwise

    Parameters
    ----------
    params : iterable of Parameter
    lr : float >= 0, default 1e-2
    alpha : float >= 0, default 0.99 (smoothing constant of v)
    eps : float >= 0, default 1e-8
    weight_decay : float >= 0, default 0
    momentum : float >= 0, default 0
    centered : bool, default False (normalise by the gradient's estimated variance)

    State buffers: ``square_avg`` (v), ``momentum_buffer`` (b) if ``momentum > 0``,
    ``grad_avg`` (g_avg) if ``centered``.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False):
        super().__init__(
            params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
            momentum=momentum, centered=centered,
        )

    @staticmethod
    def _check_hyperparameters(lr, alpha, eps, weight_decay, momentum, centered) -> dict:
        return {
            "lr": check_nonnegative(lr, "lr"),
            "alpha": check_nonnegative(alpha, "alpha"),
            "eps": check_nonnegative(eps, "eps"),
            "weight_decay": check_nonnegative(weight_decay, "weight_decay"),
            "momentum": check_nonnegative(momentum, "momentum"),
            "centered": check_bool(centered, "centered"),
        }

    @staticmethod
    def _buffer_names(hp: dict) -> tuple[str, ...]:
        names = ("square_avg",)
        if hp["momentum"] > 0:
            names += ("momentum_buffer",)
        if hp["centered"]:
            names += ("grad_avg",)
        return names

    def _update(self, i: int, param: np.ndarray, grad: np.ndarray) -> None:
        if self.weight_decay != 0:
            grad = grad + self.weight_decay * param
        square_avg = self.state["square_avg"][i]
        square_avg *= self.alpha
        square_avg += (1 - self.alpha) * grad * grad
        if self.centered:
            grad_avg = self.state["grad_avg"][i]
            lerp_(grad_avg, grad, 1 - self.alpha)
            avg = np.sqrt(square_avg - grad_avg * grad_avg)
        else:
            avg = np.sqrt(square_avg)
        avg += self.eps
        if self.momentum > 0:
            buf = self.state["momentum_buffer"][i]
            buf *= self.momentum
            buf += grad / avg
            param -= self.lr * buf
        else:
            param += -self.lr * grad / avg
