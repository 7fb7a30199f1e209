"""Scalers: numeric inputs mapped to the small, centred values a network trains well on.

Each is fitted on training data only and saved with the model (as JSON), so that
evaluation and prediction scale new data exactly as the training data was:

``StandardScaler`` (the ``vowels`` app's encoder)
    variable-length sequences ``(T_i, D)``; per feature, over every training frame::

        x' = (x - mean) / std                    # mean, std: (D,)

``RowScaler`` (the ``imageseq`` app's encoder)
    images ``(N, H, W)`` read as ``H`` steps of ``W`` features::

        x' = x / scale                           # scale: the largest training |pixel|

``SeriesScaler`` (forecasting, :mod:`rnnkit.forecasting.fit`)
    one series ``(N, C)``, per column, after an optional log, with its inverse::

        z = (f(y) - mean) / std,  y = f^-1(z * std + mean)     # f = log or identity

A standard deviation of 0 (a constant feature) is replaced by 1: the feature is only
centred. The first two follow the encoder protocol of :mod:`rnnkit.classification`
(``fit`` classmethod, ``transform``, ``model_inputs``, ``to_dict``/``from_dict``).
"""

from __future__ import annotations

import numpy as np

from rnnkit.errors import InputError


def mean_and_std(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column ``(mean, std)`` of ``values (N, D)``, each ``(D,)``; a std of 0 becomes 1."""
    std = values.std(axis=0)
    return values.mean(axis=0), np.where(std > 0, std, 1.0)


class StandardScaler:
    """Per-feature standardisation: ``x' = (x - mean) / std`` over all training frames."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, np.float64)                  # (D,)
        self.std = np.asarray(std, np.float64)                    # (D,)

    @classmethod
    def fit(cls, sequences) -> "StandardScaler":
        """Fitted on a list of ``(T_i, D)`` sequences (all frames together)."""
        return cls(*mean_and_std(np.concatenate(check_sequences(sequences))))   # (sum T_i, D)

    def transform(self, sequences) -> list[np.ndarray]:
        """Each ``(T_i, D)`` sequence scaled, as float32."""
        sequences = check_sequences(sequences, width=self.mean.size)
        return [((s - self.mean) / self.std).astype(np.float32) for s in sequences]

    def model_inputs(self) -> dict:
        return {"input_size": int(self.mean.size)}

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data) -> "StandardScaler":
        return cls(data["mean"], data["std"])


def check_sequences(sequences, width=None) -> list[np.ndarray]:
    """``sequences`` as float64 ``(T_i, D)`` arrays with ``T_i >= 1``, one ``D`` (``width``
    when given) and finite values; InputError naming the first bad sequence."""
    checked = []
    for n, s in enumerate(sequences):
        s = np.asarray(s, dtype=np.float64)
        if s.ndim != 2 or s.shape[0] == 0:
            raise InputError(f"sequences[{n}] must have shape (T, D) with T >= 1, got {s.shape}")
        want = width if width is not None else (checked[0].shape[1] if checked else s.shape[1])
        if s.shape[1] != want:
            raise InputError(f"sequences[{n}] has {s.shape[1]} features, expected {want}")
        if not np.isfinite(s).all():
            raise InputError(f"sequences[{n}] holds NaN or infinite values")
        checked.append(s)
    if not checked:
        raise InputError("no sequences")
    return checked


class RowScaler:
    """Images ``(N, H, W)`` -> sequences ``(H, W)`` float32, pixel values divided by ``scale``."""

    def __init__(self, scale: float, height: int, width: int):
        self.scale, self.height, self.width = float(scale), int(height), int(width)

    @classmethod
    def fit(cls, images) -> "RowScaler":
        """``scale`` is the largest absolute pixel value of the training images (1 if all are 0)."""
        images = check_images(images)
        peak = float(np.abs(images).max())
        return cls(peak if peak > 0 else 1.0, images.shape[1], images.shape[2])

    def transform(self, images) -> np.ndarray:
        """Images ``(N, H, W)`` of the training size -> ``(N, H, W)`` float32."""
        images = check_images(images)
        if images.shape[1:] != (self.height, self.width):
            raise InputError(f"images must be {self.height}x{self.width} like the training images, "
                             f"got {images.shape[1]}x{images.shape[2]}")
        return (images / self.scale).astype(np.float32)                    # (N, H, W)

    def model_inputs(self) -> dict:
        return {"input_size": self.width}

    def to_dict(self) -> dict:
        return {"scale": self.scale, "height": self.height, "width": self.width}

    @classmethod
    def from_dict(cls, data) -> "RowScaler":
        return cls(data["scale"], data["height"], data["width"])


def check_images(images) -> np.ndarray:
    """``images`` as a numeric ``(N, H, W)`` array with ``N, H, W >= 1``."""
    images = np.asarray(images)
    if images.ndim != 3 or 0 in images.shape or images.dtype.kind not in "iuf":
        raise InputError(f"images must be numbers of shape (N, H, W) with N, H, W >= 1, "
                         f"got {images.dtype} {images.shape}")
    return images


class SeriesScaler:
    """Per-column standardisation of a series ``y (N, C)`` (after an optional log), fitted
    on its training rows; :meth:`inverse` maps forecasts back to the series' units."""

    def __init__(self, log: bool = False):
        self.log = bool(log)
        self.mean_ = None      # (C,)
        self.std_ = None       # (C,)

    def fit(self, y: np.ndarray) -> "SeriesScaler":
        if self.log and (y <= 0).any():
            raise InputError("log scaling needs strictly positive values; run without --log")
        self.mean_, self.std_ = mean_and_std(np.log(y) if self.log else y)
        return self

    def transform(self, y: np.ndarray) -> np.ndarray:
        f = np.log(y) if self.log else y
        return (f - self.mean_) / self.std_

    def inverse(self, z: np.ndarray) -> np.ndarray:
        f = z * self.std_ + self.mean_
        return np.exp(f) if self.log else f

    def state(self) -> dict:
        return {"log": self.log, "mean": self.mean_.tolist(), "std": self.std_.tolist()}

    @classmethod
    def from_state(cls, state: dict) -> "SeriesScaler":
        scaler = cls(state["log"])
        scaler.mean_ = np.asarray(state["mean"], dtype=np.float64)
        scaler.std_ = np.asarray(state["std"], dtype=np.float64)
        return scaler


__all__ = ["StandardScaler", "RowScaler", "SeriesScaler", "mean_and_std", "check_sequences",
           "check_images"]
