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
             "rank_rngs": [{...} for every rank] (data-parallel runs only),
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

from rnnkit.checkpoint import (
    CheckpointError, check_arrays_match, check_compatible, load_checkpoint, rng_from_json,
    rng_state_to_json, save_checkpoint,
)
from rnnkit.errors import InputError
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
    for key, kind in (("model", dict), ("optimizer", dict), ("scheduler", (dict, type(None))),
                      ("rngs", dict), ("position", dict), ("trainer", dict), ("extra", dict)):
        if not isinstance(meta.get(key, ...), kind):
            raise CheckpointError(f"checkpoint {str(path)!r}: meta[{key!r}] is missing or malformed")
    if not isinstance(meta["model"].get("config"), dict) or not isinstance(meta["model"].get("class"), str):
        raise CheckpointError(f"checkpoint {str(path)!r}: meta['model'] lacks 'class' or 'config'")
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
    model, meta : the model (its class found by name with ``rnnkit.models.model_class``,
        whatever the caller imported) and the checkpoint's meta dict (``meta["extra"]``
        holds what the application stored).
    """
    from rnnkit.models import model_class

    if which not in ("best", "last"):
        raise InputError(f"which must be 'best' or 'last', got {which!r}")
    arrays, meta = read_trainer_checkpoint(path)
    info = meta["model"]
    try:
        cls = model_class(info["class"])
    except InputError as exc:
        raise CheckpointError(f"checkpoint {str(path)!r}: {exc}") from None
    try:
        model = cls(**info["config"])
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r}: cannot rebuild the model: {exc}") from exc
    weights = split_arrays(arrays, "best") if which == "best" else {}
    if not weights:
        weights = split_arrays(arrays, "model")
    check_arrays_match(weights, model.state_dict(), path=path, what="weights")
    model.load_state_dict(weights)
    model.eval()
    return model, meta


# --------------------------------------------------------------------------- trainer state


def _state_parts(state) -> list:
    if state is None:
        return []
    return list(state) if isinstance(state, tuple) else [state]


def model_info(model) -> dict:
    config = model.config() if callable(getattr(model, "config", None)) else {}
    return {"class": type(model).__name__, "config": config}


_OWN_CARRY = object()


def save_trainer_checkpoint(trainer, path, carry=_OWN_CARRY, rank_rngs=None) -> None:
    """Write ``trainer``'s complete state to ``path`` (atomically, see ``rnnkit.checkpoint``).

    A data-parallel run (:mod:`rnnkit.distributed`) passes the carried state of every
    stream (``carry``, gathered from the ranks) and every rank's generator states
    (``rank_rngs``, in rank order)."""
    carry = trainer.carry if carry is _OWN_CARRY else carry
    arrays = {f"model/{k}": v for k, v in trainer.model.state_dict().items()}
    if trainer.best_weights is not None:
        arrays.update({f"best/{k}": v for k, v in trainer.best_weights.items()})
    optim_state = trainer.optimizer.state_dict()
    arrays.update({f"optimizer/{k}": v for k, v in optim_state["arrays"].items()})
    parts = _state_parts(carry)
    arrays.update({f"carry/{i}": np.asarray(v) for i, v in enumerate(parts)})
    describe = getattr(trainer.train_data, "describe", None)
    meta = {
        "kind": KIND, "version": VERSION,
        "model": model_info(trainer.model),
        "optimizer": optim_state["meta"],
        "scheduler": None if trainer.scheduler is None else trainer.scheduler.state_dict(),
        "rngs": {name: rng_state_to_json(g) for name, g in collect_rngs(trainer.model).items()},
        "data": describe() if callable(describe) else None,
        "position": {"epoch": trainer.epoch, "index": trainer.batch_index},
        "carry": None if carry is None else {"parts": len(parts), "tuple": isinstance(carry, tuple)},
        "trainer": {"step": trainer.step, "tokens_seen": trainer.tokens_seen,
                    "elapsed_s": trainer.elapsed_s, "best_val_loss": trainer.best_val_loss,
                    "best_step": trainer.best_step, "bad_evals": trainer.bad_evals,
                    "last_eval_step": trainer.last_eval_step, "stop_reason": trainer.stop_reason},
        "extra": trainer.extra,
    }
    if rank_rngs is not None:
        meta["rank_rngs"] = rank_rngs
    save_checkpoint(path, arrays, meta)


def restore_trainer(trainer, path: str) -> dict:
    """Load ``path`` into ``trainer``: every check first, then every write. Returns the meta."""
    arrays, meta = read_trainer_checkpoint(path)
    try:
        plan = _check_restore(trainer, path, arrays, meta)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"checkpoint {path!r} has invalid trainer state: "
                              f"{type(exc).__name__}: {exc}") from exc
    try:   # the optimizer checks its whole state before writing any of it
        trainer.optimizer.load_state_dict({"meta": meta["optimizer"],
                                           "arrays": split_arrays(arrays, "optimizer")})
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path!r}: optimizer state does not fit: {exc}") from exc
    # -- nothing below can fail --
    trainer.model.load_state_dict(plan["weights"])
    for name, state in plan["rng_states"].items():
        plan["rngs"][name].bit_generator.state = state
    if trainer.scheduler is not None:
        trainer.scheduler.load_state_dict(meta["scheduler"])
    trainer.best_weights = plan["best"]
    trainer.carry = plan["carry"]
    for name, value in plan["counters"].items():
        setattr(trainer, name, value)
    trainer.extra = meta["extra"]
    return meta


def _check_restore(trainer, path, arrays, meta) -> dict:
    info, mine = meta["model"], model_info(trainer.model)
    if info["class"] != mine["class"]:
        raise CheckpointError(f"checkpoint {path!r} holds a {info['class']}, "
                              f"the model is a {mine['class']}")
    keys = sorted(k for k in set(mine["config"]) | set(info["config"]) if k != "seed")
    check_compatible(info["config"], mine["config"], keys, path=path)
    weights = split_arrays(arrays, "model")
    current = trainer.model.state_dict()
    check_arrays_match(weights, current, path=path, what="weights")
    best = split_arrays(arrays, "best") or None
    if best is not None:
        check_arrays_match(best, current, path=path, what="best weights")
    rngs = collect_rngs(trainer.model)
    if sorted(meta["rngs"]) != sorted(rngs):
        raise CheckpointError(f"checkpoint {path!r} has random generators {sorted(meta['rngs'])}, "
                              f"the model has {sorted(rngs)}")
    rng_states = {name: rng_from_json(state).bit_generator.state
                  for name, state in meta["rngs"].items()}
    describe = getattr(trainer.train_data, "describe", None)
    data_now = describe() if callable(describe) else None
    if meta.get("data") is not None and data_now is not None and meta["data"] != data_now:
        raise CheckpointError(f"checkpoint {path!r} was trained on different data "
                              f"({meta['data']}); this trainer has {data_now}")
    if (meta["scheduler"] is None) != (trainer.scheduler is None):
        saved = "without" if meta["scheduler"] is None else "with"
        now = "with" if trainer.scheduler is not None else "without"
        raise CheckpointError(f"checkpoint {path!r} was saved {saved} an LR schedule; "
                              f"this trainer is set up {now} one")
    position, counters = meta["position"], meta["trainer"]
    epoch, index, step = int(position["epoch"]), int(position["index"]), int(counters["step"])
    if not 0 <= index < trainer.train_data.num_batches or epoch < 0 or step < 0:
        raise CheckpointError(f"checkpoint {path!r}: position {position} (step {step}) is "
                              f"outside the training data ({trainer.train_data.num_batches} batches)")
    return {
        "weights": weights, "best": best, "rngs": rngs, "rng_states": rng_states,
        "carry": _check_carry(trainer, path, arrays, meta.get("carry")),
        "counters": {"epoch": epoch, "batch_index": index, "step": step,
                     "tokens_seen": int(counters.get("tokens_seen", 0)),
                     "elapsed_s": float(counters.get("elapsed_s", 0.0)),
                     "best_val_loss": counters.get("best_val_loss"),
                     "best_step": counters.get("best_step"),
                     "bad_evals": int(counters.get("bad_evals", 0)),
                     "last_eval_step": counters.get("last_eval_step")},
    }


def _check_carry(trainer, path, arrays, info):
    stored = split_arrays(arrays, "carry")
    parts = [stored[str(i)] for i in range(len(stored)) if str(i) in stored]
    if info is None:
        if stored:
            raise CheckpointError(f"checkpoint {path!r} has carried state but no carry meta")
        return None
    if len(parts) != len(stored) or len(parts) != info["parts"]:
        raise CheckpointError(f"checkpoint {path!r}: carried state has {len(stored)} parts, "
                              f"meta says {info['parts']}")
    if callable(getattr(trainer.model, "init_state", None)):
        expected = _state_parts(trainer.model.init_state(trainer.train_data.batch_size))
        if [(p.shape, p.dtype) for p in parts] != [(e.shape, e.dtype) for e in expected]:
            raise CheckpointError(
                f"checkpoint {path!r}: carried state {[p.shape for p in parts]} does not fit "
                f"the model ({[e.shape for e in expected]})")
    return tuple(parts) if info["tuple"] else parts[0]
