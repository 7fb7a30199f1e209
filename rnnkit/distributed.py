"""Synchronous data-parallel training over MPI (``mpirun -n R rnnkit <app> train ...``).

Every rank (process) holds the whole model. Step ``k``, in the order the code runs it::

    batch_k                   = train_data.batch(epoch, index)      # the global batch, B columns
    [lo_r, hi_r)              = shard_range(B, r, R)                # rank r's examples / streams
    L_r, g_r                  = objective on batch_k[:, lo_r:hi_r]  # forward + backward
    w_r                       = objective.batch_weight(batch_r)     # items L_r is a mean over
    g                         = sum_r w_r g_r / sum_r w_r            # Allreduce(SUM), flat buckets
    L                         = sum_r w_r L_r / sum_r w_r
    clip g by its global norm; optimizer.step()                     # the same on every rank

so ``R`` ranks with ``B / R`` examples each compute the gradient of a single process with
batch ``B``: the mean over the global batch, whatever the split. Weights start equal
(broadcast from rank 0), every rank applies the same update, so they stay equal.

Token streams (truncated BPTT) are split by stream: rank ``r`` carries the hidden state of
streams ``lo_r..hi_r`` from one chunk to the next. Padded batches are split by example.
Validation is split the same way; each rank's sums (loss, correct, count) are added up.

Only rank 0 writes files (checkpoints, metrics, plots, reports) and prints; a checkpoint
holds every rank's dropout generators and the carried state of every stream, so
``--resume`` continues each rank where it was.

Nothing here imports ``mpi4py`` unless the process was started by an MPI launcher with
more than one rank (``OMPI_COMM_WORLD_SIZE`` / ``PMI_SIZE`` / ``PMIX_SIZE`` above 1). A plain
run gets :data:`SINGLE`, and the trainer takes exactly the code path it always had.
Set ``RNNKIT_DISTRIBUTED=0`` to ignore the launcher.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from rnnkit.errors import InputError, MissingFileError

__all__ = ["World", "SINGLE", "world", "is_writer", "shard_range", "Shard", "GradientReducer",
           "abort"]

_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE")
_LOCAL_SIZE_VARIABLES = ("OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "PMI_LOCAL_SIZE")
BUCKET_BYTES = 16 * 2**20          # gradients are all-reduced in flat buffers of at most this


class World:
    """The ranks of one job: ``rank`` (0..size-1), ``size``, ``local_size`` (ranks on this
    machine) and ``comm`` (an ``mpi4py`` communicator, None for a single process)."""

    def __init__(self, comm=None, local_size=1, mpi=None):
        self.comm, self._mpi = comm, mpi         # mpi: the mpi4py.MPI module (None: one process)
        self.rank = 0 if comm is None else comm.Get_rank()
        self.size = 1 if comm is None else comm.Get_size()
        self.local_size = local_size

    @property
    def active(self) -> bool:
        """More than one rank: the trainer shards batches and all-reduces gradients."""
        return self.size > 1

    def allreduce_sum(self, array: np.ndarray) -> np.ndarray:
        """Element-wise sum over the ranks, in place (a contiguous array)."""
        if self.active:
            self.comm.Allreduce(self._mpi.IN_PLACE, array, op=self._mpi.SUM)
        return array

    def allgather(self, value) -> list:
        """``value`` (picklable, in memory) from every rank, in rank order."""
        return [value] if not self.active else self.comm.allgather(value)

    def gather(self, value):
        """``value`` from every rank on rank 0 (a list there, None elsewhere)."""
        return [value] if not self.active else self.comm.gather(value, root=0)

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        if self.active:
            self.comm.Barrier()

    def broadcast_(self, array: np.ndarray) -> None:
        """Overwrite ``array`` (contiguous) with rank 0's, in place."""
        if self.active:
            self.comm.Bcast(array, root=0)

    def __repr__(self):
        return f"World(rank={self.rank}, size={self.size})"


SINGLE = World()
_world = None


def _launched_size() -> int:
    if os.environ.get("RNNKIT_DISTRIBUTED", "1") == "0":
        return 1
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 1


def local_size() -> int:
    """Ranks of this job on this machine (1 without a launcher)."""
    if _launched_size() <= 1:
        return 1
    for name in _LOCAL_SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def world() -> World:
    """This process's :class:`World`: MPI's COMM_WORLD under a launcher with several ranks
    (``mpi4py`` imported then, once), else :data:`SINGLE`."""
    global _world
    if _world is None:
        size = _launched_size()
        if size <= 1:
            _world = SINGLE
        else:
            try:
                from mpi4py import MPI
            except ImportError:
                raise MissingFileError(
                    f"started by an MPI launcher with {size} ranks, but mpi4py is not installed: "
                    f"pip install 'rnnkit[mpi]' (or run without mpirun)") from None
            _world = World(MPI.COMM_WORLD, local_size(), MPI)
    return _world


def is_writer() -> bool:
    """Whether this process writes files: rank 0, or a plain run."""
    return world().rank == 0


# --------------------------------------------------------------------------- sharding


def shard_range(total: int, rank: int, size: int) -> tuple[int, int]:
    """Rank ``rank``'s columns ``[lo, hi)`` of ``total``: as ``numpy.array_split``, the
    first ``total % size`` ranks one more (``lo == hi``: nothing for this rank)."""
    base, extra = divmod(total, size)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (rank < extra)


class Shard:
    """Rank ``rank``'s part of every batch of ``loader`` (a TokenStream, SequenceBatches,
    Seq2SeqBatches or any loader with ``batch(epoch, index)`` -> Batch).

    ``batch(epoch, index)`` returns the columns ``shard_range(B, rank, size)`` of the
    global batch (streams, examples or pairs; padding trimmed to the shard's longest), or
    None when the batch has fewer columns than ranks and none is left for this one.
    """

    def __init__(self, loader, rank: int, size: int):
        self.loader, self.rank, self.size = loader, rank, size
        self.num_batches = loader.num_batches
        self.batch_size = getattr(loader, "batch_size", None)
        self.carries_state = getattr(loader, "carries_state", False)
        self.sequence_targets = getattr(loader, "sequence_targets", False)

    def batch(self, epoch: int, index: int):
        return self.cut(self.loader.batch(epoch, index))

    def cut(self, batch):
        from rnnkit.training.data import Batch

        lo, hi = shard_range(batch.inputs.shape[1], self.rank, self.size)
        if lo == hi:
            return None
        lengths = None if batch.lengths is None else batch.lengths[lo:hi]
        steps = batch.inputs.shape[0] if lengths is None else int(lengths.max())
        inputs = batch.inputs[:steps, lo:hi]                                  # (T_r, B_r[, D])
        target_lengths = None if batch.target_lengths is None else batch.target_lengths[lo:hi]
        if self.carries_state:                                                # (T, B) next ids
            targets = batch.targets[:, lo:hi]
        elif target_lengths is not None:                                      # (S, B) sequences
            targets = batch.targets[:int(target_lengths.max()), lo:hi]
        else:                                                                 # (B, ...) one each
            targets = batch.targets[lo:hi]
        tokens = int(inputs.shape[0] * inputs.shape[1]) if lengths is None else int(lengths.sum())
        return Batch(inputs, targets, lengths, tokens, target_lengths)


def batch_weight(objective, model, batch) -> float:
    """How many items ``objective``'s loss of ``batch`` is a mean over (its
    ``batch_weight``; for an objective without one, the number of columns)."""
    weight = getattr(objective, "batch_weight", None)
    return float(weight(model, batch)) if callable(weight) else float(batch.inputs.shape[1])


def state_batch_axis(model) -> int:
    """The axis of the carried state that runs over streams: found by comparing
    ``model.init_state(2)`` and ``init_state(3)`` (rnnkit's states are ``(L, B, H)``)."""
    init = getattr(model, "init_state", None)
    if callable(init):
        a, b = init(2), init(3)
        a = a[0] if isinstance(a, tuple) else a
        b = b[0] if isinstance(b, tuple) else b
        for axis, (x, y) in enumerate(zip(a.shape, b.shape)):
            if (x, y) == (2, 3):
                return axis
    return -2


def slice_state(state, lo: int, hi: int, axis: int):
    """Streams ``lo..hi`` of a carried state (an array or a tuple of arrays)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(slice_state(s, lo, hi, axis) for s in state)
    index = [slice(None)] * state.ndim
    index[axis] = slice(lo, hi)
    return np.ascontiguousarray(state[tuple(index)])


def join_states(states: list, axis: int):
    """The carried states of every rank, in rank order, as one (None entries skipped)."""
    states = [s for s in states if s is not None]
    if not states:
        return None
    if isinstance(states[0], tuple):
        return tuple(np.concatenate(parts, axis=axis) for parts in zip(*states))
    return np.concatenate(states, axis=axis)


# --------------------------------------------------------------------------- gradients


class GradientReducer:
    """Averages the gradients of ``params`` over the ranks, weighted, in a few calls.

    The gradients are copied (times the rank's weight ``w_r``) into flat buffers of at
    most ``bucket_bytes``, one dtype each, in parameter order; each buffer is all-reduced
    in place, then ``grad = buffer / sum_r w_r`` is copied back. A float64 vector of
    scalars (loss sum, weight, tokens, stop flags) travels in one more call.
    """

    def __init__(self, world_: World, params, bucket_bytes: int = BUCKET_BYTES):
        self.world = world_
        self.params = list(params)
        self.buckets = []                      # (flat buffer, [(param, offset, size)])
        current, offset, dtype = [], 0, None
        for p in self.params:
            size = p.grad.size
            if current and (p.grad.dtype != dtype or (offset + size) * p.grad.itemsize > bucket_bytes):
                self.buckets.append((np.empty(offset, dtype), current))
                current, offset = [], 0
            dtype = p.grad.dtype
            current.append((p, offset, size))
            offset += size
        if current:
            self.buckets.append((np.empty(offset, dtype), current))
        self.reduced_bytes = sum(buffer.nbytes for buffer, _ in self.buckets)
        self.comm_seconds = 0.0                # time inside the all-reduce calls, summed

    def reduce(self, weight: float, scalars: np.ndarray) -> np.ndarray:
        """All-reduce ``weight * grad`` of every parameter and ``scalars`` (float64, summed);
        divide the gradients by the summed weight (``scalars`` must hold ``weight`` at
        index 1). Returns the summed scalars."""
        start = time.perf_counter()
        scalars = self.world.allreduce_sum(np.ascontiguousarray(scalars, np.float64))
        total = scalars[1]
        for buffer, members in self.buckets:
            for p, offset, size in members:             # any memory layout of p.grad
                np.multiply(p.grad, weight, out=buffer[offset:offset + size].reshape(p.grad.shape))
            self.world.allreduce_sum(buffer)
            if total > 0:
                buffer /= buffer.dtype.type(total)
            for p, offset, size in members:
                p.grad[...] = buffer[offset:offset + size].reshape(p.grad.shape)
        self.comm_seconds += time.perf_counter() - start
        return scalars


def broadcast_parameters(world_: World, params) -> None:
    """Every rank's weights := rank 0's."""
    for p in params:
        world_.broadcast_(p.data)


def reseed_for_rank(world_: World, rngs: dict) -> None:
    """Give ranks 1.. generators of their own (dropout masks must differ between ranks);
    rank 0 keeps its stream, so its masks are those of a plain run."""
    if world_.rank == 0:
        return
    for generator in rngs.values():
        words = generator.integers(0, 2**63, size=2)
        generator.bit_generator.state = np.random.default_rng(
            [int(words[0]), int(words[1]), world_.rank]).bit_generator.state


# --------------------------------------------------------------------------- agreement


def _flatten(value, prefix="") -> dict:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): json.dumps(value, sort_keys=True, default=str)}


def check_same_setup(world_: World, setup: dict) -> None:
    """Refuse to train when the ranks were started differently (another model size,
    data, optimizer...): InputError on every rank, naming the first differences."""
    mine = _flatten(setup)
    every = world_.allgather(mine)
    differences = []
    for rank, theirs in enumerate(every):
        for key in sorted(set(theirs) | set(every[0])):
            if theirs.get(key) != every[0].get(key):
                differences.append(f"{key}: rank 0 has {every[0].get(key, '(none)')}, "
                                   f"rank {rank} has {theirs.get(key, '(none)')}")
    if differences:
        shown = "; ".join(differences[:3]) + (f"; and {len(differences) - 3} more"
                                               if len(differences) > 3 else "")
        raise InputError(f"the {world_.size} ranks of this job are set up differently, so they "
                         f"cannot train one model: {shown}")


def abort(world_: World, code: int, message: str) -> None:
    """Print ``message`` (one line, standard error) and stop every rank of the job.

    Called when one rank fails: the others may be waiting in an all-reduce and would
    otherwise hang. A rank other than 0 waits two seconds first, so an error every rank
    hits (a wrong option) is printed once, by rank 0, whose abort ends the job.
    """
    if world_.rank != 0:
        time.sleep(2.0)
        message = f"[rank {world_.rank} of {world_.size}] {message}"
    stderr = sys.__stderr__ or sys.stderr            # the real one, even where it was silenced
    stderr.write(message if message.endswith("\n") else message + "\n")
    stderr.flush()
    world_.comm.Abort(code)
