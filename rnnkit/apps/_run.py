"""A run directory: what every application's ``train``, ``eval`` and ``predict`` share.

``rnnkit <app> train --out DIR`` writes ``DIR/checkpoint.npz`` (the trainer checkpoint,
whose ``extra["app"]`` names the app), ``metrics.jsonl``, ``loss_curve.png`` and the
app's own reports. The rules, the same for every app:

* ``train`` refuses a directory that already holds a model (exit 2, nothing touched)
  unless ``--resume`` (continue it: same app, same setup) or ``--overwrite`` (replace
  it: the files a run writes are removed first, nothing else in the directory);
* ``--resume`` restores every saved option not given again; an option a resume cannot
  change is refused, naming the flag and the saved value;
* ``eval`` / ``predict`` take the directory or its ``checkpoint.npz``, and a model of
  another app is refused with the name of the app that trained it.
"""

from __future__ import annotations

import os
from pathlib import Path

from rnnkit.errors import InputError, MissingFileError

CHECKPOINT = "checkpoint.npz"
RUN_FILES = (CHECKPOINT, "metrics.jsonl", "loss_curve.png")


def checkpoint_path(model, app: str) -> Path:
    """``model`` is a training output directory or its checkpoint file."""
    path = Path(model)
    if path.is_dir():
        path = path / CHECKPOINT
        if not path.is_file():
            raise MissingFileError(
                f"{str(model)!r} holds no {CHECKPOINT}; it is not a trained model (train one "
                f"with `rnnkit {app} train --out {model}`)")
    elif not path.exists():
        raise MissingFileError(f"no model at {str(model)!r}: give the --out directory of "
                               f"`rnnkit {app} train` or its {CHECKPOINT}")
    return path


def app_of(meta: dict) -> str | None:
    """The app that wrote a checkpoint (forecast keeps it under ``extra["info"]``)."""
    extra = meta.get("extra") or {}
    return extra.get("app") or (extra.get("info") or {}).get("app")


def read_meta(model, app: str) -> tuple[Path, dict]:
    """``(checkpoint path, meta)`` of a model ``app`` trained; clear errors otherwise."""
    from rnnkit.training import checkpoint_meta

    path = checkpoint_path(model, app)
    meta = checkpoint_meta(path)
    owner = app_of(meta)
    if owner != app:
        if owner is None:
            raise InputError(f"{str(path)!r} is an rnnkit checkpoint but not from "
                             f"`rnnkit {app} train`")
        raise InputError(f"{str(path)!r} was trained by `rnnkit {owner}`, not `rnnkit {app}`; "
                         f"use `rnnkit {owner}` with it")
    return path, meta


def prepare_out(out_dir, app: str, *, resume: bool = False, overwrite: bool = False) -> Path:
    """Check ``out_dir`` before a training run touches it; returns it as a Path.

    A directory holding a model is refused unless ``resume`` (it must be a model of
    ``app``) or ``overwrite`` (then call :func:`remove_run_files` once the run's input
    has been read and checked, right before training starts).
    """
    if out_dir is None or str(out_dir) == "":
        raise InputError("--out is required: the directory for the model and its logs")
    if resume and overwrite:
        raise InputError("give --resume (continue the model in --out) or --overwrite "
                         "(replace it), not both")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {str(out_dir)!r} is a file; give a directory")
    existing = out / CHECKPOINT
    if resume:
        if not existing.exists():
            raise MissingFileError(f"nothing to resume: {str(out_dir)!r} holds no {CHECKPOINT}")
        read_meta(out, app)
    elif existing.exists():
        if not overwrite:
            from rnnkit.training import checkpoint_meta
            owner = app_of(checkpoint_meta(existing)) or "another program"
            raise InputError(
                f"{str(out_dir)!r} already holds a model (trained by `rnnkit {owner}`); add "
                f"--resume to continue it, --overwrite to replace it, or choose another --out")
    return out


def remove_run_files(out_dir, app_files: tuple = ()) -> None:
    """Delete what an earlier run wrote to ``out_dir`` (``--overwrite``); nothing else.
    Under mpirun, rank 0 alone (it alone writes files)."""
    from rnnkit.distributed import is_writer

    if not is_writer():
        return
    for name in RUN_FILES + tuple(app_files):
        (Path(out_dir) / name).unlink(missing_ok=True)


def resume_settings(saved: dict, given: dict, may_change, log) -> dict:
    """Settings of a resumed run: the saved ones, updated by those given (not None).

    A saved setting not in ``may_change`` cannot change on resume: a different value is
    refused, naming its flag (``hidden_size`` -> ``--hidden-size``) and the saved value.
    The settings that do change are reported through ``log``:
    ``resuming with clip 5.0 -> 1.0, max_steps 2 -> 3``.
    """
    conflicts = [f"--{name.replace('_', '-')} {given[name]!r} (the run used {value!r})"
                 for name, value in saved.items()
                 if name not in may_change and given.get(name) is not None and given[name] != value]
    if conflicts:
        raise InputError("a resumed run keeps its setup; cannot change " + "; ".join(conflicts))
    changed = [name for name, value in given.items()
               if value is not None and name in saved and saved[name] != value]
    if changed:
        log("resuming with " + ", ".join(f"{k} {saved[k]!r} -> {given[k]!r}" for k in changed))
    return dict(saved, **{k: v for k, v in given.items() if v is not None})


def check_resumed_source(out_dir, saved_source, source) -> None:
    """A resumed run trains on the data it started on."""
    if source != saved_source:
        raise InputError(f"a resumed run keeps its data: {str(out_dir)!r} was trained on "
                         f"{saved_source}, not {source}")


def write_text_atomic(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`rnnkit.checkpoint.atomic_write`)."""
    from rnnkit.checkpoint import atomic_write

    atomic_write(os.fspath(path), lambda f: f.write(text.encode("utf-8")))


def trained_line(summary: dict) -> str:
    """What ``train`` prints of the trainer's summary: steps, epochs, why it stopped and,
    when there was a validation split, the best validation loss."""
    line = f"trained {summary['step']} steps ({summary['epoch']} epochs, {summary['stop_reason']})"
    if summary.get("best_val_loss") is None:
        return line + "; no validation split"
    return line + (f"; best validation loss {summary['best_val_loss']:.4f} at step "
                   f"{summary['best_step']}")
