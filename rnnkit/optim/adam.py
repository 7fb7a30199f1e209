"""Adam (L2 weight decay in the gradient) and AdamW (decoupled weight decay)."""

from __future__ import annotations

import numpy as np

from rnnkit import kernels
from rnnkit.errors import InputError
from rnnkit.optim.base import (
    Optimizer, check_bool, check_nonnegative, check_unit_interval, lerp_,
)


class Adam(Optimizer):
    r"""Adam, with the same update as ``torch.optim.Adam`` (same arithmetic order).

    For each parameter ``p`` with gradient ``g``, at step ``t = 1, 2, ...``
    (``m``, ``v``, ``v_max`` start at zero)::

        g     = g + weight_decay * p                  # Adam, if weight_decay != 0
        p     = p * (1 - lr * weight_decay)           # AdamW instead (decoupled)
        m     = m + (1 - beta1) * (g - m)             # = beta1 * m + (1 - beta1) * g
        v     = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                         # if amsgrad; then v_max replaces v below
        denom = sqrt(v) / sqrt(1 - beta2**t) + eps
        p     = p - (lr / (1 - beta1**t)) * m / denom

    Parameters
    ----------
    params : iterable of Parameter
    lr : float >= 0, default 1e-3
    betas : (beta1, beta2), each in [0, 1), default (0.9, 0.999)
    eps : float >= 0, default 1e-8
    weight_decay : float >= 0, default 0
    amsgrad : bool, default False

    State buffers: ``exp_avg`` (m), ``exp_avg_sq`` (v), and ``max_exp_avg_sq``
    (v_max) if ``amsgrad``.
    """

    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False):
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad
        )

    @staticmethod
    def _check_hyperparameters(lr, betas, eps, weight_decay, amsgrad) -> dict:
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise InputError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        return {
            "lr": check_nonnegative(lr, "lr"),
            "betas": (check_unit_interval(betas[0], "betas[0]"),
                      check_unit_interval(betas[1], "betas[1]")),
            "eps": check_nonnegative(eps, "eps"),
            "weight_decay": check_nonnegative(weight_decay, "weight_decay"),
            "amsgrad": check_bool(amsgrad, "amsgrad"),
        }

    @staticmethod
    def _buffer_names(hp: dict) -> tuple[str, ...]:
        names = ("exp_avg", "exp_avg_sq")
        return names + ("max_exp_avg_sq",) if hp["amsgrad"] else names

    # The update runs compiled (rnnkit/kernels/adam.py: one pass, split between the
    # cores, bit for bit the NumPy reference below) where numba is installed and the
    # arrays allow it; False: always the reference.
    fused = True

    def _update(self, i: int, param: np.ndarray, grad: np.ndarray) -> None:
        exp_avg, exp_avg_sq = self.state["exp_avg"][i], self.state["exp_avg_sq"][i]
        max_exp_avg_sq = self.state["max_exp_avg_sq"][i] if self.amsgrad else None
        if self.fused and kernels.available():
            from rnnkit.kernels import adam
            amsgrad_buffers = [] if max_exp_avg_sq is None else [max_exp_avg_sq]
            if adam.usable([param, grad, exp_avg, exp_avg_sq, *amsgrad_buffers]):
                adam.update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr=self.lr,
                            beta1=self.betas[0], beta2=self.betas[1], eps=self.eps,
                            weight_decay=self.weight_decay,
                            decoupled=self.decoupled_weight_decay, step=self.step_count)
                return
        self._reference_update(i, param, grad)

    def _reference_update(self, i: int, param: np.ndarray, grad: np.ndarray) -> None:
        """The update of the class docstring in NumPy calls (the readable reference)."""
        beta1, beta2 = self.betas
        t = self.step_count
        if self.weight_decay != 0:
            if self.decoupled_weight_decay:
                param *= 1 - self.lr * self.weight_decay
            else:
                grad = grad + self.weight_decay * param
        exp_avg = self.state["exp_avg"][i]
        exp_avg_sq = self.state["exp_avg_sq"][i]
        lerp_(exp_avg, grad, 1 - beta1)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * grad * grad

        bias_correction1 = 1 - beta1**t
        bias_correction2 = 1 - beta2**t
        step_size = self.lr / bias_correction1
        if self.amsgrad:
            second_moment = self.state["max_exp_avg_sq"][i]
            np.maximum(second_moment, exp_avg_sq, out=second_moment)
        else:
            second_moment = exp_avg_sq
        denom = np.sqrt(second_moment) / bias_correction2**0.5 + self.eps
        param += -step_size * exp_avg / denom


class AdamW(Adam):
    r"""Adam with decoupled weight decay, the same update as ``torch.optim.AdamW``.

    Identical to :class:`Adam` except that the decay shrinks the weights
    directly instead of entering the gradient (and so the moments)::

        p = p * (1 - lr * weight_decay)

    applied before the moment updates. Default ``weight_decay`` is 1e-2.
    """

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad
        )
