"""Optimizers, gradient clipping and learning-rate schedules.

Every optimizer takes a list of :class:`~rnnkit.module.Parameter` (usually
``model.parameters()``), updates ``p.data`` in place from ``p.grad`` with
exactly PyTorch's equations, and checkpoints through ``state_dict()`` /
``load_state_dict()`` as JSON-able ``meta`` plus a flat dict of arrays.
"""

from rnnkit.optim.adam import Adam, AdamW
from rnnkit.optim.base import Optimizer
from rnnkit.optim.clip import clip_grad_norm, clip_grad_value
from rnnkit.optim.rmsprop import RMSprop
from rnnkit.optim.schedules import Constant, Scheduler, StepDecay, WarmupCosine
from rnnkit.optim.sgd import SGD

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "RMSprop",
    "clip_grad_norm", "clip_grad_value",
    "Scheduler", "Constant", "StepDecay", "WarmupCosine",
]
