"""Parameters and the module base class.

A :class:`Parameter` is a value array with a gradient array of the same shape
beside it. A :class:`Module` owns parameters and child modules; its
``named_parameters()`` walks them in definition order and gives PyTorch-style
dotted names (``"1.weight_ih_l0"``), so weights can be compared or ported by name.

Every module has a ``forward`` that caches what its ``backward`` needs, and a
``backward`` that takes the gradient of the loss with respect to the forward's
output, *accumulates* (``+=``) parameter gradients, and returns the gradient with
respect to the forward's input. Call ``zero_grad()`` between steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from rnnkit.errors import InputError

_grad_enabled = True


@contextlib.contextmanager
def no_grad():
    """Inside this block, forward passes keep no activations for backward
    (inference and generation: less memory, less time)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled() -> bool:
    return _grad_enabled


class Parameter:
    """A trainable array ``data`` and its accumulated gradient ``grad``."""

    __slots__ = ("data", "grad")

    def __init__(self, data: np.ndarray):
        self.data = data
        self.grad = np.zeros_like(data)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class: parameter bookkeeping, train/eval mode, state dicts."""

    training: bool = True

    # -- parameter traversal -------------------------------------------------
    def _children(self) -> Iterator[tuple[str, object]]:
        for name, value in vars(self).items():
            if isinstance(value, (Parameter, Module)):
                yield name, value
            elif isinstance(value, (list, tuple)) and value and all(
                isinstance(v, Module) for v in value
            ):
                # A list of child modules (e.g. Sequential) is named by index, as in torch.
                prefix = "" if name == "_modules_list" else name + "."
                for i, child in enumerate(value):
                    yield f"{prefix}{i}", child

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, value in self._children():
            if isinstance(value, Parameter):
                yield prefix + name, value
            else:
                yield from value.named_parameters(prefix + name + ".")

    def modules(self) -> Iterator["Module"]:
        yield self
        for _, value in self._children():
            if isinstance(value, Module):
                yield from value.modules()

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def gradients(self) -> list[np.ndarray]:
        return [p.grad for p in self.parameters()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad[...] = 0

    def num_parameters(self) -> int:
        return sum(p.data.size for p in self.parameters())

    # -- mode ----------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> "Module":
        return self.train(False)

    # -- state ---------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter array, keyed by dotted name."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Load arrays by name; refuses missing, unexpected or mis-shaped entries.

        Everything is checked before anything is written, so a refused state
        never leaves the module half-loaded.
        """
        own = dict(self.named_parameters())
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise InputError(
                f"state does not match {type(self).__name__}: "
                f"missing {missing}, unexpected {unexpected}"
            )
        for name, p in own.items():
            value = np.asarray(state[name])
            if value.shape != p.data.shape:
                raise InputError(
                    f"state[{name!r}] has shape {value.shape}, expected {p.data.shape}"
                )
        for name, p in own.items():
            p.data[...] = state[name]

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):  # pragma: no cover - interface
        raise NotImplementedError

    def backward(self, *args, **kwargs):  # pragma: no cover - interface
        raise NotImplementedError
