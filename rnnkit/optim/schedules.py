"""Learning-rate schedules, and the :class:`Scheduler` that applies one to an optimizer.

A schedule is any callable ``lr_at(step) -> float``, where ``step`` counts
``Scheduler.step()`` calls from 0. The three here are small frozen dataclasses,
so they print their settings; a plain function or lambda works just as well.

    optimizer = RMSprop(model.parameters(), lr=2e-3)
    scheduler = Scheduler(optimizer, WarmupCosine(lr=2e-3, warmup_steps=100, total_steps=5000))
    for batch in batches:
        ...backward...
        optimizer.step()
        scheduler.step()

The scheduler's only state is its step count, so resuming is
``scheduler.load_state_dict({"step_count": n})``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rnnkit._validation import check_scalar
from rnnkit.errors import InputError, InputTypeError
from rnnkit.optim.base import Optimizer, check_nonnegative


def _check_step_count(value, name: str) -> int:
    return check_scalar(value, name, int, low=0)


@dataclass(frozen=True)
class Constant:
    """``lr_at(step) = lr``."""

    lr: float

    def __post_init__(self):
        check_nonnegative(self.lr, "lr")

    def __call__(self, step: int) -> float:
        return float(self.lr)


@dataclass(frozen=True)
class StepDecay:
    """``lr_at(step) = lr * gamma ** (step // step_size)``, like ``torch.optim.lr_scheduler.StepLR``."""

    lr: float
    step_size: int
    gamma: float = 0.1

    def __post_init__(self):
        check_nonnegative(self.lr, "lr")
        check_scalar(self.step_size, "step_size", int, low=1)
        check_nonnegative(self.gamma, "gamma")

    def __call__(self, step: int) -> float:
        return self.lr * self.gamma ** (step // self.step_size)


@dataclass(frozen=True)
class WarmupCosine:
    """Linear warm-up to ``lr``, then cosine decay to ``min_lr`` at ``total_steps``::

        lr_at(step) = lr * (step + 1) / warmup_steps                    if step < warmup_steps
        progress    = (step - warmup_steps) / (total_steps - warmup_steps)
        lr_at(step) = min_lr + 0.5 * (lr - min_lr) * (1 + cos(pi * progress))
                                                           if warmup_steps <= step <= total_steps
        lr_at(step) = min_lr                                            if step > total_steps

    Warm-up starts at ``lr / warmup_steps`` (never 0, which would waste a step) and
    reaches ``lr`` at ``step = warmup_steps - 1``; the cosine starts from ``lr`` too.
    """

    lr: float
    warmup_steps: int
    total_steps: int
    min_lr: float = 0.0

    def __post_init__(self):
        check_nonnegative(self.lr, "lr")
        check_nonnegative(self.min_lr, "min_lr")
        _check_step_count(self.warmup_steps, "warmup_steps")
        check_scalar(self.total_steps, "total_steps", int, low=self.warmup_steps,
                     include_low=False, note=f" (warmup_steps={self.warmup_steps})")
        if self.min_lr > self.lr:
            raise InputError(f"min_lr={self.min_lr!r} must not exceed lr={self.lr!r}")

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if step > self.total_steps:
            return float(self.min_lr)
        progress = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1 + math.cos(math.pi * progress))


class Scheduler:
    """Sets ``optimizer.lr = schedule(step_count)``: at construction (step 0) and
    after every :meth:`step`. Call ``scheduler.step()`` after ``optimizer.step()``."""

    def __init__(self, optimizer: Optimizer, schedule):
        if not isinstance(optimizer, Optimizer):
            raise InputTypeError(
                f"optimizer must be an rnnkit optimizer, got {type(optimizer).__name__}"
            )
        if not callable(schedule):
            raise InputTypeError(
                f"schedule must be callable as schedule(step) -> lr, got {type(schedule).__name__}"
            )
        self.optimizer = optimizer
        self.schedule = schedule
        self.step_count = 0
        self._apply()

    def step(self) -> None:
        self.step_count += 1
        self._apply()

    def state_dict(self) -> dict:
        """JSON-serialisable: ``{"step_count": n}``."""
        return {"step_count": self.step_count}

    def load_state_dict(self, state: dict) -> None:
        if not isinstance(state, dict) or set(state) != {"step_count"}:
            raise InputError(f'state must be {{"step_count": int}}, got {state!r}')
        self.step_count = _check_step_count(state["step_count"], 'state["step_count"]')
        self._apply()

    def _apply(self) -> None:
        self.optimizer.lr = float(self.schedule(self.step_count))
