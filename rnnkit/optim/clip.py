"""Gradient clipping: by global L2 norm (the usual fix for exploding RNN gradients)
and by value."""

from __future__ import annotations

import math

import numpy as np

from rnnkit._validation import check_scalar
from rnnkit.optim.base import _check_params


def clip_grad_norm(params, max_norm: float) -> float:
    r"""Scale all gradients together so their global L2 norm is at most ``max_norm``.

    Same as ``torch.nn.utils.clip_grad_norm_`` (norm_type=2)::

        total_norm = sqrt(sum_i ||p_i.grad||^2)       # as the norm of the per-tensor norms
        coef       = max_norm / (total_norm + 1e-6)
        p_i.grad   = p_i.grad * coef                  # only if coef < 1

    Gradients are scaled in place. If ``total_norm`` is NaN or inf the gradients
    are left as they are (torch would turn them all into NaN); check the returned
    norm to skip such a step.

    Parameters
    ----------
    params : iterable of Parameter
    max_norm : float > 0

    Returns
    -------
    total_norm : float
        The norm *before* clipping, as torch returns it.
    """
    params = _check_params(params)
    max_norm = check_scalar(max_norm, "max_norm", float, low=0.0, include_low=False)
    norms = np.array([np.linalg.norm(p.grad.ravel()) for p in params])  # (num_params,)
    total_norm = float(np.linalg.norm(norms))
    coef = max_norm / (total_norm + 1e-6)
    if math.isfinite(total_norm) and coef < 1:
        for p in params:
            p.grad *= coef
    return total_norm


def clip_grad_value(params, clip_value: float) -> None:
    """Clamp every gradient entry into ``[-clip_value, clip_value]`` in place,
    like ``torch.nn.utils.clip_grad_value_``."""
    params = _check_params(params)
    clip_value = check_scalar(clip_value, "clip_value", float, low=0.0, include_low=False)
    for p in params:
        np.clip(p.grad, -clip_value, clip_value, out=p.grad)
