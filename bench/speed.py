"""Speed of rnnkit's sequence layers against PyTorch on the same shapes (CPU, float32).

For every configuration both libraries run the same workload, interleaved in one
process (rnnkit, torch, rnnkit, torch, ...), and the median of ``--repeats`` timed
runs after warm-up is reported:

* ``train``: forward + full backward (dX and every parameter gradient);
* ``infer``: forward only, under ``rnnkit.no_grad()`` / ``torch.no_grad()``;
* ``gen``:   one-token generation latency, B=1, a 2-layer LSTM (H=512) called one
  step at a time with its state carried over (both libraries at the layer level).

Achieved GFLOP/s counts only the GEMMs (``2 * rows * cols * inner`` each; the backward
does twice the forward's GEMM work) and is given as a share of the sgemm peak of
NumPy's BLAS, measured in the same run. Prints a markdown table, then one JSON line.

``--sweep N`` replaces the fixed configurations with ``N`` random shapes drawn from a
seeded generator (``--sweep-seed``, default 0, so the list is the same every run): batch
``B`` in 1..64 and hidden size ``H`` in 32..1024 (log-uniform), input size ``D`` in
16..1024 drawn separately (never equal to ``H``), sequence length ``T`` in 10..200 and
shortened where a training step would exceed ``SWEEP_GFLOP`` of GEMM work. The fixed six
rows are the shapes rnnkit was tuned on; the sweep is how a user's own sizes fare.

``--gemm`` measures only the per-step product of the recurrent loops, ``h (B, H) @
W_hh^T (H, 4H)``, over a grid of B and H: GFLOP/s of rnnkit's packed kernel
(``rnnkit/kernels/_gemm.py``, one core, W_hh packed beforehand as the loops do once per
sequence), of ``np.dot`` with NumPy's BLAS threads and with one, and of ``torch.mm``.

How the two are timed matters as much as what they run. Back to back (the default), each
library's idle threads, still spinning, slow the other's next run; ``--pause S`` sleeps S
seconds before each timed run, but then a short run starts on cores that have just been
idle, which costs torch several milliseconds (measured 2026-12-08: LSTM (B, T, D, H) =
(14, 24, 19, 82) training, torch 15.6 ms after a 0.2 s pause, 2.5 ms in a loop) and
rnnkit less, so short shapes read several times rnnkit's steady-state ratio. ``--rewarm
K`` runs each library K times, untimed, after the pause and before its timed run: with
``--pause 0.2 --rewarm 5`` both are timed in the steady state of a training loop.

Targets (issue 4), checked at the end: training >= 1.0x torch at every LSTM and GRU
configuration and a geometric mean >= 1.2x over them; inference >= 1.0x; one-token
generation latency <= 1/3 of torch's. The machine's load average is printed before and
after, since the cores may be shared.

Usage::

    python bench/speed.py               # every configuration, median of 5
    python bench/speed.py --quick       # three configurations, median of 5
    python bench/speed.py --repeats 9 --only lstm
    python bench/speed.py --sweep 24 --only lstm --only gru --no-bidir --no-gen
    python bench/speed.py --sweep 24 --no-bidir --no-gen --pause 0.2 --rewarm 5   # steady state
    python bench/speed.py --gemm
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch

import rnnkit
from rnnkit.interop import to_torch

# Seconds of sleep before each timed run (--pause): 0 alternates the libraries back to
# back, so each one's idle threads, still spinning, slow the other's next run.
PAUSE = 0.0
# Untimed runs of the same library right after each pause (--rewarm): a core left idle for
# the pause comes back slowly on a virtual machine, and a short run (a few ms) that starts
# on it reads up to 2x slower than the same run in a loop of steps; measured 2026-12-08,
# LSTM (B, T, D, H) = (50, 48, 25, 113) training, 33 ms after a pause, 15-18 ms in a loop.
REWARM = 0

# (B, T, H) with input size D = H; 1 layer, unidirectional.
CONFIGS = [(32, 100, 128), (64, 100, 256), (64, 50, 512), (16, 200, 1024), (1, 1000, 32)]
QUICK_CONFIGS = [(32, 100, 128), (64, 50, 512), (1, 1000, 32)]
BIDIR = dict(B=32, T=100, H=256, num_layers=2)        # the 2-layer bidirectional LSTM
GEN = dict(H=512, num_layers=2, steps=200)            # one-token generation
LAYERS = {"rnn": rnnkit.RNN, "gru": rnnkit.GRU, "lstm": rnnkit.LSTM}
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
SWEEP_GFLOP = 6.0                                     # GEMM work of one sweep training step, at most


def sweep_shapes(n: int, seed: int = 0) -> list:
    """``n`` shapes (B, T, D, H) drawn from ``seed``: B 1-64, H 32-1024, D 16-1024 (both
    log-uniform, D != H), T 10-200, shortened so 3 forward passes' GEMMs stay under
    SWEEP_GFLOP (LSTM's four gates counted, the largest of the three cells)."""
    rng = np.random.default_rng(seed)
    shapes = []
    while len(shapes) < n:
        B = int(round(np.exp(rng.uniform(0, np.log(64)))))
        H = int(round(np.exp(rng.uniform(np.log(32), np.log(1024)))))
        D = int(round(np.exp(rng.uniform(np.log(16), np.log(1024)))))
        T = int(rng.integers(10, 201))
        if D == H:
            continue
        per_step = 3 * 2.0 * B * 4 * H * (D + H)
        T = max(10, min(T, int(SWEEP_GFLOP * 1e9 / per_step)))
        shapes.append((B, T, D, H))
    return shapes


# -- measuring ------------------------------------------------------------------
def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(fns: dict, repeats: int, warmup: int = 1, pause: float = 0.0,
                rewarm: int = 0) -> dict:
    """Median wall time of each callable, alternating between them every run; with
    ``pause``, that many seconds of sleep (untimed) before each run, so that the idle
    threads of the library run before have stopped spinning (they hold a core a while),
    and then ``rewarm`` untimed runs of the same callable (the cores awake again)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            time.sleep(pause)
            for _ in range(rewarm):
                fn()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def sgemm_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Float32 GEMM throughput of NumPy's BLAS on square (n, n) matrices."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    return 2 * n**3 / median_seconds(lambda: a @ b, repeats) / 1e9


def forward_gemm_flops(kind, B, T, H, D, num_layers=1, dirs=1) -> float:
    """GEMM FLOPs of one forward pass: input projection plus recurrent projection."""
    G = GATES[kind] * H
    flops = 0.0
    for layer in range(num_layers):
        d_in = D if layer == 0 else H * dirs
        flops += dirs * 2.0 * T * B * G * (d_in + H)
    return flops


# -- workloads --------------------------------------------------------------------
def make_pair(kind, D, H, num_layers=1, bidirectional=False):
    ours = LAYERS[kind](D, H, num_layers=num_layers, bidirectional=bidirectional,
                        dtype=np.float32, seed=0)
    theirs = to_torch(ours)
    return ours, theirs


def training_steps(ours, theirs, x, d_out):
    x_t = torch.from_numpy(x).requires_grad_(True)
    d_out_t = torch.from_numpy(d_out)

    def rnnkit_step():
        out, _ = ours(x)
        ours.backward(d_out)

    def torch_step():
        x_t.grad = None
        out, _ = theirs(x_t)
        out.backward(d_out_t)

    return rnnkit_step, torch_step


def inference_steps(ours, theirs, x):
    x_t = torch.from_numpy(x)

    def rnnkit_step():
        with rnnkit.no_grad():
            ours(x)

    def torch_step():
        with torch.no_grad():
            theirs(x_t)

    return rnnkit_step, torch_step


def bench_config(kind, B, T, H, repeats, num_layers=1, bidirectional=False, D=None):
    rng = np.random.default_rng(1)
    D = H if D is None else D
    dirs = 2 if bidirectional else 1
    ours, theirs = make_pair(kind, D, H, num_layers, bidirectional)
    x = rng.standard_normal((T, B, D), dtype=np.float32)
    d_out = rng.standard_normal((T, B, dirs * H), dtype=np.float32)
    fwd_flops = forward_gemm_flops(kind, B, T, H, D, num_layers, dirs)
    name = f"{kind}" + (f" {num_layers}L-bi" if bidirectional else "")
    rows = []
    for mode in ("train", "infer"):
        if mode == "train":
            ours_fn, torch_fn = training_steps(ours, theirs, x, d_out)
            flops = 3 * fwd_flops
        else:
            ours_fn, torch_fn = inference_steps(ours, theirs, x)
            flops = fwd_flops
        t = interleaved({"rnnkit": ours_fn, "torch": torch_fn}, repeats, pause=PAUSE, rewarm=REWARM)
        print(f"  {name} {mode} B={B} T={T} D={D} H={H}: rnnkit/torch "
              f"{t['torch'] / t['rnnkit']:.2f}x", file=sys.stderr, flush=True)
        rows.append(dict(
            model=name, mode=mode, B=B, T=T, D=D, H=H,
            rnnkit_ms=1e3 * t["rnnkit"], torch_ms=1e3 * t["torch"],
            rnnkit_tok_s=B * T / t["rnnkit"], torch_tok_s=B * T / t["torch"],
            speedup=t["torch"] / t["rnnkit"],
            rnnkit_gflops=flops / t["rnnkit"] / 1e9, torch_gflops=flops / t["torch"] / 1e9,
        ))
    return rows


def bench_generation(repeats, H=GEN["H"], num_layers=GEN["num_layers"], steps=GEN["steps"]):
    """Per-token latency of feeding one token at a time, carrying (h, c)."""
    ours, theirs = make_pair("lstm", H, H, num_layers)
    rng = np.random.default_rng(2)
    xs = rng.standard_normal((steps, 1, 1, H), dtype=np.float32)       # (steps, T=1, B=1, D)
    xs_t = torch.from_numpy(xs)

    def rnnkit_generate():
        state = None
        with rnnkit.no_grad():
            for x in xs:
                out, state = ours(x, state)

    def torch_generate():
        state = None
        with torch.no_grad():
            for x in xs_t:
                out, state = theirs(x, state)

    t = interleaved({"rnnkit": rnnkit_generate, "torch": torch_generate}, repeats)
    return dict(model=f"lstm {num_layers}L gen", mode="gen", B=1, T=1, H=H,
                rnnkit_us=1e6 * t["rnnkit"] / steps, torch_us=1e6 * t["torch"] / steps,
                latency_ratio=t["rnnkit"] / t["torch"])


# -- reporting -------------------------------------------------------------------
GEMM_BATCHES = (1, 2, 3, 4, 7, 8, 12, 16, 32, 64)
GEMM_HIDDEN = (128, 256, 512, 1024)


def bench_gemm(repeats):
    """GFLOP/s of the per-step product h (B, H) @ W^T (H, 4H): packed kernel, np.dot with
    the default BLAS threads and with one, torch.mm; interleaved with 0.1 s pauses (without
    them the libraries' spinning threads halve each other's speed), median of ``repeats``."""
    from threadpoolctl import threadpool_limits

    from rnnkit.kernels._gemm import matmul, pack

    rng = np.random.default_rng(0)
    print("| B | H | packed (1 core) | np.dot | np.dot, 1 thread | torch.mm | packed / torch |\n"
          "|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for H in GEMM_HIDDEN:
        W_T = rng.standard_normal((H, 4 * H), dtype=np.float32)
        P, W_T_torch = pack(W_T), torch.from_numpy(W_T)
        for B in GEMM_BATCHES:
            h = rng.standard_normal((B, H), dtype=np.float32)
            out, h_torch = np.empty((B, 4 * H), np.float32), torch.from_numpy(h)
            calls = max(1, int(2e9 / (2.0 * B * H * 4 * H)))       # ~2 GFLOP a timing

            def timed(fn):
                return lambda: [fn() for _ in range(calls)]

            def one_thread():
                with threadpool_limits(1, user_api="blas"):
                    for _ in range(calls):
                        np.dot(h, W_T, out=out)

            times = interleaved({"packed": timed(lambda: matmul(h, P, out)),
                                 "numpy": timed(lambda: np.dot(h, W_T, out=out)),
                                 "numpy1": one_thread,
                                 "torch": timed(lambda: torch.mm(h_torch, W_T_torch))},
                                repeats, warmup=2, pause=0.1)
            gf = {k: 2.0 * B * H * 4 * H * calls / t / 1e9 for k, t in times.items()}
            rows.append(dict(B=B, H=H, **{k: round(v, 1) for k, v in gf.items()}))
            print(f"| {B} | {H} | {gf['packed']:.1f} | {gf['numpy']:.1f} | {gf['numpy1']:.1f} | "
                  f"{gf['torch']:.1f} | {gf['packed'] / gf['torch']:.2f}x |", flush=True)
    return rows


def geometric_mean(values):
    return float(np.exp(np.mean(np.log(values)))) if values else float("nan")


def rnnkit_threads() -> int:
    """The cores rnnkit's loops use (1 for a version without ``kernels.threads``)."""
    import rnnkit.kernels
    threads = getattr(rnnkit.kernels, "threads", None)
    return threads() if threads else 1


def blas_name() -> str:
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{cfg['name']} {cfg.get('version', '')}".strip()
    except Exception:  # pragma: no cover - depends on the NumPy build
        return "unknown"


def print_table(rows, gen, peak):
    print("| model | mode | B | T | D | H | rnnkit ms | torch ms | rnnkit tok/s | torch tok/s "
          "| rnnkit/torch | rnnkit GF/s (% peak) | torch GF/s (% peak) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['mode']} | {r['B']} | {r['T']} | {r['D']} | {r['H']} "
              f"| {r['rnnkit_ms']:.1f} | {r['torch_ms']:.1f} "
              f"| {r['rnnkit_tok_s']:,.0f} | {r['torch_tok_s']:,.0f} | {r['speedup']:.2f}x "
              f"| {r['rnnkit_gflops']:.1f} ({100 * r['rnnkit_gflops'] / peak:.0f}%) "
              f"| {r['torch_gflops']:.1f} ({100 * r['torch_gflops'] / peak:.0f}%) |")
    if gen:
        print(f"\none-token generation, B=1, {gen['model']}, H={gen['H']}: "
              f"rnnkit {gen['rnnkit_us']:.0f} us/token, torch {gen['torch_us']:.0f} us/token, "
              f"latency ratio {gen['latency_ratio']:.2f} (target <= 0.33)")


def summary(rows):
    out = {}
    for mode in ("train", "infer"):
        for kind in ("rnn", "gru", "lstm"):
            sp = [r["speedup"] for r in rows if r["mode"] == mode and r["model"].startswith(kind)]
            if sp:
                out[f"{mode}_{kind}_geomean"] = round(geometric_mean(sp), 3)
                out[f"{mode}_{kind}_min"] = round(min(sp), 3)
        sp = [r["speedup"] for r in rows if r["mode"] == mode and not r["model"].startswith("rnn")]
        if sp:
            out[f"{mode}_lstm_gru_geomean"] = round(geometric_mean(sp), 3)
            out[f"{mode}_lstm_gru_min"] = round(min(sp), 3)
    return out


def targets(summ, gen):
    """The issue's targets, each with the measured value and whether it is met."""
    checks = {}
    if "train_lstm_gru_min" in summ:
        checks["train >= 1.0x at every LSTM/GRU config"] = (summ["train_lstm_gru_min"], summ["train_lstm_gru_min"] >= 1.0)
        checks["train geomean >= 1.2x (LSTM/GRU)"] = (summ["train_lstm_gru_geomean"], summ["train_lstm_gru_geomean"] >= 1.2)
    if "infer_lstm_gru_min" in summ:
        checks["infer >= 1.0x at every LSTM/GRU config"] = (summ["infer_lstm_gru_min"], summ["infer_lstm_gru_min"] >= 1.0)
    if gen:
        checks["generation latency <= 1/3 of torch"] = (round(gen["latency_ratio"], 3), gen["latency_ratio"] <= 1 / 3)
    return checks


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three configurations only")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per measurement (5)")
    parser.add_argument("--only", choices=sorted(LAYERS), action="append",
                        help="restrict to these cell types (repeatable)")
    parser.add_argument("--no-bidir", action="store_true", help="skip the 2-layer bidirectional LSTM")
    parser.add_argument("--no-gen", action="store_true", help="skip the generation latency")
    parser.add_argument("--sweep", type=int, default=0, metavar="N",
                        help="N random shapes (B, T, D, H) instead of the fixed configurations")
    parser.add_argument("--sweep-seed", type=int, default=0, help="seed of the sweep's shapes (0)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (2)")
    parser.add_argument("--pause", type=float, default=0.0,
                        help="seconds of sleep before each timed run, so that neither library's "
                             "idle threads still spin during the other's (default 0)")
    parser.add_argument("--rewarm", type=int, default=0, metavar="K",
                        help="untimed runs of the same library after each pause, before the "
                             "timed one (default 0): the steady state of a loop of steps")
    parser.add_argument("--gemm", action="store_true",
                        help="only the per-step product, packed kernel vs np.dot vs torch.mm")
    args = parser.parse_args(argv)
    global PAUSE, REWARM
    PAUSE, REWARM = args.pause, args.rewarm
    if args.rewarm < 0:
        parser.error(f"--rewarm must be >= 0, got {args.rewarm}")
    repeats = args.repeats or 5
    configs = QUICK_CONFIGS if args.quick else CONFIGS
    kinds = args.only or ["rnn", "gru", "lstm"]
    torch.set_num_threads(args.threads)

    started, load_before = time.perf_counter(), os.getloadavg()[0]
    if args.gemm:
        rows = bench_gemm(repeats)
        print(f"\nload average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
        print(json.dumps(dict(benchmark="rnnkit.speed.gemm", numpy=np.__version__,
                              blas=blas_name(), torch_threads=torch.get_num_threads(),
                              rows=rows)))
        return
    peak = sgemm_peak_gflops()
    print(f"NumPy {np.__version__} BLAS: {blas_name()}; torch {torch.__version__} "
          f"threads={torch.get_num_threads()}; rnnkit loops on {rnnkit_threads()} "
          f"core(s); sgemm peak {peak:.1f} GFLOP/s; "
          f"{platform.processor() or platform.machine()}; median of {repeats}\n")
    shapes = (sweep_shapes(args.sweep, args.sweep_seed) if args.sweep else
              [(B, T, H, H) for B, T, H in configs])
    rows = []
    for kind in kinds:
        for B, T, D, H in shapes:
            rows += bench_config(kind, B, T, H, repeats, D=D)
    if "lstm" in kinds and not args.no_bidir:
        rows += bench_config("lstm", BIDIR["B"], BIDIR["T"], BIDIR["H"], repeats,
                             num_layers=BIDIR["num_layers"], bidirectional=True)
    gen = None if args.no_gen else bench_generation(repeats)
    print_table(rows, gen, peak)
    summ = summary(rows)
    checks = targets(summ, gen)
    load_after, elapsed = os.getloadavg()[0], time.perf_counter() - started
    print("\n| target | measured | met |\n|---|---:|---|")
    for name, (value, met) in checks.items():
        print(f"| {name} | {value:.2f} | {'yes' if met else 'NO'} |")
    print(f"\nload average (1 min) {load_before:.1f} before, {load_after:.1f} after; {elapsed:.0f} s")
    rounded = lambda d: {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}  # noqa: E731
    result = dict(benchmark="rnnkit.speed", numpy=np.__version__, blas=blas_name(),
                  torch=torch.__version__, torch_threads=torch.get_num_threads(),
                  rnnkit_threads=rnnkit_threads(), pause=PAUSE, rewarm=REWARM, sgemm_peak_gflops=round(peak, 1), repeats=repeats,
                  sweep=dict(n=args.sweep, seed=args.sweep_seed) if args.sweep else None,
                  load_average=[round(load_before, 2), round(load_after, 2)],
                  seconds=round(elapsed, 1), summary=summ,
                  targets={k: dict(value=v, met=bool(m)) for k, (v, m) in checks.items()},
                  generation=rounded(gen) if gen else None, rows=[rounded(r) for r in rows])
    print("\n" + json.dumps(result))


if __name__ == "__main__":
    main()
