"""Trainer checkpoints: everything needed to continue a run exactly, in one file.

A trainer checkpoint is an ``rnnkit.checkpoint`` file (npz + JSON, no pickle,
written atomically) laid out as::

    arrays  model/<name>        current weights (model.state_dict())
            best/<name>         weights at the best validation loss (when validated)
            optimizer/<key>     optimizer buffers (momentum, exp_avg, ...)
            carry/<i>           hidden state carried to the next batch (h, or h and c)
    meta    {"kind": "rnnkit-trainer", "version": 1,
             "model": {"class": "LanguageModel", "config": {...}},
             "optimizer": {...}, "scheduler": {"step_count": n} or None,
             "rngs": {"rnn.dropout_rng": <generator state>, ...},
             "data": {...}, "position": {"epoch": e, "index": i},
             "trainer": {"step", "epoch", "best_val_loss", "best_step", "bad_evals", ...},
             "extra": {... whatever the application stored, e.g. its vocabulary ...}}

The model's random generators (dropout masks) are found by walking its modules
(:func:`collect_rngs`), so a resumed run draws the same masks.

:func:`load_model` rebuilds a model from a checkpoint alone (class name + config),
for sampling and evaluation.
"""

from __future__ import annotations

import numpy as np

from rnnkit.checkpoint import CheckpointError, check_arrays_match, load_checkpoint
from rnnkit.module import Module

KIND = "rnnkit-trainer"
VERSION = 1


def collect_rngs(module: Module, prefix: str = "") -> dict[str, np.random.Generator]:
    """Every ``numpy.random.Generator`` held by ``module`` or its children, by dotted name."""
    found = {}
    for name, value in vars(module).items():
        if isinstance(value, np.random.Generator):
            found[prefix + name] = value
        elif isinstance(value, Module):
            found.update(collect_rngs(value, f"{prefix}{name}."))
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if isinstance(item, Module):
                    found.update(collect_rngs(item, f"{prefix}{name}.{i}."))
    return found


def split_arrays(arrays: dict, prefix: str) -> dict:
    """The arrays under ``prefix/``, with the prefix removed."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in arrays.items() if k.startswith(prefix + "/")}


def read_trainer_checkpoint(path) -> tuple[dict, dict]:
    """``load_checkpoint`` plus a check that the file is a trainer checkpoint."""
    arrays, meta = load_checkpoint(path)
    if meta.get("kind") != KIND or meta.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is not an rnnkit trainer checkpoint "
            f"(kind {meta.get('kind')!r}, version {meta.get('version')!r}; expected {KIND!r} v{VERSION})"
        )
    for key in ("model", "optimizer", "rngs", "position", "trainer", "extra"):
        if key not in meta:
            raise CheckpointError(f"checkpoint {str(path)!r} lacks meta[{key!r}]")
    return arrays, meta


def checkpoint_meta(path) -> dict:
    """The meta dict of a trainer checkpoint (model class/config, trainer counters, ``extra``).

    Read this before building a model to resume into, e.g. to get the saved vocabulary
    from ``checkpoint_meta(path)["extra"]``.
    """
    return read_trainer_checkpoint(path)[1]


def load_model(path, which: str = "best"):
    """Rebuild the model saved in a trainer checkpoint, in eval mode.

    Parameters
    ----------
    path : checkpoint file written by :class:`~rnnkit.training.Trainer`.
    which : 'best' (weights at the best validation loss; the last weights when the run
        was never validated) or 'last'.

    Returns
    -------
    model, meta : the model (class from ``rnnkit.models.MODELS``) and the checkpoint's
        meta dict (``meta["extra"]`` holds what the application stored).
    """
    from rnnkit.models import build_model

    if which not in ("best", "last"):
        raise ValueError(f"which must be 'best' or 'last', got {which!r}")
    arrays, meta = read_trainer_checkpoint(path)
    info = meta["model"]
    try:
        model = build_model(info["class"], info["config"])
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r}: cannot rebuild the model: {exc}") from exc
    weights = split_arrays(arrays, "best") if which == "best" else {}
    if not weights:
        weights = split_arrays(arrays, "model")
    check_arrays_match(weights, model.state_dict(), path=path, what="weights")
    model.load_state_dict(weights)
    model.eval()
    return model, meta
