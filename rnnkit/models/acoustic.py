"""The acoustic model of a CTC speech recogniser: frame stacking, a recurrent stack, a
per-frame classifier (a small DeepSpeech 2, Amodei et al. 2016, without convolutions).

Layout is time-major: features ``x (T, B, F)`` with ``lengths (B,)`` -> ``logits (T', B, C)``
with ``out_lengths (B,)``; class ``blank`` is the CTC blank, the others are labels
(characters). The computation, in order, with ``k = subsample``::

    x~[:n_b, b] = spec_augment(x[:n_b, b])          # training loss only (rnnkit/augment.py)
    x'[t, b]    = x~[t, b] if t < n_b else 0         # (T' k, B, F), T' = ceil(T / k)
    z[t']       = [x'[t'k]; x'[t'k + 1]; ...; x'[t'k + k - 1]]   # (T', B, k F) frame stacking
    n'_b        = ceil(n_b / k)                      # out_lengths
    h           = RNN(z, lengths=n')                 # (T', B, dirs * H), 0 past n'_b
    logits      = h W^T + b                          # (T', B, C)
    L           = CTC(logits, targets, n', S)        # mean over b of loss_b / S_b (as torch)

Frame stacking concatenates ``k`` consecutive frames, then keeps every ``k``-th stack:
the recurrent layers run ``k`` times fewer steps on ``k`` times wider inputs (DeepSpeech 2's
stride, Deep Speech's and Sak et al.'s stacked frames); the last stack of an utterance is
zero-padded. ``k = 1`` changes nothing. It has no parameters and its backward is the inverse
reshape: ``dx'[t'k + j] = dz[t', :, jF:(j + 1)F]``, cropped to ``T`` and zero past ``n_b``.

CTC needs at least one output frame per label and one more between two equal labels
(:func:`ctc_min_frames`); an utterance with fewer (``n'_b`` too small, which subsampling
makes likelier) has an infinite loss. :meth:`AcousticModel.loss` refuses such a batch with
an error naming the utterance, rather than training on ``inf`` or silently zeroing it
(``zero_infinity``): drop those utterances, or lower ``subsample``.

SpecAugment is applied by :meth:`AcousticModel.loss_and_backward` in training mode only, from
the model's own generator ``spec_augment_rng`` (saved in trainer checkpoints, so a resumed
run draws the same masks); :meth:`AcousticModel.loss` (validation) never masks.
"""

from __future__ import annotations

import numpy as np

from rnnkit._validation import (
    check_dtype, check_float_array, check_lengths, check_positive_int, check_probability,
    check_scalar, require_forward,
)
from rnnkit.augment import SpecAugment
from rnnkit.errors import InputError, InputTypeError
from rnnkit.functional import log_softmax
from rnnkit.layers import Linear
from rnnkit.losses import CTCLoss
from rnnkit.models._common import child_seeds, check_cell, dtype_name, make_recurrent, seed_to_json
from rnnkit.module import Module, is_grad_enabled, no_grad

__all__ = ["AcousticModel", "SpecAugment", "stack_frames", "stack_frames_backward", "ctc_min_frames"]

_BATCH_NAMES = ("batch.inputs", "batch.lengths")      # what the input checks call a batch's arrays


# --------------------------------------------------------------------------- frame stacking

def stack_frames(x, lengths, k):
    """Frame stacking with stride ``k``: ``x (T, B, F)``, ``lengths (B,)`` ->
    ``z (ceil(T / k), B, k F)``, ``ceil(lengths / k)`` (module doc). Inputs trusted."""
    T, B, F = x.shape
    T_out = -(-T // k)
    padded = np.zeros((T_out * k, B, F), x.dtype)                                  # (T'k, B, F)
    padded[:T] = x
    padded[np.arange(T_out * k)[:, None] >= lengths[None, :]] = 0                   # past each n_b
    z = padded.reshape(T_out, k, B, F).transpose(0, 2, 1, 3).reshape(T_out, B, k * F)  # (T', B, kF)
    return z, -(-lengths // k)


def stack_frames_backward(dz, T, lengths, k):
    """``dL/dz (T', B, k F)`` -> ``dL/dx (T, B, F)``: the inverse reshape, 0 past each length."""
    T_out, B, kF = dz.shape
    F = kF // k
    d_padded = dz.reshape(T_out, B, k, F).transpose(0, 2, 1, 3).reshape(T_out * k, B, F)  # (T'k, B, F)
    valid = np.arange(T)[:, None] < lengths[None, :]                                    # (T, B)
    return np.where(valid[..., None], d_padded[:T], 0).astype(dz.dtype, copy=False)


def ctc_min_frames(targets, target_lengths) -> np.ndarray:
    """The fewest frames CTC can align each label sequence to: ``S_b`` plus the number of
    neighbours that repeat (a blank must separate them). ``targets (B, S)`` padded."""
    targets = np.asarray(targets)
    S = targets.shape[1]
    inside = np.arange(1, S)[None, :] < np.asarray(target_lengths)[:, None]            # (B, S-1)
    repeats = ((targets[:, 1:] == targets[:, :-1]) & inside).sum(axis=1)                # (B,)
    return np.asarray(target_lengths, np.int64) + repeats


# --------------------------------------------------------------------------- the model

class AcousticModel(Module):
    """Frame stacking -> stacked (bi)directional recurrent layers -> Linear to ``num_classes``.

    Parameters
    ----------
    num_features : int
        Feature width ``F`` of the inputs (e.g. 40 log-mel bins).
    num_classes : int >= 2
        ``C``: the blank and the labels (characters).
    hidden_size : int
        Units per direction of every recurrent layer, ``H``.
    num_layers : int
    cell : a name in ``rnnkit.CELLS`` ('gru', 'lstm', ...)
    bidirectional : bool
    subsample : int
        Frames stacked per recurrent step, ``k`` (1: none).
    dropout : float in [0, 1)
        Between recurrent layers, training mode only.
    spec_augment : SpecAugment, its ``to_dict()``, or None
        Masks applied to the training loss's inputs; ``freq_width <= num_features``.
    blank : int in [0, num_classes)
        The CTC blank's class.
    seed : int or None
    dtype : float32 or float64

    Parameter names: ``rnn.*`` (as ``torch.nn.GRU``/``LSTM``, input ``k F`` wide) and
    ``head.weight (C, dirs * H)``, ``head.bias (C,)``.
    """

    def __init__(self, num_features, num_classes, hidden_size=128, num_layers=2, cell="gru",
                 bidirectional=True, subsample=2, dropout=0.0, spec_augment=None, blank=0, seed=0,
                 dtype=np.float32):
        self.num_features = check_positive_int(num_features, "num_features")
        self.num_classes = check_scalar(num_classes, "num_classes", int, low=2,
                                        note=" (the blank and at least one label)")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.num_layers = check_positive_int(num_layers, "num_layers")
        self.cell = check_cell(cell)
        self.bidirectional = bool(bidirectional)
        self.subsample = check_positive_int(subsample, "subsample")
        self.dropout = check_probability(dropout, "dropout")
        self.spec_augment = _spec_augment_settings(spec_augment, self.num_features)
        self.blank = check_scalar(blank, "blank", int, low=0, high=self.num_classes - 1)
        self.seed = seed_to_json(seed)
        self.dtype = check_dtype(dtype)
        seeds = child_seeds(seed, 3)
        self.rnn = make_recurrent(self.cell, self.subsample * self.num_features, self.hidden_size,
                                  self.num_layers, self.dropout, self.bidirectional, self.dtype, seeds[0])
        directions = 2 if self.bidirectional else 1
        self.head = Linear(directions * self.hidden_size, self.num_classes, dtype=self.dtype, seed=seeds[1])
        self.spec_augment_rng = np.random.default_rng(seeds[2])
        self.criterion = CTCLoss(blank=self.blank, reduction="mean")
        self._cache = None

    def config(self) -> dict:
        """JSON-able constructor arguments: ``AcousticModel(**model.config())`` rebuilds it."""
        return {"num_features": self.num_features, "num_classes": self.num_classes,
                "hidden_size": self.hidden_size, "num_layers": self.num_layers, "cell": self.cell,
                "bidirectional": self.bidirectional, "subsample": self.subsample,
                "dropout": self.dropout,
                "spec_augment": None if self.spec_augment is None else self.spec_augment.to_dict(),
                "blank": self.blank, "seed": self.seed, "dtype": dtype_name(self.dtype)}

    # -- forward / backward ------------------------------------------------------------
    def output_lengths(self, lengths) -> np.ndarray:
        """Frames per utterance after stacking: ``ceil(lengths / subsample)``."""
        return -(-np.asarray(lengths, np.int64) // self.subsample)

    def forward(self, x, lengths=None):
        """Per-frame logits.

        x : (T, B, num_features) in the model's dtype; lengths : (B,) in [1, T] (None: all T).
        Returns ``logits (T', B, num_classes)`` and ``out_lengths (B,)``, ``T' = ceil(T / k)``;
        logits past ``out_lengths[b]`` are the bias only.
        """
        return self._forward(*self._check_input(x, lengths))

    def _forward(self, x, lengths):
        """:meth:`forward` of inputs already checked."""
        z, out_lengths = stack_frames(x, lengths, self.subsample)                  # (T', B, kF)
        h, _ = self.rnn.forward(z, lengths=out_lengths)                            # (T', B, dirs*H)
        logits = self.head.forward(h)                                              # (T', B, C)
        self._cache = (x.shape[0], lengths) if is_grad_enabled() else None
        return logits, out_lengths

    def backward(self, dlogits):
        """Backpropagate ``dL/dlogits (T', B, C)``; accumulates every parameter gradient and
        returns ``dL/dx (T, B, num_features)`` (0 past each length)."""
        require_forward(self._cache, "AcousticModel")
        T, lengths = self._cache
        T_out, B = -(-T // self.subsample), lengths.shape[0]
        check_float_array(dlogits, "dlogits", (T_out, B, self.num_classes), self.dtype,
                          f"(T'={T_out}, B={B}, num_classes={self.num_classes})")
        dh = self.head.backward(dlogits)                                           # (T', B, dirs*H)
        dz, _ = self.rnn.backward(dh)                                              # (T', B, kF)
        self._cache = None
        return stack_frames_backward(dz, T, lengths, self.subsample)               # (T, B, F)

    def log_probs(self, x, lengths=None):
        """``log_softmax(logits) (T', B, C)`` and ``out_lengths (B,)`` for CTC decoding
        (``rnnkit.ctc_decoding``); keeps no activations. Call ``eval()`` first: dropout
        is on in training mode."""
        with no_grad():
            logits, out_lengths = self.forward(x, lengths)
        return log_softmax(logits), out_lengths

    # -- SpecAugment -------------------------------------------------------------------
    def augment(self, x, lengths) -> np.ndarray:
        """A copy of ``x (T, B, F)`` with each utterance's first ``lengths[b]`` frames
        masked by ``spec_augment`` (drawn from ``spec_augment_rng``); ``x`` itself when
        ``spec_augment`` is None. Frames past each length are left alone."""
        return self._masked(*self._check_input(x, lengths))

    def _masked(self, x, lengths) -> np.ndarray:
        """:meth:`augment` of inputs already checked."""
        if self.spec_augment is None:
            return x
        out = x.copy()
        for b, n in enumerate(lengths):
            out[:n, b] = self.spec_augment.apply(x[:n, b], self.spec_augment_rng)   # (n_b, F)
        return out

    # -- the Trainer's ModelLoss objective -----------------------------------------------
    def loss(self, batch) -> float:
        """CTC loss (``reduction='mean'``, as ``torch.nn.CTCLoss``) of a ``Seq2SeqBatches``
        batch: ``inputs (T, B, F)``, ``lengths (B,)``, ``targets (S, B)`` label ids padded,
        ``target_lengths (B,)``. Never masks (see :meth:`loss_and_backward`)."""
        return self._loss(batch, *self._check_input(batch.inputs, batch.lengths, _BATCH_NAMES))

    def loss_and_backward(self, batch) -> float:
        """:meth:`loss`, with SpecAugment on the inputs in training mode, then its gradient
        into every ``Parameter.grad``."""
        x, lengths = self._check_input(batch.inputs, batch.lengths, _BATCH_NAMES)
        if self.training:
            x = self._masked(x, lengths)
        value = self._loss(batch, x, lengths)
        self.backward(self.criterion.backward())
        return value

    def _loss(self, batch, x, lengths) -> float:
        """The CTC loss of checked inputs ``x`` (masked or not) and ``lengths``."""
        targets, target_lengths = self._check_targets(batch.targets, batch.target_lengths, lengths)
        logits, out_lengths = self._forward(x, lengths)                            # (T', B, C)
        return self.criterion.forward(logits, targets, out_lengths, target_lengths)

    # -- input checks --------------------------------------------------------------------
    def _check_input(self, x, lengths, names=("x", "lengths")):
        F, (x_name, lengths_name) = self.num_features, names
        check_float_array(x, x_name, (None, None, F), self.dtype, f"(T, B, num_features={F})")
        T, B = x.shape[:2]
        if T == 0 or B == 0:
            raise InputError(f"{x_name} must have shape (T, B, num_features={F}) with T, B >= 1, "
                             f"got {x.shape}")
        return x, (np.full(B, T, np.int64) if lengths is None else check_lengths(lengths, B, T, lengths_name))

    def _check_targets(self, targets, target_lengths, lengths):
        """``targets (S, B)`` -> ``(B, S)`` and the target lengths; refuses an utterance with
        too few frames for its labels (module doc). Label values are CTCLoss's to check."""
        B = lengths.shape[0]
        out_lengths = self.output_lengths(lengths)                                     # (B,)
        targets = np.asarray(targets)
        if targets.ndim != 2 or targets.shape[1] != B or targets.dtype.kind not in "iu":
            raise InputError(f"batch.targets must be integer label ids of shape (S, B={B}) "
                             f"(time-major, padded), got shape {targets.shape} and dtype {targets.dtype}")
        S = targets.shape[0]
        target_lengths = (np.full(B, S, np.int64) if target_lengths is None else
                          check_lengths(target_lengths, B, S, "batch.target_lengths", low=0, max_name="S"))
        needed = ctc_min_frames(targets.T, target_lengths)                             # (B,)
        short = np.flatnonzero(out_lengths < needed)
        if short.size:
            b = int(short[0])
            raise InputError(
                f"utterance {b} of the batch is too short for its transcript: {int(lengths[b])} "
                f"frames, {int(out_lengths[b])} after subsample={self.subsample}, but its "
                f"{int(target_lengths[b])} labels need at least {int(needed[b])} for CTC "
                f"({len(short)} such in this batch); drop them or lower subsample")
        return targets.T, target_lengths

    def __repr__(self):
        return (f"AcousticModel({self.num_features} -> {self.num_classes}, cell={self.cell!r}, "
                f"hidden_size={self.hidden_size}, num_layers={self.num_layers}, "
                f"bidirectional={self.bidirectional}, subsample={self.subsample}, "
                f"spec_augment={self.spec_augment}, dtype={self.dtype.name})")


def _spec_augment_settings(value, num_features):
    if isinstance(value, dict):
        value = SpecAugment(**value)
    if value is not None and not isinstance(value, SpecAugment):
        raise InputTypeError(f"spec_augment must be a rnnkit.augment.SpecAugment, its to_dict(), "
                             f"or None, got {type(value).__name__}")
    if value is not None and value.freq_width > num_features:
        raise InputError(f"spec_augment.freq_width must be <= num_features={num_features}, "
                         f"got {value.freq_width}")
    return value
