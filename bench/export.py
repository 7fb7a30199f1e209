"""The exported text generator under ONNX Runtime, rnnkit and torch, side by side.

The text-generation benchmark's model (Embedding 65x64, 2-layer LSTM 512, Linear to 65;
float32; random weights: speed does not depend on them), exported with
``rnnkit.export.to_onnx``; its torch twin is ``nn.Embedding -> nn.LSTM -> nn.Linear`` with
the same weights (checked: the logits agree within 1e-5). Two measurements, each engine
in turn, in ``--repeats`` interleaved blocks so all see the same machine load:

``latency``     one-token generation: ``--tokens`` steps of ``T = 1, B = 1`` with the state
                fed back, median microseconds per token;
``throughput``  batch inference: ``(T, B) = (100, 32)`` chunks from a zero state, median
                characters per second.

Threads: ``--threads`` for NumPy's BLAS, ``torch.set_num_threads`` and ONNX Runtime's
``intra_op_num_threads`` (default 1).

Usage::

    python bench/export.py --repeats 5 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

V, E, H, L = 65, 64, 512, 2
BATCH, STEPS = 32, 100


def build(threads):
    import onnxruntime as ort

    from rnnkit.export import to_onnx
    from rnnkit.models import LanguageModel
    from rnnkit.models.language_model_interop import to_torch

    model = LanguageModel(V, embed_size=E, hidden_size=H, num_layers=L, cell="lstm", seed=0).eval()
    path = os.path.join(tempfile.mkdtemp(), "lm.onnx")
    to_onnx(model, path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = threads
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    twin = to_torch(model).eval()
    return model, session, twin, os.path.getsize(path)


def engines(model, session, twin):
    """name -> step(ids (T, B) int64, state) -> (logits, state); state None = zeros."""
    import torch

    import rnnkit

    def zeros(B):
        return np.zeros((L, B, H), np.float32)

    def run_rnnkit(ids, state):
        with rnnkit.no_grad():
            return model.forward(ids, state)

    def run_onnx(ids, state):
        h, c = state if state is not None else (zeros(ids.shape[1]),) * 2
        logits, h, c = session.run(None, {"ids": ids, "h0": h, "c0": c})
        return logits, (h, c)

    def run_torch(ids, state):
        with torch.inference_mode():
            if state is None:
                state = (torch.zeros(L, ids.shape[1], H),) * 2
            logits, state = twin(torch.from_numpy(ids), state)
            return logits, state

    return {"rnnkit": run_rnnkit, "onnxruntime": run_onnx, "torch": run_torch}


def check_same(steps, rng):
    ids = rng.integers(0, V, (7, 3))
    outputs = {name: np.asarray(step(ids, None)[0]) for name, step in steps.items()}
    return {name: float(np.abs(out - outputs["rnnkit"]).max()) for name, out in outputs.items()}


def latency(step, tokens, rng):
    ids = rng.integers(0, V, (tokens, 1, 1))
    state = None
    start = time.perf_counter()
    for t in range(tokens):
        logits, state = step(ids[t], state)
    return (time.perf_counter() - start) / tokens


def throughput(step, chunks, rng):
    ids = rng.integers(0, V, (STEPS, BATCH))
    start = time.perf_counter()
    for _ in range(chunks):
        step(ids, None)
    return chunks * STEPS * BATCH / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="interleaved blocks (default 5)")
    parser.add_argument("--tokens", type=int, default=200, help="tokens per latency block")
    parser.add_argument("--chunks", type=int, default=3, help="chunks per throughput block")
    parser.add_argument("--threads", type=int, default=1, help="threads of every engine (default 1)")
    args = parser.parse_args(argv)
    import onnxruntime as ort
    import torch

    from rnnkit.apps._threads import blas_threads

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    with blas_threads(args.threads):
        model, session, twin, size = build(args.threads)
        steps = engines(model, session, twin)
        rng = np.random.default_rng(0)
        differences = check_same(steps, rng)
        for step in steps.values():                                     # warm up
            latency(step, 5, rng)
            throughput(step, 1, rng)
        lat = {name: [] for name in steps}
        thr = {name: [] for name in steps}
        for _ in range(args.repeats):
            for name, step in steps.items():
                lat[name].append(latency(step, args.tokens, rng))
                thr[name].append(throughput(step, args.chunks, rng))
    median_lat = {k: float(np.median(v)) for k, v in lat.items()}
    median_thr = {k: float(np.median(v)) for k, v in thr.items()}
    print(f"model: Embedding {V}x{E} -> LSTM {E}->{H} x {L} -> Linear {H}->{V}, float32; "
          f"ONNX file {size / 2**20:.1f} MiB; largest logit difference from rnnkit: "
          + ", ".join(f"{k} {v:.1e}" for k, v in differences.items() if k != "rnnkit"))
    print(f"\n| engine | one-token latency (us) | vs rnnkit | batch inference (chars/s, "
          f"{STEPS}x{BATCH}) | vs rnnkit |\n|---|---:|---:|---:|---:|")
    for name in steps:
        print(f"| {name} | {median_lat[name] * 1e6:,.0f} | {median_lat['rnnkit'] / median_lat[name]:.2f}x | "
              f"{median_thr[name]:,.0f} | {median_thr[name] / median_thr['rnnkit']:.2f}x |")
    print(f"\n(median of {args.repeats} interleaved blocks; 'vs rnnkit' > 1 is faster than rnnkit; "
          f"{args.threads} thread(s); load average {load_before:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after)")
    print(json.dumps({"bench": "export", "threads": args.threads, "repeats": args.repeats,
                      "latency_s": median_lat, "chars_per_s": median_thr,
                      "latency_blocks": lat, "throughput_blocks": thr,
                      "differences": differences, "onnx_bytes": size,
                      "onnxruntime": ort.__version__, "torch": torch.__version__,
                      "numpy": np.__version__, "machine": platform.machine(),
                      "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
