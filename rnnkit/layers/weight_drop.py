"""Weight drop (DropConnect on the recurrent weights; Wan et al. 2013, Merity et al. 2018).

One mask per recurrent matrix and per forward pass, the same at every time step, so the
recurrence itself is regularised while the fast kernels run unchanged on ``W' = W * m``::

    forward (training):  m = (u >= p) / (1 - p),  u ~ U[0, 1)      # one per W_hh, per pass
                         W' = W * m                                # used at every step
    backward:            the layer computes dL/dW';   dL/dW = dL/dW' * m
    eval:                W' = W

The models that use it (:class:`rnnkit.models.PianoRollModel`,
:class:`rnnkit.models.WordClassifier`) keep their own seeded generator and say which
parameters are their recurrent weights.
"""

from __future__ import annotations

import contextlib


def weight_masks(weights, p: float, rng, training: bool):
    """One scaled keep-mask per weight (a list), or None in eval mode or when ``p == 0``."""
    if not training or p == 0:
        return None
    keep = 1.0 - p
    return [((rng.random(w.data.shape) < keep) / keep).astype(w.data.dtype) for w in weights]


@contextlib.contextmanager
def dropped_weights(weights, masks):
    """Inside the block the weights read ``W * mask`` (the same arrays for the forward and the
    backward pass); after it, their own values again."""
    if masks is None:
        yield
        return
    kept = [w.data for w in weights]
    for w, mask in zip(weights, masks):
        w.data = w.data * mask
    try:
        yield
    finally:
        for w, data in zip(weights, kept):
            w.data = data


def backward_through(weights, masks, run_backward):
    """``run_backward()`` with the dropped weights in place, then ``dL/dW = dL/dW' * m`` for
    what it added to each weight's gradient; returns what ``run_backward`` returned."""
    before = [w.grad.copy() for w in weights] if masks is not None else None
    with dropped_weights(weights, masks):
        result = run_backward()
    if masks is not None:
        for w, grad, mask in zip(weights, before, masks):
            w.grad[...] = grad + (w.grad - grad) * mask
    return result
