"""Connectionist temporal classification (Graves et al., 2006), in log space.

Inputs are time-major logits ``z`` (T, B, C); sequence ``b`` uses frames ``t < T_b``
and labels ``l = targets[b, :S_b]``. The extended label sequence ``l'`` puts a blank
before, between and after the labels (length ``L_b = 2 S_b + 1``). With
``y = log_softmax(z)`` and ``y'[t, s] = y[t, l'_s]``::

    alpha[0, s] = y'[0, s]                          for s in {0, 1}, -inf elsewhere
    alpha[t, s] = y'[t, s] + logsumexp(alpha[t-1, s], alpha[t-1, s-1],
                                       alpha[t-1, s-2] if skip[s])
    beta[T_b-1, s] = 0                               for s in {L_b-1, L_b-2}, -inf elsewhere
    beta[t, s]  = logsumexp(beta[t+1, s]   + y'[t+1, s],
                            beta[t+1, s+1] + y'[t+1, s+1],
                            beta[t+1, s+2] + y'[t+1, s+2] if skip[s+2])
    log p(l|x)  = logsumexp(alpha[T_b-1, L_b-1], alpha[T_b-1, L_b-2])
    loss_b      = -log p(l|x)

``skip[s]`` is true where ``l'_s`` is a label different from ``l'_{s-2}``: a path may
jump over a blank only between two different labels. Here ``beta`` excludes the
emission at ``t``, so ``alpha + beta`` is the log probability of all paths through
``(t, s)``. The gradient w.r.t. the logits (at ``t < T_b``, zero after) is::

    gamma[t, s]    = exp(alpha[t, s] + beta[t, s] - log p(l|x))    # occupancy, <= 1
    dloss_b/dz[t, c] = softmax(z[t])_c - sum_{s: l'_s = c} gamma[t, s]

``reduction='mean'`` divides each ``loss_b`` by ``max(S_b, 1)`` and averages over the
batch, ``'sum'`` adds, ``'none'`` returns the (B,) losses (as ``torch.nn.CTCLoss``).
An impossible alignment (too few frames for the labels and their repeats) has
``loss_b = inf``; ``zero_infinity=True`` replaces it and its gradient by 0.
"""

from __future__ import annotations

import numpy as np

from rnnkit._validation import check_lengths, check_scalar, require_forward
from rnnkit.errors import InputError, InputTypeError
from rnnkit.functional import log_softmax
from rnnkit.losses.base import Loss, check_prediction

CTC_REDUCTIONS = ("mean", "sum", "none")


class CTCLoss(Loss):
    """Like ``torch.nn.CTCLoss`` but takes logits (log-softmax is applied inside) and
    padded targets (B, S) only."""

    def __init__(self, blank=0, reduction="mean", zero_infinity=False):
        # not Loss.__init__: CTC also offers reduction='none'
        if reduction not in CTC_REDUCTIONS:
            raise InputError(f"reduction must be one of {CTC_REDUCTIONS}, got {reduction!r}")
        self.blank = check_scalar(blank, "blank", int, low=0)
        self.reduction = reduction
        self.zero_infinity = bool(zero_infinity)
        self._cache = None

    def forward(self, logits, targets, input_lengths, target_lengths):
        """Loss of logits (T, B, C) against padded targets (B, S): a float, or (B,)
        losses with ``reduction='none'``."""
        targets, input_lengths, target_lengths = self._check(logits, targets, input_lengths, target_lengths)
        log_probs, ext, skip, log_y, alpha = _forward_variables(logits, targets, target_lengths,
                                                               self.blank)
        probs = np.exp(log_probs)
        beta = ctc_beta(log_y, skip, input_lengths, target_lengths)
        log_p = _log_likelihood(alpha, input_lengths, target_lengths)   # (B,)
        losses = -log_p
        impossible = np.isinf(losses)
        if self.zero_infinity:
            losses = np.where(impossible, 0.0, losses)
        weights = self._weights(target_lengths, impossible)             # (B,)
        self._cache = (probs, ext, alpha, beta, log_p, input_lengths, weights)
        if self.reduction == "none":
            return losses
        return float((losses * weights).sum())

    def backward(self, scale=1.0):
        """dL/dlogits (T, B, C), times ``scale`` (a float, or (B,) with ``reduction='none'``)."""
        require_forward(self._cache, "CTCLoss")
        probs, ext, alpha, beta, log_p, input_lengths, weights = self._cache
        T, B, C = probs.shape
        with np.errstate(invalid="ignore"):     # -inf - (-inf) for impossible alignments
            gamma = np.exp(alpha + beta - log_p[None, :, None])         # (T, B, L)
        onehot = ext[..., None] == np.arange(C)                        # (B, L, C)
        occupancy = np.einsum("tbl,blc->tbc", gamma, onehot)            # (T, B, C)
        grad = probs - occupancy
        valid = np.arange(T)[:, None] < input_lengths[None, :]          # (T, B)
        per_sequence = weights * np.asarray(scale, dtype=probs.dtype)   # (B,)
        # where, not multiply: a zeroed impossible sequence has a NaN gradient to drop
        keep = valid & (per_sequence != 0)[None, :]
        return np.where(keep[..., None], grad * per_sequence[None, :, None], 0.0).astype(probs.dtype)

    def _weights(self, target_lengths, impossible) -> np.ndarray:
        """What each sequence's loss is multiplied by in the reduction, (B,)."""
        B = target_lengths.shape[0]
        if self.reduction == "mean":
            weights = 1.0 / (np.maximum(target_lengths, 1) * B)
        else:
            weights = np.ones(B)
        if self.zero_infinity:
            weights = np.where(impossible, 0.0, weights)
        return weights

    def _check(self, logits, targets, input_lengths, target_lengths):
        check_prediction(logits, "logits")
        if logits.ndim != 3:
            raise InputError(f"logits must have shape (T, B, C), got {logits.shape}")
        T, B, C = logits.shape
        if not self.blank < C:
            raise InputError(f"blank must lie in [0, C={C}), got {self.blank}")
        targets = np.asarray(targets)
        if targets.dtype.kind not in "iu":
            raise InputTypeError(f"targets must be an integer array of shape (B={B}, S), got dtype {targets.dtype}")
        if targets.ndim != 2 or targets.shape[0] != B:
            raise InputError(f"targets must have shape (B={B}, S) (padded), got {targets.shape}")
        S = targets.shape[1]
        input_lengths = check_lengths(input_lengths, B, T, "input_lengths", max_name=None)
        target_lengths = check_lengths(target_lengths, B, S, "target_lengths", low=0,
                                       max_name=None)
        used = np.arange(S)[None, :] < target_lengths[:, None]          # (B, S)
        labels = targets[used]
        if labels.size and (labels.min() < 0 or labels.max() >= C):
            raise InputError(f"targets must lie in [0, C={C}) within target_lengths, "
                             f"got min {labels.min()} and max {labels.max()}")
        if np.any(labels == self.blank):
            raise InputError(f"targets must not contain the blank index {self.blank} within target_lengths")
        return targets, input_lengths, target_lengths


def ctc_log_likelihood(log_probs, targets, input_lengths, target_lengths, blank=0) -> np.ndarray:
    """``log p(l_b | x_b)`` (B,) for the padded ``targets`` (B, S): the forward recursion
    only, no gradient, so ``-CTCLoss(reduction='none')`` of the same inputs without its
    backward variables. ``log_probs`` (T, B, C) are logits or log probabilities (log-softmax
    is applied, and leaves log probabilities as they are). ``-inf`` where no alignment
    exists. For scoring given transcripts, e.g. rescoring a beam's n-best list."""
    targets, input_lengths, target_lengths = CTCLoss(blank)._check(
        log_probs, targets, input_lengths, target_lengths)
    alpha = _forward_variables(log_probs, targets, target_lengths, blank)[-1]
    return _log_likelihood(alpha, input_lengths, target_lengths)


def _forward_variables(logits, targets, target_lengths, blank):
    """``(log_softmax(logits) (T, B, C), ext, skip (B, L), log_y (T, B, L), alpha (T, B, L))``."""
    log_probs = log_softmax(logits)                                     # (T, B, C)
    ext, skip = extended_labels(targets, target_lengths, blank)        # (B, L) each
    log_y = np.take_along_axis(log_probs, np.broadcast_to(ext, log_probs.shape[:2] + ext.shape[1:]), -1)  # (T, B, L)
    return log_probs, ext, skip, log_y, ctc_alpha(log_y, skip, target_lengths)


def extended_labels(targets, target_lengths, blank):
    """The extended sequences ``l'`` (B, 2S+1), blank-padded past ``2 S_b + 1``, and
    ``skip`` (B, 2S+1): where the jump from ``s-2`` is allowed."""
    B, S = targets.shape
    used = np.arange(S)[None, :] < target_lengths[:, None]              # (B, S)
    ext = np.full((B, 2 * S + 1), blank, dtype=np.int64)
    ext[:, 1::2] = np.where(used, targets, blank)
    skip = np.zeros(ext.shape, dtype=bool)
    skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
    return ext, skip


def ctc_alpha(log_y, skip, target_lengths):
    """Forward variables (T, B, L): log probability of the prefixes ending at ``(t, s)``."""
    T, B, L = log_y.shape
    alpha = np.full((T, B, L), -np.inf)
    alpha[0, :, 0] = log_y[0, :, 0]
    if L > 1:
        alpha[0, :, 1] = np.where(target_lengths > 0, log_y[0, :, 1], -np.inf)
    for t in range(1, T):
        stay = alpha[t - 1]
        step = _shift(alpha[t - 1], 1)
        jump = np.where(skip, _shift(alpha[t - 1], 2), -np.inf)
        alpha[t] = log_y[t] + _logsumexp3(stay, step, jump)
    return alpha


def ctc_beta(log_y, skip, input_lengths, target_lengths):
    """Backward variables (T, B, L): log probability of the suffix after ``(t, s)``
    (emission at ``t`` excluded), -inf at ``t >= T_b``."""
    T, B, L = log_y.shape
    last = 2 * target_lengths                                          # L_b - 1, (B,)
    positions = np.arange(L)[None, :]
    end = (positions == last[:, None]) | (positions == last[:, None] - 1)   # (B, L)
    start = np.where(end, 0.0, -np.inf)                                # beta at t = T_b - 1
    beta = np.full((T, B, L), -np.inf)
    for t in range(T - 1, -1, -1):
        if t < T - 1:
            emitted = beta[t + 1] + log_y[t + 1]                       # (B, L)
            stay = emitted
            step = _shift(emitted, -1)
            jump = _shift(np.where(skip, emitted, -np.inf), -2)
            beta[t] = _logsumexp3(stay, step, jump)
        is_last = (t == input_lengths - 1)[:, None]                    # (B, 1)
        beta[t] = np.where(is_last, start, beta[t])
        beta[t] = np.where((t >= input_lengths)[:, None], -np.inf, beta[t])
    return beta


def _log_likelihood(alpha, input_lengths, target_lengths):
    """log p(l|x), (B,): alpha at the last frame, in the last label or the final blank."""
    batch = np.arange(alpha.shape[1])
    at_end = alpha[input_lengths - 1, batch]                           # (B, L)
    last = 2 * target_lengths
    final_blank = at_end[batch, last]
    final_label = np.where(target_lengths > 0, at_end[batch, np.maximum(last - 1, 0)], -np.inf)
    return np.logaddexp(final_blank, final_label)


def _shift(x, k):
    """``x[:, s - k]`` along the last axis, -inf where that falls off the end."""
    out = np.full_like(x, -np.inf)
    if k > 0:
        out[:, k:] = x[:, :-k]
    else:
        out[:, :k] = x[:, -k:]
    return out


def _logsumexp3(a, b, c):
    top = np.maximum(np.maximum(a, b), c)
    safe = np.where(np.isfinite(top), top, 0.0)     # all -inf: the sum is exp(-inf) = 0
    with np.errstate(divide="ignore"):
        return safe + np.log(np.exp(a - safe) + np.exp(b - safe) + np.exp(c - safe))
