"""Training throughput of the text-generation model, rnnkit against its torch twin, in
alternating blocks: the ratio the issue's goal asks for, read so that the machine's drift
falls on both sides alike.

``bench/textgen_quality.py`` trains one side, then the other: on a shared machine a minute
of someone else's work lands on one side only (its 1.5-minute runs have read 0.93-1.00x).
Here each library trains in its own process, and they take turns::

    for block in 1 .. --blocks:          (the order flips every block)
        sleep --pause                    (neither side's idle threads still spin)
        rnnkit process: --steps training steps, each timed
        sleep --pause
        torch process:  --steps training steps, each timed

Both train exactly as in ``bench/textgen_quality.py`` (same data, model, initial weights,
optimizer, clipping; rnnkit through its ``Trainer``, state carried between windows), after
one untimed block each. Printed: each side's median step time and characters per second,
the ratio (rnnkit / torch throughput) of the medians, and the ratios of the blocks' medians
(lowest, median, highest).

Usage::

    python bench/textgen_throughput.py                   # 8 blocks of 8 steps
    python bench/textgen_throughput.py --blocks 16 --steps 5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import textgen_quality as quality  # noqa: E402


def rnnkit_stepper(vocab, train_ids):
    """A function running n training steps of rnnkit's model through its Trainer."""
    from rnnkit.optim import Adam
    from rnnkit.training import TokenStream, Trainer
    c = quality.CONFIG
    quality.warm_up_rnnkit(len(vocab), train_ids)
    model = quality.rnnkit_model(len(vocab))
    data = TokenStream(train_ids, batch_size=c["batch_size"], seq_len=c["seq_len"])
    trainer = Trainer(model, Adam(model.parameters(), lr=c["lr"]), data,
                      clip_grad_norm=c["clip"], max_steps=10**9, progress=False)

    def steps(n):
        times = []
        for _ in range(n):
            start = time.perf_counter()
            trainer._train_step()
            times.append(time.perf_counter() - start)
        return times
    return steps


def torch_stepper(vocab, train_ids):
    """The same for the torch twin, trained as ``textgen_quality.train_torch`` trains it."""
    _, train_step = quality.torch_training(vocab, train_ids,
                                           quality.rnnkit_model(len(vocab)).state_dict())
    done = {"steps": 0}

    def steps(n):
        times = []
        for _ in range(n):
            start = time.perf_counter()
            train_step(done["steps"])
            done["steps"] += 1
            times.append(time.perf_counter() - start)
        return times
    return steps


def serve(side, data, threads) -> None:
    """The child process: reads a step count per line, answers with the steps' times."""
    import torch
    from threadpoolctl import threadpool_limits

    from rnnkit import kernels
    torch.set_num_threads(threads)
    threadpool_limits(threads, user_api="blas")
    kernels.set_threads(threads)
    vocab, train_ids, _ = quality.load_data(data)
    steps = (rnnkit_stepper if side == "rnnkit" else torch_stepper)(vocab, train_ids)
    print("ready", flush=True)
    for line in sys.stdin:
        print(json.dumps(steps(int(line))), flush=True)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="?", default=str(quality.DEFAULT_DATA),
                        help="tinyshakespeare input.txt (default: ../shared/data/... from the repo)")
    parser.add_argument("--blocks", type=int, default=8, help="timed blocks per side (8)")
    parser.add_argument("--steps", type=int, default=8, help="training steps per block (8)")
    parser.add_argument("--pause", type=float, default=0.2, help="seconds of sleep before each block (0.2)")
    parser.add_argument("--threads", type=int, default=2, help="threads for each side (2)")
    parser.add_argument("--serve", choices=("rnnkit", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.blocks < 1 or args.steps < 1 or args.pause < 0 or args.threads < 1:
        parser.error("--blocks, --steps and --threads must be >= 1, --pause >= 0")
    if not Path(args.data).is_file():
        parser.error(f"data: no file at {args.data}")
    if args.serve:
        serve(args.serve, args.data, args.threads)
        return {}

    sides = {}
    for side in ("rnnkit", "torch"):
        sides[side] = subprocess.Popen(
            [sys.executable, __file__, args.data, "--serve", side, "--threads", str(args.threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert sides[side].stdout.readline().strip() == "ready", f"{side} did not start"

    def block(side):
        time.sleep(args.pause)
        sides[side].stdin.write(f"{args.steps}\n")
        sides[side].stdin.flush()
        return json.loads(sides[side].stdout.readline())

    for side in sides:                                   # one untimed block each
        block(side)
    times = {side: [] for side in sides}
    for b in range(args.blocks):
        for side in (("rnnkit", "torch") if b % 2 == 0 else ("torch", "rnnkit")):
            times[side].append(block(side))
    for process in sides.values():
        process.stdin.close()
        process.wait()

    c = quality.CONFIG
    chars = c["batch_size"] * c["seq_len"]
    median = {side: float(np.median(np.concatenate(t))) for side, t in times.items()}
    block_ratios = sorted(np.median(t) / np.median(r) for r, t in zip(times["rnnkit"], times["torch"]))
    ratio = median["torch"] / median["rnnkit"]
    print(f"{args.blocks} blocks of {args.steps} steps per side, {args.threads} thread(s), "
          f"pause {args.pause:g} s")
    for side in sides:
        print(f"{side:7s} median step {median[side] * 1e3:7.1f} ms   {chars / median[side]:7,.0f} chars/s")
    print(f"ratio (rnnkit / torch throughput): {ratio:.3f}x; blocks "
          f"{block_ratios[0]:.3f} / {np.median(block_ratios):.3f} / {block_ratios[-1]:.3f}x "
          f"(lowest / median / highest); goal >= 1.0x: {'met' if ratio >= 1.0 else 'not met'}")
    record = {"bench": "textgen_throughput", "blocks": args.blocks, "steps": args.steps,
              "threads": args.threads, "pause": args.pause,
              "rnnkit_step_ms": round(median["rnnkit"] * 1e3, 2),
              "torch_step_ms": round(median["torch"] * 1e3, 2), "ratio": round(ratio, 4),
              "block_ratios": [round(r, 4) for r in block_ratios]}
    print(json.dumps(record))
    return record


if __name__ == "__main__":
    main()
