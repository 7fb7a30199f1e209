"""The optimizer base class: parameter bookkeeping, state buffers, checkpoints.

An optimizer holds a list of :class:`~rnnkit.module.Parameter` and, for each
named state buffer (``"momentum_buffer"``, ``"exp_avg"``, ...), one array per
parameter with that parameter's shape and dtype. ``step()`` reads ``p.grad``
and updates ``p.data`` in place; it never touches ``p.grad``.

Hyperparameters (``lr``, ``betas``, ...) are plain attributes, so a learning-rate
schedule can set ``optimizer.lr`` between steps.

Checkpoints are split in two so they can be written without pickle::

    state_dict() -> {"meta":   {"type": "Adam", "num_params": 3, "step_count": 10,
                                "hyperparameters": {"lr": 0.001, "betas": [0.9, 0.999], ...}},
                     "arrays": {"0.exp_avg": ndarray, "0.exp_avg_sq": ndarray, "1.exp_avg": ...}}

``meta`` is JSON-serialisable; ``arrays`` is a flat ``dict[str, np.ndarray]``
that ``np.savez`` can store. Keys are ``"{parameter index}.{buffer name}"``.
"""

from __future__ import annotations

import numpy as np

from rnnkit._validation import check_scalar
from rnnkit.errors import InputError, InputTypeError
from rnnkit.module import Parameter


class Optimizer:
    """Base class. Subclasses define ``_check_hyperparameters``, ``_buffer_names``
    and ``_update``; everything else (validation, ``zero_grad``, checkpoints) is here."""

    def __init__(self, params, **hyperparameters):
        self.params: list[Parameter] = _check_params(params)
        hp = self._check_hyperparameters(**hyperparameters)
        self._set_hyperparameters(hp)
        self.step_count = 0  # number of step() calls so far; Adam's t after the increment
        # buffer name -> one array per parameter, same shape and dtype as p.data
        self.state: dict[str, list[np.ndarray]] = {
            name: [np.zeros_like(p.data) for p in self.params]
            for name in self._buffer_names(hp)
        }

    # -- subclass interface ----------------------------------------------------
    @staticmethod
    def _check_hyperparameters(**hyperparameters) -> dict:  # pragma: no cover - interface
        """Validate and normalise constructor arguments; return them as a dict."""
        raise NotImplementedError

    @staticmethod
    def _buffer_names(hyperparameters: dict) -> tuple[str, ...]:  # pragma: no cover - interface
        """Names of the per-parameter state buffers these hyperparameters need."""
        raise NotImplementedError

    def _update(self, i: int, param: np.ndarray, grad: np.ndarray) -> None:  # pragma: no cover
        """Update ``param`` (parameter ``i``'s data) in place from ``grad``."""
        raise NotImplementedError

    # -- public API ------------------------------------------------------------
    def step(self) -> None:
        """Apply one update to every parameter from its current ``grad``."""
        self.step_count += 1
        for i, p in enumerate(self.params):
            self._update(i, p.data, p.grad)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad[...] = 0

    def hyperparameters(self) -> dict:
        """Current hyperparameters as a JSON-serialisable dict (tuples become lists)."""
        return {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in self._hyperparameters_now().items()
        }

    def state_dict(self) -> dict:
        """``{"meta": json-able dict, "arrays": {"{i}.{buffer}": copy of array}}``."""
        meta = {
            "type": type(self).__name__,
            "num_params": len(self.params),
            "step_count": self.step_count,
            "hyperparameters": self.hyperparameters(),
        }
        arrays = {
            f"{i}.{name}": buffers[i].copy()
            for name, buffers in self.state.items()
            for i in range(len(self.params))
        }
        return {"meta": meta, "arrays": arrays}

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` exactly: step count, hyperparameters, buffers.

        Everything is checked before anything is written, so a refused state
        leaves the optimizer unchanged. Raises ValueError naming what mismatched.
        """
        if not isinstance(state, dict) or set(state) != {"meta", "arrays"}:
            raise InputError('state must be a dict with keys "meta" and "arrays"')
        meta, arrays = state["meta"], state["arrays"]
        expected_meta = {"type", "num_params", "step_count", "hyperparameters"}
        if not isinstance(meta, dict) or set(meta) != expected_meta:
            got = sorted(meta) if isinstance(meta, dict) else type(meta).__name__
            raise InputError(f'state["meta"] must have keys {sorted(expected_meta)}, got {got}')
        if meta["type"] != type(self).__name__:
            raise InputError(
                f'state["meta"]["type"] is {meta["type"]!r}, expected {type(self).__name__!r}'
            )
        if meta["num_params"] != len(self.params):
            raise InputError(
                f'state["meta"]["num_params"] is {meta["num_params"]!r}, '
                f"but this optimizer has {len(self.params)} parameters"
            )
        step_count = check_scalar(meta["step_count"], 'state["meta"]["step_count"]', int, low=0)
        hp = self._check_hyperparameters(**meta["hyperparameters"])
        names = self._buffer_names(hp)
        new_state = {name: [] for name in names}
        expected_keys = {f"{i}.{name}" for name in names for i in range(len(self.params))}
        missing = sorted(expected_keys - set(arrays))
        unexpected = sorted(set(arrays) - expected_keys)
        if missing or unexpected:
            raise InputError(
                f'state["arrays"] does not match {type(self).__name__}: '
                f"missing {missing}, unexpected {unexpected}"
            )
        for name in names:
            for i, p in enumerate(self.params):
                key = f"{i}.{name}"
                value = arrays[key]
                if not isinstance(value, np.ndarray):
                    raise InputError(
                        f'state["arrays"][{key!r}] must be a numpy.ndarray, '
                        f"got {type(value).__name__}"
                    )
                if value.shape != p.data.shape or value.dtype != p.data.dtype:
                    raise InputError(
                        f'state["arrays"][{key!r}] has shape {value.shape} and dtype '
                        f"{value.dtype}, expected {p.data.shape} and {p.data.dtype}"
                    )
                new_state[name].append(value.copy())
        self._set_hyperparameters(hp)
        self.step_count = step_count
        self.state = new_state

    # -- helpers ---------------------------------------------------------------
    def _set_hyperparameters(self, hp: dict) -> None:
        self._hyperparameter_names = tuple(hp)
        for name, value in hp.items():
            setattr(self, name, value)

    def _hyperparameters_now(self) -> dict:
        return {name: getattr(self, name) for name in self._hyperparameter_names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._hyperparameters_now().items())
        return f"{type(self).__name__}({len(self.params)} parameters, {args})"


# -- validation helpers shared by the optimizers ---------------------------------
def _check_params(params) -> list[Parameter]:
    if isinstance(params, Parameter) or not hasattr(params, "__iter__"):
        raise InputTypeError(
            "params must be an iterable of rnnkit Parameter objects "
            f"(e.g. model.parameters()), got {type(params).__name__}"
        )
    params = list(params)
    if not params:
        raise InputError("params is empty: there is nothing to update")
    for i, p in enumerate(params):
        if not isinstance(p, Parameter):
            raise InputTypeError(f"params[{i}] must be an rnnkit Parameter, got {type(p).__name__}")
    if len({id(p) for p in params}) != len(params):
        raise InputError("params contains the same Parameter more than once")
    return params


def check_nonnegative(value, name: str) -> float:
    """A finite real number >= 0, returned as a Python float."""
    return check_scalar(value, name, float, low=0.0)


def check_unit_interval(value, name: str) -> float:
    """A real number in [0, 1), returned as a Python float."""
    return check_scalar(value, name, float, low=0.0, high=1.0, include_high=False)


def check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InputTypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """``start += weight * (end - start)`` in place, rounded the way torch.lerp is.

    torch switches formula at weight 0.5 so that weight 1 gives ``end`` exactly:
    ``weight < 0.5:  start + weight * (end - start)``
    ``otherwise:     end - (end - start) * (1 - weight)``
    """
    if abs(weight) < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1 - weight)
