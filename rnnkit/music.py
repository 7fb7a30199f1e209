"""Polyphonic music: train a piano-roll model, measure its likelihood, sample new pieces.

A :class:`MusicModel` is a trained :class:`rnnkit.models.PianoRollModel` with its settings.
Pieces are piano rolls ``(T, P)`` of 0/1 (:mod:`rnnkit.data.music`: one row per time step,
``P = 88`` pitches from MIDI 21).

The score, as the literature reports it (Boulanger-Lewandowski et al. 2012; Chung et al.
2014), is the frame-level negative log-likelihood per time step (:func:`nll_per_step`),
in nats, over a set of pieces ``n = 1..N`` of ``T_n`` steps::

    NLL = sum_n sum_{t < T_n} -log p(v_t^n | v_<t^n) / sum_n T_n

each step's term summed over its pitches (exact for both outputs: independent Bernoulli
pitches, or the NADE's product of conditionals); every step counts, the first predicted
from silence. Averaging over all steps of the set (not per piece first) weighs long and
short pieces by their length.

Training (:func:`train_music`): ``SequenceBatches`` of whole pieces, the model's own loss
(the mean NLL per step of a batch) through the Trainer's ``ModelLoss``, Adam, gradient
clipping, validation NLL per step every epoch, early stopping, the best weights kept.
Optionally (``transpose``) each training piece is shifted by a random number of semitones
in ``[-transpose, transpose]`` every epoch (where the shifted piece still fits the 88
keys), so the model hears every chorale in other keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit._validation import check_scalar
from rnnkit.errors import InputError, InputTypeError


@dataclass
class MusicConfig:
    """Model and optimisation settings of a piano-roll model (the command's flags)."""

    cell: str = "gru"                   # a name in rnnkit.CELLS
    hidden_size: int = 256
    num_layers: int = 1
    output: str = "nade"                # "bernoulli" or "nade"
    nade_hidden: int = 150
    dropout: float = 0.3
    input_dropout: float = 0.0          # notes of the input roll hidden while training
    weight_drop: float = 0.0            # DropConnect on the recurrent weights while training
    transpose: int = 0                  # random shifts in [-transpose, transpose] semitones
    batch_size: int = 16
    lr: float = 1e-3
    clip: float = 5.0
    epochs: int = 300
    patience: int | None = 20
    max_minutes: float | None = None
    seed: int = 0


def check_config(config: MusicConfig) -> MusicConfig:
    """Refuse settings no model can be built with, before any data is read."""
    from rnnkit.layers.registry import CELLS
    from rnnkit.models.piano_roll import OUTPUTS

    if not isinstance(config, MusicConfig):
        raise InputTypeError(f"config must be a MusicConfig, got {type(config).__name__}")
    if config.cell not in CELLS:
        raise InputError(f"cell must be one of {tuple(CELLS)}, got {config.cell!r}")
    if config.output not in OUTPUTS:
        raise InputError(f"output must be one of {OUTPUTS}, got {config.output!r}")
    for name in ("hidden_size", "num_layers", "nade_hidden", "batch_size", "epochs"):
        check_scalar(getattr(config, name), name, int, low=1)
    for name in ("transpose", "seed"):
        check_scalar(getattr(config, name), name, int, low=0)
    for name in ("dropout", "input_dropout", "weight_drop"):
        check_scalar(getattr(config, name), name, float, low=0.0, high=1.0, include_high=False)
    check_scalar(config.lr, "lr", float, low=0.0, include_low=False)
    check_scalar(config.clip, "clip", float, low=0.0, include_low=False)
    check_scalar(config.patience, "patience", int, low=1, none_ok=True)
    check_scalar(config.max_minutes, "max_minutes", float, low=0.0, include_low=False, none_ok=True)
    return config


def build_model(config: MusicConfig, num_pitches: int):
    """The :class:`rnnkit.models.PianoRollModel` for ``config``."""
    from rnnkit.models.piano_roll import PianoRollModel

    check_config(config)
    return PianoRollModel(num_pitches, hidden_size=config.hidden_size,
                          num_layers=config.num_layers, cell=config.cell, output=config.output,
                          nade_hidden=config.nade_hidden, dropout=config.dropout,
                          input_dropout=config.input_dropout, weight_drop=config.weight_drop,
                          seed=config.seed)


def count_of(n: int, noun: str) -> str:
    """``"1 piece"``, ``"3 pieces"``: ``n`` and ``noun``, plural unless ``n`` is 1."""
    return f"{n} {noun}{'s' * (n != 1)}"


def check_rolls(rolls, name: str = "pieces") -> list:
    """``rolls`` as a list of 2-D 0/1 arrays of one width; InputError naming the first bad one."""
    if isinstance(rolls, np.ndarray) or not hasattr(rolls, "__len__"):
        raise InputTypeError(f"{name} must be a list of piano rolls (T, P)")
    from rnnkit.models.piano_roll import check_roll

    out, width = [], None
    for i, roll in enumerate(rolls):
        roll = np.asarray(roll)
        if roll.ndim != 2 or roll.shape[0] == 0:
            raise InputError(f"{name}[{i}] must be a piano roll (T, P) with T >= 1, got shape "
                             f"{roll.shape}")
        width = roll.shape[1] if width is None else width           # the first piece's
        out.append(check_roll(roll, f"{name}[{i}]", width))
    return out


# --------------------------------------------------------------------------- scoring


def nll_per_step(model, rolls, batch_size: int = 32) -> float:
    """The negative log-likelihood per time step of ``rolls`` (module doc), in nats."""
    from rnnkit.module import no_grad
    from rnnkit.training.data import pad_sequences

    rolls = check_rolls(rolls)
    if not rolls:
        raise InputError("no pieces to score")
    was_training = model.training
    model.eval()
    total, steps = 0.0, 0
    try:
        with no_grad():
            for start in range(0, len(rolls), batch_size):
                chunk = [r.astype(model.dtype) for r in rolls[start:start + batch_size]]
                lengths = np.array([len(r) for r in chunk], np.int64)                  # (B,)
                v = pad_sequences(chunk, np.arange(len(chunk)), lengths, 0.0)          # (T, B, P)
                total += float(model.step_nll(v, lengths).astype(np.float64).sum())
                steps += int(lengths.sum())
    finally:
        model.train(was_training)
    return total / steps


# --------------------------------------------------------------------------- training


def transposed_batches(rolls, batch_size, k, seed):
    """``SequenceBatches`` of the pieces ``rolls`` (float ``(T_n, P)``), each shifted by a
    random number of semitones in every epoch.

    The shift of piece ``n`` in epoch ``e`` is drawn from ``default_rng([seed, e, n])``
    uniformly among the shifts in ``[-k, k]`` that keep its notes on the keyboard, so
    ``batch(epoch, index)`` alone fixes a batch (a resumed run sees the same data).
    """
    from rnnkit.training import SequenceBatches

    sounding = [np.flatnonzero(r.any(axis=0)) for r in rolls]
    P = rolls[0].shape[1]
    lowest = np.array([max(-k, -s[0]) if s.size else 0 for s in sounding])             # (N,)
    highest = np.array([min(k, P - 1 - s[-1]) if s.size else 0 for s in sounding])     # (N,)

    class TransposedBatches(SequenceBatches):
        def batch(self, epoch: int, index: int):
            batch = super().batch(epoch, index)
            for b, n in enumerate(self._chosen(epoch, index)):
                rng = np.random.default_rng([seed, epoch, int(n)])
                shift = int(rng.integers(lowest[n], highest[n] + 1))
                batch.inputs[:, b] = np.roll(batch.inputs[:, b], shift, axis=-1)   # (T, P)
            return batch

        def describe(self) -> dict:
            return dict(super().describe(), type="TransposedBatches", transpose=k)

    return TransposedBatches(rolls, np.zeros(len(rolls)), batch_size, seed=seed)


def train_music(train, val, config: MusicConfig, out_dir=None, *, extra=None, progress=None,
                resume=False, before_fit=None, log=None):
    """Fit a piano-roll model on ``train`` rolls (validated on ``val``, may be empty).

    ``extra`` is saved in the checkpoint with the settings; ``before_fit()`` runs once the
    inputs are checked. Returns ``(MusicModel with the best weights, the trainer's summary)``.
    """
    from rnnkit.optim import Adam
    from rnnkit.training import SequenceBatches, Trainer
    from rnnkit.training.objectives import ModelLoss

    check_config(config)
    train = check_rolls(train, "train")
    val = check_rolls(val, "val")
    if not train:
        raise InputError("no training pieces")
    P = train[0].shape[1]
    if val and val[0].shape[1] != P:
        raise InputError(f"val pieces have {val[0].shape[1]} pitches, train pieces {P}")
    model = build_model(config, P)
    as_float = [r.astype(model.dtype) for r in train]
    data = (transposed_batches(as_float, config.batch_size, config.transpose, config.seed)
            if config.transpose else
            SequenceBatches(as_float, np.zeros(len(train)), config.batch_size, seed=config.seed))
    val_data = None
    if val:
        val_data = SequenceBatches([r.astype(model.dtype) for r in val], np.zeros(len(val)), 64,
                                   shuffle=False)
    if log is not None:
        log(f"{count_of(len(train), 'training piece')} ({sum(map(len, train)):,} steps), "
            f"{count_of(len(val), 'validation piece')}, {P} pitches")
    extra = dict(extra or {}, settings=vars(config).copy(), num_pitches=P)
    if before_fit is not None:
        before_fit()
    trainer = Trainer(model, Adam(model.parameters(), lr=config.lr), data, val_data,
                      objective=ModelLoss(), max_epochs=config.epochs,
                      max_minutes=config.max_minutes, clip_grad_norm=config.clip,
                      patience=config.patience if val_data is not None else None,
                      out_dir=out_dir, progress=progress, extra=extra)
    summary = trainer.fit(resume=resume)
    model.load_state_dict(trainer.best_state_dict())
    model.eval()
    return MusicModel(model, config, extra), summary


def load_music_model(path) -> "MusicModel":
    """The model saved in a checkpoint written by :func:`train_music`."""
    from rnnkit.training import load_model

    model, meta = load_model(path)
    extra = meta.get("extra") or {}
    if "settings" not in extra or type(model).__name__ != "PianoRollModel":
        raise InputError(f"{str(path)!r} is not a music model checkpoint")
    model.eval()
    return MusicModel(model, MusicConfig(**extra["settings"]), extra)


# --------------------------------------------------------------------------- use


class MusicModel:
    """A trained piano-roll model and its settings."""

    def __init__(self, model, config: MusicConfig, extra=None):
        self.model, self.config, self.extra = model, config, extra or {}

    @property
    def num_pitches(self) -> int:
        return self.model.num_pitches

    def nll(self, rolls) -> float:
        """Negative log-likelihood per time step of ``rolls`` (:func:`nll_per_step`)."""
        return nll_per_step(self.model, rolls)

    def sample(self, steps: int, seed: int = 0, prime=None, temperature: float = 1.0,
               threshold=None) -> np.ndarray:
        """A new piece ``(steps, P)`` of 0/1 after ``prime (T0, P)`` (None: from silence);
        ``seed`` fixes it. See :meth:`rnnkit.models.PianoRollModel.sample`."""
        seed = check_scalar(seed, "seed", int, low=0)
        return self.model.sample(steps, np.random.default_rng(seed), prime=prime,
                                 temperature=temperature, threshold=threshold)
