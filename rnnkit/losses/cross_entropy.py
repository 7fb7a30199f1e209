"""Softmax cross-entropy over the last axis, with a padding mask.

For logits ``z`` (..., C) and integer targets ``y`` (...), at each position::

    m     = max_c z_c                         # for a stable log-sum-exp
    lse   = m + log sum_c exp(z_c - m)
    loss  = lse - z_y                         # = -log softmax(z)_y
    L     = sum_valid loss / N_valid          # reduction='mean'

    dL/dz = (softmax(z) - onehot(y)) / N_valid   at valid positions, 0 elsewhere

Positions are valid where ``mask`` is true and ``target != ignore_index``.

With ``label_smoothing = eps`` (as ``torch.nn.CrossEntropyLoss``) the target is the
mixture ``q = (1 - eps) onehot(y) + eps / C`` of the one-hot and the uniform::

    loss  = (1 - eps) (lse - z_y) + eps * mean_c (lse - z_c)
    dL/dz = (softmax(z) - q) / N_valid
"""

from __future__ import annotations

import numpy as np

from rnnkit._validation import check_index_array, check_scalar, require_forward
from rnnkit.errors import InputError
from rnnkit.losses.base import Loss, check_prediction


class CrossEntropyLoss(Loss):
    """Like ``torch.nn.CrossEntropyLoss`` with class logits on the *last* axis
    (``label_smoothing`` in [0, 1], as there)."""

    def __init__(self, ignore_index=None, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = check_scalar(label_smoothing, "label_smoothing", float, low=0.0, high=1.0)

    def forward(self, logits, targets, mask=None):
        check_prediction(logits, "logits")
        if logits.ndim < 1:
            raise InputError("logits must have shape (..., C)")
        C = logits.shape[-1]
        targets = np.asarray(targets)
        if targets.shape != logits.shape[:-1]:
            raise InputError(f"targets must have shape {logits.shape[:-1]} (logits without the class axis), got {targets.shape}")
        valid = self._check_mask(mask, targets.shape)
        if valid is None:
            valid = np.ones(targets.shape, bool)
        if self.ignore_index is not None:
            valid = valid & (targets != self.ignore_index)
        weights, divisor = self._weights(valid, targets.shape)
        safe_targets = np.where(weights, targets, 0)
        check_index_array(safe_targets, "targets", C)
        shifted = logits - logits.max(axis=-1, keepdims=True)      # (..., C)
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=-1, keepdims=True)
        log_sum_exp = np.log(sum_exp[..., 0])
        nll = log_sum_exp - np.take_along_axis(shifted, safe_targets[..., None], -1)[..., 0]
        if self.label_smoothing:
            eps = self.label_smoothing
            nll = (1 - eps) * nll + eps * (log_sum_exp - shifted.mean(axis=-1))
        loss = (nll * weights).sum() / divisor
        self._cache = (exp / sum_exp, safe_targets, weights, divisor)
        return float(loss)

    def backward(self, scale=1.0):
        require_forward(self._cache, "CrossEntropyLoss")
        probs, targets, weights, divisor = self._cache
        eps = self.label_smoothing
        d = probs - eps / probs.shape[-1] if eps else probs.copy()
        d_y = np.take_along_axis(d, targets[..., None], -1) - (1 - eps)
        np.put_along_axis(d, targets[..., None], d_y, -1)
        d *= (weights[..., None] * (scale / divisor)).astype(d.dtype)
        return d
