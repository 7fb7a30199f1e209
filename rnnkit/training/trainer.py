"""The training loop: steps, clipping, schedule, validation, early stopping, checkpoints.

One step, in the order the code runs it::

    batch        = train_data.batch(epoch, index)              # stateless loader
    state        = None if index == 0 else carried state       # TBPTT: reset per epoch
    loss, state' = objective.train_step(model, batch, state)   # forward + backward
    norm         = clip_grad_norm(params, clip)                 # optional; refuses NaN/inf
    optimizer.step(); scheduler.step()
    carry        = state'                                       # cut from the graph
    every eval_every steps (default: every epoch end) and on the last step: validate,
        track the best weights, count evaluations without improvement (early stopping)
    every log_every steps: append a record to metrics.jsonl
    every checkpoint_every steps and at the end: write checkpoint.npz atomically

Files in ``out_dir``: ``checkpoint.npz`` (see :mod:`rnnkit.training.checkpointing`),
``metrics.jsonl`` and ``loss_curve.png``.

Ctrl-C (SIGINT) during :meth:`Trainer.fit` finishes the current step, writes the
checkpoint and raises :class:`TrainingInterrupted` (a ``KeyboardInterrupt`` that
knows where the checkpoint is); ``fit(resume=True)`` continues from it. A second
Ctrl-C stops at once.

Determinism: given the model's seed and the loaders' seeds, two runs make
bit-identical weights, and a run resumed from a checkpoint (even after SIGKILL
between checkpoints) continues exactly as if it had never stopped — the
``max_minutes`` limit is the only thing that depends on the clock.

Under ``mpirun -n R`` (:mod:`rnnkit.distributed`) the same trainer trains data-parallel
without a change to the calling code: each rank takes its share of every batch, the
gradients are averaged over the ranks before clipping and the optimizer step, validation
sums are added up, the stop conditions (``max_minutes``, Ctrl-C) are agreed at every step,
and rank 0 alone writes the files and shows the progress bar.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time

import numpy as np

from rnnkit import distributed
from rnnkit._validation import check_scalar
from rnnkit.errors import InputError, InputTypeError, TrainingDiverged
from rnnkit.module import Module
from rnnkit.optim import Optimizer, Scheduler, clip_grad_norm
from rnnkit.checkpoint import rng_from_json, rng_state_to_json
from rnnkit.training.checkpointing import (
    collect_rngs, model_info, restore_trainer, save_trainer_checkpoint,
)
from rnnkit.training.objectives import default_objective
from rnnkit.training.progress import ProgressBar, append_jsonl, progress_enabled, read_jsonl, truncate_jsonl

CHECKPOINT_FILE = "checkpoint.npz"
METRICS_FILE = "metrics.jsonl"
PLOT_FILE = "loss_curve.png"


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped :meth:`Trainer.fit` after a whole step; ``checkpoint`` is the file
    it wrote (None without ``out_dir``) and ``step`` the last step it holds."""

    def __init__(self, step: int, checkpoint):
        self.step, self.checkpoint = step, checkpoint
        where = f"; checkpoint saved to {checkpoint}" if checkpoint else ""
        super().__init__(f"interrupted at step {step}{where}")


@contextlib.contextmanager
def _sigint_finishes_the_step(trainer):
    """While training, the first SIGINT only sets ``trainer._interrupted``; a second one
    raises KeyboardInterrupt at once. (Signal handlers exist in the main thread only.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if trainer._interrupted:
            raise KeyboardInterrupt
        trainer._interrupted = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _optional_int(value, name):
    return check_scalar(value, name, int, low=1, none_ok=True)


def _optional_positive(value, name):
    return check_scalar(value, name, float, low=0.0, include_low=False, none_ok=True)


def _check_loader(data, name):
    if data is None:
        return None
    if not callable(getattr(data, "batch", None)) or not isinstance(getattr(data, "num_batches", None), int):
        raise InputTypeError(f"{name} must be a loader with batch(epoch, index) and num_batches "
                             f"(TokenStream, SequenceBatches), got {type(data).__name__}")
    return data


class _Window:
    """Train loss and throughput since the last logged record."""

    def __init__(self):
        self.loss, self.steps, self.tokens = 0.0, 0, 0
        self.t0 = time.perf_counter()

    def add(self, loss: float, tokens: int) -> None:
        self.loss += loss
        self.steps += 1
        self.tokens += tokens

    def mean_loss(self) -> float:
        return self.loss / self.steps

    def tokens_per_s(self):
        seconds = time.perf_counter() - self.t0
        return self.tokens / seconds if seconds > 0 else None


class Trainer:
    """Runs training for a model, an optimizer and a loader.

    Parameters
    ----------
    model : Module
        With ``forward``/``backward`` as the objective expects; ``config()`` (as the
        models in ``rnnkit.models``) makes its checkpoints rebuildable by ``load_model``.
    optimizer : rnnkit.optim.Optimizer
        Over ``model.parameters()``.
    train_data, val_data : TokenStream or SequenceBatches (val_data optional)
    objective : optional
        Default: ``LanguageModeling()`` for token streams, ``Supervised()`` (cross-entropy)
        for sequence batches; ``Supervised(MSELoss())`` for regression.
    schedule : callable ``lr_at(step)`` (``WarmupCosine(...)``) or a ``Scheduler``, optional
    clip_grad_norm : float, optional
        Clip the global gradient norm to this value every step.
    max_steps, max_epochs, max_minutes : stop conditions (at least one). Steps and epochs
        count the whole run, including steps before a resume; minutes count this call.
    eval_every : int, optional
        Validate every N steps; default: at the end of every epoch.
    eval_batches : int, optional
        Validate on the first N batches only.
    patience : int, optional
        Stop after this many validations without improving the best loss by ``min_delta``.
    out_dir : path, optional
        Where checkpoint.npz, metrics.jsonl and loss_curve.png go (created if missing).
    checkpoint_every : int, optional
        Also checkpoint every N steps (always at the end when ``out_dir`` is set).
    log_every : int
        Append a metrics record every N steps (and at every validation).
    progress : None (auto: only on a TTY without CI), True or False
    extra : dict, optional
        JSON-native application data saved in every checkpoint (e.g. the vocabulary).
    on_step : callable ``on_step(trainer, record)``, optional
        Called after every step with that step's metrics record.
    """

    def __init__(self, model, optimizer, train_data, val_data=None, *, objective=None,
                 schedule=None, clip_grad_norm=None, max_steps=None, max_epochs=None,
                 max_minutes=None, eval_every=None, eval_batches=None, patience=None,
                 min_delta=0.0, out_dir=None, checkpoint_every=None, log_every=10,
                 progress=None, extra=None, on_step=None):
        if not isinstance(model, Module):
            raise InputTypeError(f"model must be an rnnkit Module, got {type(model).__name__}")
        if not isinstance(optimizer, Optimizer):
            raise InputTypeError(f"optimizer must be an rnnkit.optim optimizer, got {type(optimizer).__name__}")
        self.model = model
        self.optimizer = optimizer
        self.train_data = _check_loader(train_data, "train_data")
        if self.train_data is None:
            raise InputTypeError("train_data is required")
        self.val_data = _check_loader(val_data, "val_data")
        self.objective = default_objective(self.train_data) if objective is None else objective
        if schedule is None or isinstance(schedule, Scheduler):
            self.scheduler = schedule
        else:
            self.scheduler = Scheduler(optimizer, schedule)
        if self.scheduler is not None and self.scheduler.optimizer is not optimizer:
            raise InputError("schedule is a Scheduler for a different optimizer")
        self.clip = _optional_positive(clip_grad_norm, "clip_grad_norm")
        self.max_steps = _optional_int(max_steps, "max_steps")
        self.max_epochs = _optional_int(max_epochs, "max_epochs")
        self.max_minutes = _optional_positive(max_minutes, "max_minutes")
        if self.max_steps is None and self.max_epochs is None and self.max_minutes is None:
            raise InputError("give at least one of max_steps, max_epochs and max_minutes")
        self.eval_every = _optional_int(eval_every, "eval_every")
        self.eval_batches = _optional_int(eval_batches, "eval_batches")
        self.patience = _optional_int(patience, "patience")
        self.min_delta = check_scalar(min_delta, "min_delta", float, low=0.0)
        if self.patience is not None and self.val_data is None:
            raise InputError("patience (early stopping) needs val_data to validate on")
        self.out_dir = None if out_dir is None else os.fspath(out_dir)
        self.checkpoint_every = _optional_int(checkpoint_every, "checkpoint_every")
        self.log_every = _optional_int(log_every, "log_every") or 1
        self.progress = progress
        if extra is not None and not isinstance(extra, dict):
            raise InputTypeError(f"extra must be a dict of JSON-native values, got {type(extra).__name__}")
        self.extra = {} if extra is None else extra
        if on_step is not None and not callable(on_step):
            raise InputTypeError("on_step must be callable as on_step(trainer, record)")
        self.on_step = on_step
        self.params = model.parameters()
        # progress of the run; everything here goes into the checkpoint
        self.step = 0
        self.epoch = 0
        self.batch_index = 0
        self.carry = None
        self.tokens_seen = 0
        self.elapsed_s = 0.0            # training wall time over all sessions of this run
        self.best_val_loss = None
        self.best_step = None
        self.best_weights = None
        self.bad_evals = 0
        self.last_eval_step = None
        self.stop_reason = None
        self.history: list[dict] = []   # metrics records of this session
        # data parallelism (rnnkit.distributed): a single process unless started by mpirun
        self.world = distributed.world()
        self._writer = self.world.rank == 0
        self._shard = self._reducer = None
        self._agreed = {"interrupted": False, "time_up": False}

    # -- paths -------------------------------------------------------------------
    def _path(self, name):
        return None if self.out_dir is None else os.path.join(self.out_dir, name)

    @property
    def checkpoint_path(self):
        return self._path(CHECKPOINT_FILE)

    @property
    def metrics_path(self):
        return self._path(METRICS_FILE)

    @property
    def plot_path(self):
        return self._path(PLOT_FILE)

    # -- the loop ------------------------------------------------------------------
    def fit(self, resume: bool = False) -> dict:
        """Train until a stop condition; returns a summary dict.

        ``resume=True`` first restores ``out_dir/checkpoint.npz`` (see :meth:`restore`).
        The summary has ``step``, ``epoch``, ``stop_reason`` ('max_steps', 'max_epochs',
        'max_minutes', 'early_stopping'), ``best_val_loss``, ``best_step``,
        ``elapsed_s``, ``last`` (the final metrics record) and the paths written.
        """
        writer = self._writer
        if self.out_dir is not None and writer:
            os.makedirs(self.out_dir, exist_ok=True)
        if self.world.active:
            self._start_data_parallel(resume)
        if resume:
            if self.out_dir is None:
                raise InputError("resume=True needs out_dir (where checkpoint.npz is)")
            self.restore(self.checkpoint_path)
            if writer:
                truncate_jsonl(self.metrics_path, self.step)
        elif (writer and self.metrics_path is not None and self.step == 0
              and os.path.exists(self.metrics_path)):
            truncate_jsonl(self.metrics_path, 0)       # a fresh run starts a fresh log
        self.stop_reason = None
        self._interrupted = False
        self._agreed = {"interrupted": False, "time_up": False}
        self.history = []
        start = self._start = time.perf_counter()
        elapsed_before = self.elapsed_s
        bar = ProgressBar(writer and progress_enabled(self.progress), total=self._total_steps(),
                          initial=self.step)
        window = _Window()
        try:
            with _sigint_finishes_the_step(self), self._stop_every_rank_on_error():
                while not self._stop_condition(start):
                    loss, norm, lr = self._train_step()
                    window.add(loss, self._last_tokens)
                    self.elapsed_s = elapsed_before + time.perf_counter() - start
                    tokens_per_s = window.tokens_per_s()        # before validation: training speed
                    stopping = self._stop_condition(start)
                    val = None
                    due = self.step % self.eval_every == 0 if self.eval_every else self.batch_index == 0
                    if self.val_data is not None and (due or stopping):
                        val = self._validate()                  # the last step is always validated
                    if self.patience is not None and self.bad_evals >= self.patience:
                        self.stop_reason = self.stop_reason or "early_stopping"
                    record = self._record(window, tokens_per_s, lr, norm, val)
                    if val is not None or self.step % self.log_every == 0:
                        self._log(record)
                        window = _Window()
                    bar.update(loss, tokens_per_s)
                    if self.checkpoint_every and self.step % self.checkpoint_every == 0 and self.out_dir:
                        self.save_checkpoint()
                    if self.on_step is not None:
                        self.on_step(self, record)
                    if self._interrupt_agreed():
                        self.stop_reason = "interrupted"
        finally:
            bar.close()
        if self.best_weights is None and self.val_data is None:
            self.best_step = self.step
        if self.out_dir is not None:
            with self._stop_every_rank_on_error():     # the others wait at the checkpoint
                self.save_checkpoint()
                if writer:
                    self.write_plot()
        if self.stop_reason == "interrupted":
            raise TrainingInterrupted(self.step, self.checkpoint_path)
        return {"step": self.step, "epoch": self.epoch, "stop_reason": self.stop_reason,
                "best_val_loss": self.best_val_loss, "best_step": self.best_step,
                "elapsed_s": self.elapsed_s, "tokens_seen": self.tokens_seen,
                "last": self.history[-1] if self.history else None,
                "checkpoint": self.checkpoint_path, "metrics": self.metrics_path,
                "plot": self.plot_path if self.plot_path and os.path.exists(self.plot_path) else None}

    def _total_steps(self):
        totals = [self.max_steps] if self.max_steps else []
        if self.max_epochs:
            totals.append(self.max_epochs * self.train_data.num_batches)
        return min(totals) if totals else None

    def _stop_condition(self, start) -> bool:
        if self.stop_reason is not None:
            return True
        if self.max_steps is not None and self.step >= self.max_steps:
            self.stop_reason = "max_steps"
        elif self.max_epochs is not None and self.epoch >= self.max_epochs:
            self.stop_reason = "max_epochs"
        elif self.max_minutes is not None and self._time_is_up(start):
            self.stop_reason = "max_minutes"
        elif self.patience is not None and self.bad_evals >= self.patience:
            self.stop_reason = "early_stopping"
        return self.stop_reason is not None

    def _time_is_up(self, start) -> bool:
        if self.world.active:                 # every rank stops after the same step
            return self._agreed["time_up"]
        return self._clock_is_up(start)

    def _clock_is_up(self, start) -> bool:
        """This process's own clock has run ``max_minutes`` since ``start``."""
        return self.max_minutes is not None and time.perf_counter() - start >= 60 * self.max_minutes

    def _interrupt_agreed(self) -> bool:
        return self._agreed["interrupted"] if self.world.active else self._interrupted

    def _train_step(self):
        batch = self.train_data.batch(self.epoch, self.batch_index)
        carries = getattr(self.objective, "carries_state", False)
        state = self.carry if carries and self.batch_index > 0 else None
        self.model.train()
        self.model.zero_grad()
        if self.world.active:
            loss, new_state = self._data_parallel_step(batch, state)
        else:
            loss, new_state = self.objective.train_step(self.model, batch, state)
        if not math.isfinite(loss):
            raise TrainingDiverged(f"training loss is {loss} at step {self.step + 1}; "
                                     f"lower the learning rate or set clip_grad_norm")
        norm = None
        if self.clip is not None:
            norm = clip_grad_norm(self.params, self.clip)
            if not math.isfinite(norm):
                raise TrainingDiverged(f"gradient norm is {norm} at step {self.step + 1}; "
                                         f"lower the learning rate")
        lr = self.optimizer.lr
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.carry = new_state if carries else None
        self.step += 1
        self.tokens_seen += batch.num_tokens
        self._last_tokens = batch.num_tokens
        self.batch_index += 1
        if self.batch_index == self.train_data.num_batches:
            self.epoch += 1
            self.batch_index = 0
            self.carry = None
        return loss, norm, lr

    # -- data parallelism (rnnkit.distributed) ------------------------------------------
    def _setup(self, resume) -> dict:
        """What every rank must agree on before training one model together."""
        describe = lambda data: getattr(data, "describe", lambda: type(data).__name__)()  # noqa: E731
        return {"model": model_info(self.model),
                "parameters": {name: f"{p.data.shape} {p.data.dtype.name}"
                               for name, p in self.model.named_parameters()},
                "optimizer": {"type": type(self.optimizer).__name__,
                              **self.optimizer.state_dict()["meta"]},
                "objective": type(self.objective).__name__,
                "train_data": describe(self.train_data),
                "val_data": None if self.val_data is None else describe(self.val_data),
                "schedule": self.scheduler is not None, "clip_grad_norm": self.clip,
                "max_steps": self.max_steps, "max_epochs": self.max_epochs,
                "eval_every": self.eval_every, "eval_batches": self.eval_batches,
                "patience": self.patience, "checkpoint_every": self.checkpoint_every,
                "resume": bool(resume)}

    def _start_data_parallel(self, resume) -> None:
        world = self.world
        if getattr(self.objective, "carries_state", False) and self.train_data.batch_size < world.size:
            raise InputError(f"{world.size} ranks need at least {world.size} token streams, "
                             f"got batch_size={self.train_data.batch_size}")
        distributed.check_same_setup(world, self._setup(resume))
        self._shard = distributed.Shard(self.train_data, world.rank, world.size)
        self._reducer = distributed.GradientReducer(world, self.params)
        if not resume:                        # a resumed run reads the same checkpoint
            distributed.broadcast_parameters(world, self.params)
            distributed.reseed_for_rank(world, collect_rngs(self.model))

    def _data_parallel_step(self, batch, state):
        """This rank's share of ``batch``, forward + backward, then the gradients and the
        loss averaged over every rank (weighted by how many items each averaged over)."""
        part = self._shard.cut(batch)
        if part is None:                      # a last batch with fewer examples than ranks
            loss, new_state, weight = 0.0, None, 0
        else:
            loss, new_state = self.objective.train_step(self.model, part, state)
            weight = distributed.batch_weight(self.objective, self.model, part)
        sums = self._reducer.reduce(weight, np.array(
            [loss * weight, weight, float(self._interrupted), float(self._clock_is_up(self._start))]))
        self._agreed = {"interrupted": sums[2] > 0, "time_up": sums[3] > 0}
        return (sums[0] / sums[1] if sums[1] > 0 else 0.0), new_state

    @contextlib.contextmanager
    def _stop_every_rank_on_error(self):
        """An error on one rank only (anything but the agreed TrainingDiverged) would leave
        the others waiting in an all-reduce: print it and end the whole job. A plain run
        lets every error through as it is."""
        if not self.world.active:
            yield
            return
        try:
            yield
        except (TrainingDiverged, TrainingInterrupted):
            raise
        except BaseException as exc:          # noqa: BLE001 - the job must not hang
            import traceback

            detail = "".join(traceback.format_exception(exc)).rstrip()
            distributed.abort(self.world, 1, f"rnnkit: training stopped on every rank: {detail}")

    # -- validation and best weights -----------------------------------------------
    def evaluate(self, data=None) -> dict:
        """Metrics of the current weights on ``data`` (default: val_data), in eval mode.

        In a data-parallel run every rank evaluates its share and the sums are added up
        (objectives without ``evaluate_sums``: every rank evaluates all of ``data``)."""
        data = self.val_data if data is None else _check_loader(data, "data")
        if data is None:
            raise InputError("no data to evaluate: pass data or give the Trainer val_data")
        was_training = self.model.training
        self.model.eval()
        try:
            if self.world.active and callable(getattr(self.objective, "evaluate_sums", None)):
                return self._evaluate_shared(data)
            return self.objective.evaluate(self.model, data, self.eval_batches)
        finally:
            self.model.train(was_training)

    def _evaluate_shared(self, data) -> dict:
        shard = distributed.Shard(data, self.world.rank, self.world.size)
        sums = self.objective.evaluate_sums(self.model, shard, self.eval_batches)
        keys = sorted(sums)
        total = self.world.allreduce_sum(np.array([float(sums[k]) for k in keys]))
        return self.objective.metrics(dict(zip(keys, total.tolist())))

    def _validate(self) -> dict:
        metrics = self.evaluate()
        self.last_eval_step = self.step
        loss = metrics["loss"]
        if self.best_val_loss is None or loss < self.best_val_loss - self.min_delta:
            self.best_val_loss, self.best_step = loss, self.step
            self.best_weights = self.model.state_dict()
            self.bad_evals = 0
        else:
            self.bad_evals += 1
        return metrics

    def best_state_dict(self) -> dict:
        """Weights at the best validation loss (the current weights if never validated)."""
        return {k: v.copy() for k, v in (self.best_weights or self.model.state_dict()).items()}

    # -- metrics log ---------------------------------------------------------------
    def _base_record(self, lr) -> dict:
        num = self.train_data.num_batches
        return {"step": self.step, "epoch": round(self.epoch + self.batch_index / num, 6),
                "lr": float(lr), "elapsed_s": round(self.elapsed_s, 3),
                "tokens_seen": self.tokens_seen}

    def _val_fields(self, val) -> dict:
        fields = {f"val_{k}": v for k, v in val.items()}
        fields["best_val_loss"] = self.best_val_loss
        fields["best_step"] = self.best_step
        return fields

    def _record(self, window, tokens_per_s, lr, norm, val) -> dict:
        record = self._base_record(lr)
        record["train_loss"] = window.mean_loss()
        record["tokens_per_s"] = tokens_per_s
        if norm is not None:
            record["grad_norm"] = norm
        if val is not None:
            record.update(self._val_fields(val))
        return record

    def _log(self, record) -> None:
        self.history.append(record)
        if self.metrics_path is not None and self._writer:
            append_jsonl(self.metrics_path, record)

    def write_plot(self):
        """Draw ``loss_curve.png`` from metrics.jsonl; returns its path or None."""
        from rnnkit.training.plot import plot_loss_curve

        if self.out_dir is None:
            return None
        return plot_loss_curve(read_jsonl(self.metrics_path), self.plot_path)

    # -- checkpoints -----------------------------------------------------------------
    def save_checkpoint(self, path=None) -> str:
        """Write everything needed to resume (atomically) to ``path``
        (default ``out_dir/checkpoint.npz``); returns the path."""
        path = self.checkpoint_path if path is None else os.fspath(path)
        if path is None:
            raise InputError("no checkpoint path: give path or set the Trainer's out_dir")
        if not self.world.active:
            save_trainer_checkpoint(self, path)
            return path
        # data-parallel: every rank's streams and generators go into rank 0's file
        rngs = {name: rng_state_to_json(g) for name, g in collect_rngs(self.model).items()}
        gathered = self.world.gather((self.carry, rngs))
        if self._writer:
            carry = distributed.join_states([c for c, _ in gathered],
                                            distributed.state_batch_axis(self.model))
            save_trainer_checkpoint(self, path, carry=carry, rank_rngs=[r for _, r in gathered])
        self.world.barrier()                  # every rank may read the file once this returns
        return path

    def restore(self, path) -> None:
        """Load a checkpoint written by :meth:`save_checkpoint` into this trainer.

        The model must have the same class and config (the seed aside), the optimizer the
        same type, the training data the same content and the LR schedule the same
        presence. Everything is checked before anything is changed: a damaged or
        mismatching checkpoint raises ``CheckpointError`` and leaves model, optimizer and
        trainer as they were.
        """
        meta = restore_trainer(self, os.fspath(path))
        if self.world.active:                 # this rank's streams and dropout generators
            lo, hi = distributed.shard_range(self.train_data.batch_size, self.world.rank,
                                             self.world.size)
            self.carry = distributed.slice_state(self.carry, lo, hi,
                                                 distributed.state_batch_axis(self.model))
            rank_rngs = meta.get("rank_rngs") or []
            rngs = collect_rngs(self.model)
            if len(rank_rngs) == self.world.size and sorted(rank_rngs[self.world.rank]) == sorted(rngs):
                for name, state in rank_rngs[self.world.rank].items():
                    rngs[name].bit_generator.state = rng_from_json(state).bit_generator.state
            else:                             # saved by a run with another number of ranks
                distributed.reseed_for_rank(self.world, rngs)
