"""Mini-batches for the trainer: long token streams (truncated BPTT) and padded sequences.

Both loaders are *stateless*: ``batch(epoch, index)`` computes batch ``index`` of
``epoch`` from the data and the seed alone. The trainer's data position is just
``(epoch, index)``, so a resumed run sees exactly the batches the interrupted run
would have seen.

Token streams (language modelling)
----------------------------------
A stream of ``N`` token ids is cut into ``B`` parallel streams of ``L = N // B``
tokens (the tail that does not fill a row is dropped)::

    S = tokens[:B * L].reshape(B, L).T               # (L, B); column b is stream b
    batch i:  inputs  = S[i*T     : i*T + T]          # (T, B), T = seq_len (last may be shorter)
              targets = S[i*T + 1 : i*T + T + 1]      # (T, B), the next token of each input

Chunk ``i + 1`` of column ``b`` continues chunk ``i`` of column ``b``, so the
hidden state at the end of one batch is the right start for the next one; it
is reset at the start of every epoch.

Padded sequences (classification, regression)
----------------------------------------------
``N`` sequences of varying length, each ``(L_n,)`` token ids or ``(L_n, D)``
features, with one target each. Every epoch visits them in the order
``default_rng([seed, epoch]).permutation(N)`` (or in order with
``shuffle=False``); a batch is padded to its own longest sequence::

    x       (T_max, B) or (T_max, B, D)   time-major, pad_value past each length
    lengths (B,)
    targets (B, ...)                      targets[batch_indices]

Sequence pairs (translation, CTC speech recognition)
----------------------------------------------------
``N`` source sequences as above and ``N`` target sequences of token ids, each with
its own length ``S_n >= 1``; the same seeded order, and each side padded on its own::

    inputs         (T_max, B) or (T_max, B, D)   sources, pad_value past each length
    lengths        (B,)
    targets        (S_max, B) int64             target ids, target_pad_value past each length
    target_lengths (B,)
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from rnnkit._validation import check_positive_int, check_scalar
from rnnkit.errors import InputError, InputTypeError


@dataclass
class Batch:
    """One mini-batch, time-major.

    inputs : (T, B) ids or (T, B, D) features
    targets : (T, B) next-token ids (streams), (B, ...) per-sequence targets, or
        (S, B) padded target sequences (sequence pairs)
    lengths : (B,) valid lengths, or None when every column has length T
    num_tokens : number of valid input positions (for tokens/s)
    target_lengths : (B,) valid lengths of the target sequences (sequence pairs only)
    """

    inputs: np.ndarray
    targets: np.ndarray
    lengths: np.ndarray | None
    num_tokens: int
    target_lengths: np.ndarray | None = None


def _check_seed(seed) -> int:
    return check_scalar(seed, "seed", int, low=0)


class TokenStream:
    """``B`` parallel streams over one long token sequence, in chunks of ``seq_len``.

    Parameters
    ----------
    tokens : 1-D integer array-like
        The whole corpus as token ids.
    batch_size : int
        Number of parallel streams ``B``.
    seq_len : int
        Chunk length ``T`` (the truncated-BPTT window).
    """

    carries_state = True

    def __init__(self, tokens, batch_size, seq_len):
        tokens = np.asarray(tokens)
        if tokens.ndim != 1 or tokens.dtype.kind not in "iu":
            raise InputTypeError(f"tokens must be a 1-D integer array, got dtype {tokens.dtype} "
                                 f"and shape {tokens.shape}")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.seq_len = check_positive_int(seq_len, "seq_len")
        length = tokens.size // self.batch_size
        if length < 2:
            raise InputError(
                f"tokens has {tokens.size} ids: too few for batch_size={self.batch_size} streams "
                f"of at least 2 tokens (need >= {2 * self.batch_size})"
            )
        self.num_tokens = int(tokens.size)
        self._streams = np.ascontiguousarray(
            tokens[: self.batch_size * length].reshape(self.batch_size, length).T.astype(np.int64))
        self.num_batches = math.ceil((length - 1) / self.seq_len)
        self._digest = hashlib.sha256(self._streams.tobytes()).hexdigest()[:16]

    def __len__(self) -> int:
        return self.num_batches

    def batch(self, epoch: int, index: int) -> Batch:
        """Chunk ``index`` (the same in every epoch: streams are not shuffled)."""
        if not 0 <= index < self.num_batches:
            raise IndexError(f"index must lie in [0, {self.num_batches}), got {index}")
        start = index * self.seq_len
        stop = min(start + self.seq_len, self._streams.shape[0] - 1)
        inputs = self._streams[start:stop]                        # (T, B)
        targets = self._streams[start + 1: stop + 1]              # (T, B)
        return Batch(inputs, targets, None, int(inputs.size))

    def __iter__(self):
        return (self.batch(0, i) for i in range(self.num_batches))

    def describe(self) -> dict:
        """What identifies this data in a checkpoint (a resumed run must see the same)."""
        return {"type": "TokenStream", "num_tokens": self.num_tokens,
                "batch_size": self.batch_size, "seq_len": self.seq_len, "sha256": self._digest}


def pad_sequences(sequences, chosen, lengths, pad_value) -> np.ndarray:
    """``sequences[chosen]`` stacked time-major, (T_max, B[, D]), pad_value past each length."""
    first = sequences[chosen[0]]
    x = np.full((int(lengths.max()), len(chosen)) + first.shape[1:], pad_value,
                first.dtype)                                                   # (T, B[, D])
    for b, n in enumerate(chosen):
        x[: lengths[b], b] = sequences[n]
    return x


def _check_sequence_list(sequences, name: str) -> list:
    """Arrays (L_n,) or (L_n, D), L_n >= 1, all with the trailing shape and dtype of the first."""
    seqs = [np.asarray(s) for s in sequences]
    if not seqs:
        raise InputError(f"{name} is empty")
    first = seqs[0]
    for n, s in enumerate(seqs):
        if s.ndim not in (1, 2) or s.shape[0] < 1:
            raise InputError(f"{name}[{n}] must have shape (L,) or (L, D) with L >= 1, "
                             f"got {s.shape}")
        if s.ndim != first.ndim or s.shape[1:] != first.shape[1:] or s.dtype != first.dtype:
            raise InputError(f"{name}[{n}] has shape {s.shape} and dtype {s.dtype}; every "
                             f"sequence must match {name}[0] ({first.shape[1:]}, {first.dtype})")
    return seqs


class _ShuffledBatches:
    """What every loader of whole sequences shares: the seeded per-epoch order and the count."""

    carries_state = False

    def _init_order(self, num_sequences, batch_size, shuffle, seed, drop_last) -> None:
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.shuffle = bool(shuffle)
        self.seed = _check_seed(seed)
        self.drop_last = bool(drop_last)
        n = num_sequences
        self.num_batches = n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
        if self.num_batches == 0:
            raise InputError(f"{n} sequences make no batch of batch_size={self.batch_size} "
                             f"with drop_last=True")
        self._num_sequences = n

    def __len__(self) -> int:
        return self.num_batches

    def order(self, epoch: int) -> np.ndarray:
        """Sequence indices in the order epoch ``epoch`` visits them."""
        n = self._num_sequences
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, int(epoch)]).permutation(n)

    def _chosen(self, epoch: int, index: int) -> np.ndarray:
        """Indices of the sequences in batch ``index`` of ``epoch``."""
        if not 0 <= index < self.num_batches:
            raise IndexError(f"index must lie in [0, {self.num_batches}), got {index}")
        return self.order(epoch)[index * self.batch_size:(index + 1) * self.batch_size]

    def __iter__(self):
        return (self.batch(0, i) for i in range(self.num_batches))


class SequenceBatches(_ShuffledBatches):
    """Shuffled, padded mini-batches of variable-length sequences with one target each.

    Parameters
    ----------
    sequences : list of arrays
        Each ``(L_n,)`` integer ids or ``(L_n, D)`` float features, ``L_n >= 1``.
        Alternatively one padded array ``(N, T)`` / ``(N, T, D)`` with ``lengths``.
    targets : array-like (N, ...)
        Class ids ``(N,)`` or real targets ``(N, K)``.
    batch_size : int
    lengths : (N,) ints, optional
        Valid lengths when ``sequences`` is one padded array.
    shuffle : bool
        Visit sequences in a new seeded order every epoch.
    seed : int
        Seeds the per-epoch order: ``default_rng([seed, epoch])``.
    drop_last : bool
        Skip the last, smaller batch.
    pad_value : number
        Written past each sequence's length.
    """

    def __init__(self, sequences, targets, batch_size, lengths=None, shuffle=True, seed=0,
                 drop_last=False, pad_value=0):
        self.sequences = self._check_sequences(sequences, lengths)
        self.targets = np.asarray(targets)
        if self.targets.ndim == 0 or self.targets.shape[0] != len(self.sequences):
            raise InputError(f"targets must have shape (N={len(self.sequences)}, ...), "
                             f"got {self.targets.shape}")
        self._init_order(len(self.sequences), batch_size, shuffle, seed, drop_last)
        self.pad_value = pad_value
        self.lengths = np.array([len(s) for s in self.sequences], np.int64)

    @staticmethod
    def _check_sequences(sequences, lengths) -> list:
        if isinstance(sequences, np.ndarray) and sequences.dtype != object:
            if sequences.ndim not in (2, 3):
                raise InputError(f"padded sequences must have shape (N, T) or (N, T, D), "
                                 f"got {sequences.shape}")
            N, T = sequences.shape[:2]
            lengths = np.full(N, T) if lengths is None else np.asarray(lengths)
            if lengths.shape != (N,) or lengths.dtype.kind not in "iu" or (
                    N and (lengths.min() < 1 or lengths.max() > T)):
                raise InputError(f"lengths must be (N={N},) integers in [1, T={T}]")
            return [sequences[n, : lengths[n]] for n in range(N)]
        if lengths is not None:
            raise InputError("lengths is only for one padded array; a list of sequences has its own")
        return _check_sequence_list(sequences, "sequences")

    def batch(self, epoch: int, index: int) -> Batch:
        """Batch ``index`` of epoch ``epoch``, padded to its longest sequence."""
        chosen = self._chosen(epoch, index)
        lengths = self.lengths[chosen]                                         # (B,)
        x = pad_sequences(self.sequences, chosen, lengths, self.pad_value)     # (T, B[, D])
        return Batch(x, self.targets[chosen], lengths, int(lengths.sum()))

    def describe(self) -> dict:
        return {"type": "SequenceBatches", "num_sequences": len(self.sequences),
                "batch_size": self.batch_size, "shuffle": self.shuffle, "seed": self.seed,
                "drop_last": self.drop_last}


class Seq2SeqBatches(_ShuffledBatches):
    """Shuffled mini-batches of (source, target) sequence pairs, each side padded on its own.

    For targets that are sequences with their own lengths: translation (target ids a
    decoder predicts) and CTC (label sequences shorter than their inputs). Every epoch
    visits the pairs in the order ``default_rng([seed, epoch]).permutation(N)`` as
    :class:`SequenceBatches` does, so ``batch(epoch, index)`` alone fixes a batch and a
    resumed run sees the same batches. The trainer's default objective for these
    batches is :class:`~rnnkit.training.objectives.ModelLoss`.

    Parameters
    ----------
    sources : list of N arrays
        Each ``(L_n,)`` integer ids or ``(L_n, D)`` float features, ``L_n >= 1``.
    targets : list of N arrays
        Each ``(S_n,)`` integer ids, ``S_n >= 1``; ``targets[n]`` goes with ``sources[n]``.
    batch_size, shuffle, seed, drop_last : as :class:`SequenceBatches`
    pad_value : number
        Written past each source's length.
    target_pad_value : int
        Written past each target's length (a pad id, or an ``ignore_index``).

    Each :class:`Batch` holds ``inputs (T_max, B[, D])``, ``lengths (B,)``,
    ``targets (S_max, B)`` int64, ``target_lengths (B,)`` and ``num_tokens`` = the
    number of valid source positions.
    """

    sequence_targets = True

    def __init__(self, sources, targets, batch_size, shuffle=True, seed=0, drop_last=False,
                 pad_value=0, target_pad_value=0):
        self.sources = _check_sequence_list(sources, "sources")
        if self.sources[0].dtype.kind not in "iuf":
            raise InputTypeError(f"sources must hold integer ids or float features, "
                                 f"got dtype {self.sources[0].dtype}")
        self.targets = _check_sequence_list(targets, "targets")
        if self.targets[0].ndim != 1 or self.targets[0].dtype.kind not in "iu":
            raise InputTypeError(f"targets must be 1-D integer arrays (S_n,) of token ids, got shape "
                                 f"{self.targets[0].shape} and dtype {self.targets[0].dtype}")
        if len(self.targets) != len(self.sources):
            raise InputError(f"sources has {len(self.sources)} sequences but targets has "
                             f"{len(self.targets)}; they pair up one to one")
        self._init_order(len(self.sources), batch_size, shuffle, seed, drop_last)
        self.pad_value = pad_value
        self.target_pad_value = check_scalar(target_pad_value, "target_pad_value", int)
        self.lengths = np.array([len(s) for s in self.sources], np.int64)             # (N,)
        self.target_lengths = np.array([len(t) for t in self.targets], np.int64)      # (N,)
        self._digest = self._content_digest()

    def _content_digest(self) -> str:
        digest = hashlib.sha256()
        for array in (self.lengths, self.target_lengths, *self.sources, *self.targets):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:16]

    def batch(self, epoch: int, index: int) -> Batch:
        """Batch ``index`` of epoch ``epoch``; each side padded to its own longest sequence."""
        chosen = self._chosen(epoch, index)
        lengths, target_lengths = self.lengths[chosen], self.target_lengths[chosen]   # (B,)
        inputs = pad_sequences(self.sources, chosen, lengths, self.pad_value)      # (T, B[, D])
        targets = pad_sequences(self.targets, chosen, target_lengths,
                                self.target_pad_value).astype(np.int64)                # (S, B)
        return Batch(inputs, targets, lengths, int(lengths.sum()), target_lengths)

    def describe(self) -> dict:
        """What identifies this data in a checkpoint (a resumed run must see the same)."""
        return {"type": "Seq2SeqBatches", "num_sequences": len(self.sources),
                "batch_size": self.batch_size, "shuffle": self.shuffle, "seed": self.seed,
                "drop_last": self.drop_last, "sha256": self._digest}
