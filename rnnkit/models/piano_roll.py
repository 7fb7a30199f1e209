"""A polyphonic music model: a recurrent stack reads a piano roll and predicts its next step.

A piano roll ``v (T, B, P)`` holds 0/1: ``v[t, b, p] = 1`` when pitch ``p`` sounds at step
``t`` of piece ``b`` (``P = 88`` pitches, MIDI 21..108, for the benchmark). The model
predicts every step from the steps before it, the first from silence::

    x_t   = v_{t-1}  (x_0 = 0)                           # (T, B, P) the roll shifted by one
    x'_t  = input_dropout(x_t)                           # training mode only: notes dropped
    W'_hh = W_hh * m / (1 - p_w),  m ~ Bernoulli(1 - p_w) # training only: weight drop, one
                                                         # mask per batch (DropConnect)
    h_t   = RNN(x'_t, h_{t-1}; W'_hh)                    # (T, B, H) gru/lstm/rnn stack
    h'_t  = dropout(h_t)                                 # training mode only

and one of two output distributions over the ``2^P`` possible steps ``v_t``:

``output="bernoulli"`` (Chung et al. 2014): pitches independent given ``h'_t``::

    z_t   = h'_t W^T + b                                 # (T, B, P) logits
    nll_t = sum_p max(z, 0) - z v + log(1 + exp(-|z|))   # -log p(v_t | v_<t), BCE on logits

``output="nade"`` (the RNN-NADE of Boulanger-Lewandowski et al. 2012): pitches one after
another, each given the lower ones, by a NADE whose biases the state sets
(:class:`rnnkit.layers.NADE`; its shared weights ``W``, ``V`` are the model's ``nade.*``)::

    b_v,t = h'_t W_v^T + c_v                             # (T, B, P)   visible biases
    b_h,t = h'_t W_h^T + c_h                             # (T, B, Hn)  hidden biases
    nll_t = NADE(v_t; b_v,t, b_h,t)                      # exact -log p(v_t | v_<t)

The loss of a batch is the papers' frame-level negative log-likelihood: summed over
pitches, averaged over the valid time steps of the batch (``lengths``; padding past a
piece's end counts for nothing)::

    L = sum_{b, t < n_b} nll_t[b] / sum_b n_b

Sampling (:meth:`PianoRollModel.sample`) runs the same recursion one step at a time,
feeding each sampled step back in.
"""

from __future__ import annotations


import numpy as np

from rnnkit._validation import (
    check_dtype, check_float_array, check_lengths, check_positive_int, check_probability,
    check_scalar, require_forward,
)
from rnnkit.errors import InputError, InputTypeError
from rnnkit.layers import NADE, Dropout, Linear
from rnnkit.layers.weight_drop import backward_through, dropped_weights, weight_masks
from rnnkit.models._common import child_seeds, check_cell, dtype_name, make_recurrent, seed_to_json
from rnnkit.module import Module, is_grad_enabled, no_grad

__all__ = ["PianoRollModel", "OUTPUTS", "check_roll"]

OUTPUTS = ("bernoulli", "nade")
_BATCH_NAMES = ("batch.inputs", "batch.lengths")


class PianoRollModel(Module):
    """Recurrent stack over piano-roll steps -> a Bernoulli or NADE distribution of the next.

    Parameters
    ----------
    num_pitches : int
        ``P``, the width of a roll step.
    hidden_size : int
        Units of every recurrent layer, ``H``.
    num_layers : int
    cell : a name in ``rnnkit.CELLS`` ('gru', 'lstm', 'rnn', ...)
    output : 'bernoulli' or 'nade'
    nade_hidden : int
        Hidden units of the NADE, ``Hn`` (``output='nade'`` only).
    dropout : float in [0, 1)
        Between recurrent layers and on the last layer's output, training mode only.
    input_dropout : float in [0, 1), default 0
        On the input roll (the previous steps' notes), training mode only: each note the
        model reads is hidden with this probability (the rest scaled by ``1 / (1 - p)``).
    weight_drop : float in [0, 1), default 0
        DropConnect on the recurrent weights ``W_hh`` of every layer, training mode only:
        each weight is zeroed with this probability for a whole batch, the rest scaled by
        ``1 / (1 - p)`` (the weight-dropped LSTM of Merity et al. 2017; Wan et al. 2013).
        The gradient of a dropped weight is zero.
    seed : int or None
    dtype : float32 or float64

    Parameter names: ``rnn.*`` (as ``torch.nn.GRU``/``LSTM``); ``head.weight (P, H)``,
    ``head.bias (P,)`` for Bernoulli; ``to_visible.*``, ``to_hidden.*`` and ``nade.*`` for
    NADE.
    """

    def __init__(self, num_pitches=88, hidden_size=128, num_layers=1, cell="gru",
                 output="bernoulli", nade_hidden=150, dropout=0.0, seed=0, dtype=np.float32,
                 input_dropout=0.0, weight_drop=0.0):
        self.num_pitches = check_positive_int(num_pitches, "num_pitches")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.num_layers = check_positive_int(num_layers, "num_layers")
        self.cell = check_cell(cell)
        if output not in OUTPUTS:
            raise InputError(f"output must be one of {OUTPUTS}, got {output!r}")
        self.output = output
        self.nade_hidden = check_positive_int(nade_hidden, "nade_hidden")
        self.dropout = check_probability(dropout, "dropout")
        self.input_dropout = check_probability(input_dropout, "input_dropout")
        self.weight_drop = check_probability(weight_drop, "weight_drop")
        self.seed = seed_to_json(seed)
        self.dtype = check_dtype(dtype)
        seeds = child_seeds(seed, 7)
        P, H = self.num_pitches, self.hidden_size
        self.rnn = make_recurrent(self.cell, P, H, self.num_layers, self.dropout, False,
                                  self.dtype, seeds[0])
        self.output_dropout = Dropout(self.dropout, seed=seeds[1])
        self.in_dropout = Dropout(self.input_dropout, seed=seeds[5])
        self.weight_drop_rng = np.random.default_rng(seeds[6])
        if output == "bernoulli":
            self.head = Linear(H, P, dtype=self.dtype, seed=seeds[2])
        else:
            self.to_visible = Linear(H, P, dtype=self.dtype, seed=seeds[2])
            self.to_hidden = Linear(H, self.nade_hidden, dtype=self.dtype, seed=seeds[3])
            self.nade = NADE(P, self.nade_hidden, seed=seeds[4], dtype=self.dtype)
        self._cache = None

    def config(self) -> dict:
        """JSON-able constructor arguments: ``PianoRollModel(**model.config())`` rebuilds it."""
        return {"num_pitches": self.num_pitches, "hidden_size": self.hidden_size,
                "num_layers": self.num_layers, "cell": self.cell, "output": self.output,
                "nade_hidden": self.nade_hidden, "dropout": self.dropout,
                "input_dropout": self.input_dropout, "weight_drop": self.weight_drop,
                "seed": self.seed,
                "dtype": dtype_name(self.dtype)}

    # -- forward / backward ------------------------------------------------------------
    def step_nll(self, rolls, lengths=None) -> np.ndarray:
        """``-log p(v_t | v_<t)`` of every step: ``rolls (T, B, P)`` of 0/1 in the model's
        dtype, ``lengths (B,)`` in [1, T] (None: all T) -> ``nll (T, B)``, 0 past each
        length. Keeps what :meth:`backward` needs (unless under ``no_grad``)."""
        return self._step_nll(*self._check_input(rolls, lengths))

    def _step_nll(self, v, lengths):
        T, B, P = v.shape
        x = np.zeros_like(v)
        x[1:] = v[:-1]                                                         # (T, B, P)
        x = self.in_dropout.forward(x)
        masks = self._weight_masks()
        with dropped_weights(self._recurrent_weights(), masks):
            h, _ = self.rnn.forward(x, lengths=lengths)                        # (T, B, H)
        h = self.output_dropout.forward(h)
        valid = np.arange(T)[:, None] < lengths[None, :]                       # (T, B)
        nll = np.zeros((T, B), self.dtype)
        if self.output == "bernoulli":
            z = self.head.forward(h)                                           # (T, B, P)
            per_pitch = np.maximum(z, 0) - z * v + np.log1p(np.exp(-np.abs(z)))
            nll[valid] = per_pitch[valid].sum(axis=1)
            grad_z = (0.5 * (1.0 + np.tanh(0.5 * z)) - v) * valid[..., None]   # dnll/dz
            cache = (grad_z,)
        else:
            b_v = self.to_visible.forward(h)                                   # (T, B, P)
            b_h = self.to_hidden.forward(h)                                    # (T, B, Hn)
            nll[valid] = self.nade.forward(v[valid], b_v[valid], b_h[valid])   # rows (N,)
            cache = (valid, b_h.shape)
        self._cache = (cache, valid, masks) if is_grad_enabled() else None
        return nll

    def backward(self, d_nll) -> None:
        """Backpropagate ``dL/dnll (T, B)`` (entries past each length are ignored) into
        every ``Parameter.grad``."""
        require_forward(self._cache, "PianoRollModel")
        cache, valid, masks = self._cache
        check_float_array(d_nll, "d_nll", valid.shape, self.dtype, f"(T, B)={valid.shape}")
        if self.output == "bernoulli":
            (grad_z,) = cache
            dh = self.head.backward(grad_z * d_nll[..., None])                 # (T, B, H)
        else:
            valid, hidden_shape = cache
            d_bv_rows, d_bh_rows = self.nade.backward(d_nll[valid])            # (N, P), (N, Hn)
            d_bv = np.zeros(valid.shape + (self.num_pitches,), self.dtype)
            d_bh = np.zeros(hidden_shape, self.dtype)
            d_bv[valid], d_bh[valid] = d_bv_rows, d_bh_rows
            dh = self.to_visible.backward(d_bv) + self.to_hidden.backward(d_bh)
        dh = self.output_dropout.backward(dh)
        backward_through(self._recurrent_weights(), masks, lambda: self.rnn.backward(dh))
        self._cache = None

    # -- weight drop ----------------------------------------------------------------------
    def _recurrent_weights(self) -> list:
        return [p for name, p in self.rnn.named_parameters() if name.startswith("weight_hh")]

    def _weight_masks(self):
        return weight_masks(self._recurrent_weights(), self.weight_drop, self.weight_drop_rng,
                            self.training)

    # -- the Trainer's ModelLoss objective -----------------------------------------------
    def loss(self, batch) -> float:
        """Mean NLL per valid step of a batch of rolls: ``batch.inputs (T, B, P)``,
        ``batch.lengths (B,)`` (the targets are the rolls themselves, one step ahead)."""
        v, lengths = self._check_input(batch.inputs, batch.lengths, _BATCH_NAMES)
        return float(self._step_nll(v, lengths).sum() / lengths.sum())

    def loss_and_backward(self, batch) -> float:
        """:meth:`loss`, then its gradient into every ``Parameter.grad``."""
        v, lengths = self._check_input(batch.inputs, batch.lengths, _BATCH_NAMES)
        steps = lengths.sum()
        value = float(self._step_nll(v, lengths).sum() / steps)
        self.backward(np.full(v.shape[:2], 1.0 / steps, self.dtype))
        return value

    def loss_weight(self, batch) -> int:
        """How many steps :meth:`loss` averaged over: a validation mean over batches weighted
        by it is the mean over every step."""
        return int(np.asarray(batch.lengths).sum())

    # -- sampling ----------------------------------------------------------------------
    def sample(self, steps, rng, prime=None, temperature=1.0, threshold=None) -> np.ndarray:
        """A new roll ``(steps, P)`` of 0/1 continuing ``prime (T0, P)`` (None: from silence).

        Each step is drawn from the model given the steps before it and fed back in.
        ``temperature`` divides the output logits (Bernoulli) or every NADE logit: < 1 is
        more conservative, > 1 wilder. ``threshold`` (Bernoulli only): instead of drawing,
        a pitch sounds when its probability is at least ``threshold``. Uses
        ``rng`` (a ``numpy.random.Generator``) only, so a seed fixes the piece. Runs in
        evaluation mode (no dropout) and leaves the mode as it was.
        """
        steps = check_positive_int(steps, "steps")
        if not isinstance(rng, np.random.Generator):
            raise InputTypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        temperature = check_scalar(temperature, "temperature", float, low=0.0, include_low=False)
        if threshold is not None:
            if self.output != "bernoulli":
                raise InputError("threshold applies to output='bernoulli' only; the NADE draws "
                                 "each pitch given the others")
            threshold = check_scalar(threshold, "threshold", float, low=0.0, high=1.0)
        P = self.num_pitches
        if prime is not None:
            prime = check_roll(prime, "prime", P).astype(self.dtype)
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                return self._sample(steps, rng, prime, temperature, threshold)
        finally:
            self.train(was_training)

    def _sample(self, steps, rng, prime, temperature, threshold):
        P = self.num_pitches
        state, last = None, np.zeros((1, 1, P), self.dtype)                    # silence first
        if prime is not None and len(prime):
            inputs = np.concatenate([last, prime[:-1, None, :]])               # (T0, 1, P)
            _, state = self.rnn.forward(inputs, state)
            last = prime[-1:, None, :]
        out = np.zeros((steps, P), np.uint8)
        for t in range(steps):
            h, state = self.rnn.forward(last, state)                           # (1, 1, H)
            h = h[0]                                                           # (1, H)
            if self.output == "bernoulli":
                p = 1.0 / (1.0 + np.exp(-self.head.forward(h) / temperature))  # (1, P)
                v = p >= threshold if threshold is not None else rng.random(p.shape) < p
            else:
                v = self.nade.sample(self.to_visible.forward(h), self.to_hidden.forward(h), rng,
                                     temperature=temperature)
            out[t] = np.asarray(v, np.uint8)[0]
            last = out[t][None, None, :].astype(self.dtype)
        return out

    # -- input checks --------------------------------------------------------------------
    def _check_input(self, rolls, lengths, names=("rolls", "lengths")):
        P, (rolls_name, lengths_name) = self.num_pitches, names
        check_float_array(rolls, rolls_name, (None, None, P), self.dtype, f"(T, B, num_pitches={P})")
        T, B = rolls.shape[:2]
        if T == 0 or B == 0:
            raise InputError(f"{rolls_name} must have shape (T, B, num_pitches={P}) with T, B >= 1, "
                             f"got {rolls.shape}")
        if not np.all((rolls == 0) | (rolls == 1)):
            raise InputError(f"{rolls_name} must hold only 0 and 1 (a piano roll)")
        lengths = (np.full(B, T, np.int64) if lengths is None
                   else check_lengths(lengths, B, T, lengths_name))
        return rolls, lengths

    def __repr__(self):
        nade = f", nade_hidden={self.nade_hidden}" if self.output == "nade" else ""
        inputs = f", input_dropout={self.input_dropout}" if self.input_dropout else ""
        inputs += f", weight_drop={self.weight_drop}" if self.weight_drop else ""
        return (f"PianoRollModel(num_pitches={self.num_pitches}, cell={self.cell!r}, "
                f"hidden_size={self.hidden_size}, num_layers={self.num_layers}, "
                f"output={self.output!r}{nade}, dropout={self.dropout}{inputs}, "
                f"dtype={self.dtype.name})")


def check_roll(roll, name, num_pitches) -> np.ndarray:
    """``roll`` as an array ``(T, num_pitches)`` of 0/1 (any int, bool or float dtype);
    InputError naming it otherwise."""
    roll = np.asarray(roll)
    if roll.ndim != 2 or roll.shape[1] != num_pitches or roll.dtype.kind not in "biuf":
        raise InputError(f"{name} must be a piano roll of shape (T, num_pitches={num_pitches}), "
                         f"got shape {roll.shape} and dtype {roll.dtype}")
    if not np.all((roll == 0) | (roll == 1)):
        raise InputError(f"{name} must hold only 0 and 1 (a piano roll)")
    return roll
