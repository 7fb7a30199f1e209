"""Translation benchmarks: numbers fr->en, Ding de->en against the PyTorch twin, decoding speed.

The issue's goals: numbers fr->en exact match >= 99% on held-out numbers; Ding de->en
BLEU with attention clearly above the no-attention baseline and >= the PyTorch twin
at equal wall time; training throughput (target tokens/s) >= 1.0x the twin's; and the
BLEU gain of beam search (k = 1, 4, 8) with the sentences/s of translating.

``numbers``  rnnkit only. Candidate settings (``CANDIDATES``) each train for --minutes
    on the fixed train split (8,972 numbers, characters) with ``train_translator`` (the
    code ``rnnkit translate train`` runs: Adam, clip 5, validation loss every epoch,
    best weights kept); the one with the best *validation* exact match (greedy) is
    scored once on the test split (527 numbers), greedy and beam 4. Its run directory
    is an ``rnnkit translate`` model (``--out``).
``ding``  four runs, interleaved in slices of --slice-seconds until each has trained
    --minutes (only its own steps are timed): rnnkit and its torch twin
    (``rnnkit.seq2seq.interop.to_torch``: same weights to start, nn.LSTM + nn.LSTMCell
    + the attention in torch ops), each with general attention and without attention.
    Every run sees the same batches (``Seq2SeqBatches(seed=0)``, batch(epoch, index)),
    takes the same step (zero grads, teacher-forced loss, backward, clip the global
    norm at 5, Adam lr 2e-3, betas (0.9, 0.999), eps 1e-8) and keeps its final weights.
    Scores, untimed, by the same rnnkit code for all four (the twins' weights copied
    back with ``from_torch``): validation loss in nats per target token; test BLEU and
    chrF (sacrebleu) of greedy decoding, and beam 4 and 8 for the rnnkit attention model.
    Data: Ding pairs whose two sides have at most 20 word tokens each (all splits),
    word vocabularies of the train split with min_count 5 (<unk> for the rest).
``sentences/s``: every score above comes with the speed of translating the test set
    (batches of 64, one process; encoder, search and detokenising included).
``--throughput-only``  training speed alone, in a few minutes: for each attention
    kind (--attention), an rnnkit model and its torch twin (same starting weights, same
    step as ``ding``) each take --steps training steps on the same batches, alternating
    step by step so that both see the same machine load; the steps are split into
    --repeats blocks and each block gives one ratio rnnkit / torch of target tokens/s
    (the table shows every block, the median and the spread). ``ding`` uses the Ding
    configuration (``--hidden-size`` / ``--embed-size`` override its widths), ``numbers``
    the first candidate's character model on the numbers data. Two twins take the same
    steps: ``torch`` projects every target position to the vocabulary, padding included
    (what a model written the usual torch way does), ``torch-valid`` only the real ones,
    as rnnkit's ``Seq2Seq.loss`` does (same loss and gradients); both ratios are shown.

Threads: --threads (default 1) for NumPy's BLAS (rnnkit.apps._threads.blas_threads) and
torch.set_num_threads: the models are small, and on a machine whose 2 cores are shared
two threads made steps many times slower in both libraries (bench/textgen_quality.py).

Usage::

    python bench/translate.py numbers --minutes 3     # per candidate setting
    python bench/translate.py ding --minutes 8        # per run (4 runs: ~35 min in all)
    python bench/translate.py ding --throughput-only --steps 60 --repeats 3   # ~2 min

Each prints markdown tables and one JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time

import numpy as np

from _steps import rnnkit_step, time_alternating, torch_step
from rnnkit.apps._threads import blas_threads
from rnnkit.translation import TranslateConfig, Translator, build_model, train_translator

CANDIDATES = {
    "lstm-b32": TranslateConfig(level="char", cell="lstm", batch_size=32, lr=2e-3),
    "gru-b32": TranslateConfig(level="char", cell="gru", batch_size=32, lr=3e-3),
}
DING = dict(max_words=20, min_count=5)
DING_CONFIG = TranslateConfig(level="word", cell="lstm", embed_size=128, hidden_size=256,
                              batch_size=64, lr=2e-3, clip=5.0, seed=0)
GOALS = {"numbers_exact": 0.99, "throughput_ratio": 1.0}


def load_now() -> float:
    return round(os.getloadavg()[0], 2)


# --------------------------------------------------------------------------- numbers


def run_numbers(minutes: float, out: str) -> dict:
    from rnnkit.data.translation import number_pairs

    train, val, test = (number_pairs("fr-en", split) for split in ("train", "val", "test"))
    extra = {"app": "translate", "source": {"dataset": "numbers", "pair": "fr-en"}}
    print(f"numbers fr-en: {len(train):,} train / {len(val)} val / {len(test)} test, "
          f"{minutes:g} min per candidate", flush=True)
    runs = {}
    for name, config in CANDIDATES.items():
        config = dataclasses.replace(config, epochs=1000, patience=None, max_minutes=minutes)
        translator, summary = train_translator(train, val, config, os.path.join(out, name),
                                               extra=extra, progress=False)
        runs[name] = {"config": dataclasses.asdict(config), "translator": translator,
                      "epochs": summary["epoch"], "steps": summary["step"],
                      "best_val_loss": summary["best_val_loss"],
                      "val_exact": translator.evaluate(val)["exact_match"]}
        print(f"  {name}: {runs[name]['epochs']} epochs, val loss {runs[name]['best_val_loss']:.4f}, "
              f"val exact match {runs[name]['val_exact']:.4f}", flush=True)
    chosen = max(runs, key=lambda name: runs[name]["val_exact"])
    tests = {beam: runs[chosen]["translator"].evaluate(test, beam=beam) for beam in (1, 4)}

    print("\n| setting | epochs | best val loss | val exact match (greedy) |\n|---|---:|---:|---:|")
    for name, r in runs.items():
        print(f"| {name}{' (chosen)' if name == chosen else ''} | {r['epochs']} | "
              f"{r['best_val_loss']:.4f} | {r['val_exact']:.4f} |")
    print(f"\ntest, {chosen}:\n\n| decoding | exact match | BLEU | chrF | sentences/s |\n|---|---:|---:|---:|---:|")
    for beam, s in tests.items():
        print(f"| {'greedy' if beam == 1 else f'beam {beam}'} | {s['exact_match']:.4f} | "
              f"{s['bleu']:.2f} | {s['chrf']:.2f} | {s['sentences_per_s']:.0f} |")
    for source, output, reference in tests[1]["examples"]:
        print(f"  {source} -> {output}   (reference: {reference})")
    exact = tests[1]["exact_match"]
    print(f"\ngoal: exact match >= {GOALS['numbers_exact']:.0%} -> {exact:.2%}: "
          f"{'met' if exact >= GOALS['numbers_exact'] else 'not met'}")
    return {"bench": "translate_numbers", "minutes_per_candidate": minutes, "chosen": chosen,
            "model_dir": os.path.join(out, chosen),
            "candidates": {name: {k: v for k, v in r.items() if k != "translator"}
                           for name, r in runs.items()},
            "test": {f"beam{beam}": _scores(s) for beam, s in tests.items()}}


def _scores(s: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in s.items() if k != "examples"}


# --------------------------------------------------------------------------- ding


def ding_data():
    from rnnkit.data.tokenize import word_tokenize
    from rnnkit.data.translation import build_vocabularies, ding_pairs

    def short(pairs):
        return [p for p in pairs if max(len(word_tokenize(side)) for side in p) <= DING["max_words"]]

    train, val, test = (short(ding_pairs(split)) for split in ("train", "val", "test"))
    vocabularies = build_vocabularies(train, "word", min_count=DING["min_count"])
    return train, val, test, vocabularies


class Run:
    """One model training on the shared batches; the clock runs only inside its steps."""

    def __init__(self, library, attention, model, batches):
        self.library, self.attention, self.batches = library, attention, batches
        self.model = model if library == "rnnkit" else _torch_twin(model)
        make_step = rnnkit_step if library == "rnnkit" else torch_step
        self.step_fn = make_step(self.model, DING_CONFIG.lr, DING_CONFIG.clip)
        self.steps, self.seconds, self.target_tokens, self.last_loss = 0, 0.0, 0, float("nan")

    def train_for(self, seconds: float, budget: float) -> None:
        """Train for about ``seconds`` more, never past ``budget`` seconds in all."""
        n = self.batches.num_batches
        stop = min(self.seconds + seconds, budget)
        while self.seconds < stop:
            start = time.perf_counter()
            batch = self.batches.batch(self.steps // n, self.steps % n)
            self.last_loss = self.step_fn(batch)
            self.seconds += time.perf_counter() - start
            self.steps += 1
            self.target_tokens += int(batch.target_lengths.sum())

    def rnnkit_model(self):
        if self.library == "rnnkit":
            return self.model
        from rnnkit.seq2seq.interop import from_torch
        return from_torch(self.model)


def _torch_twin(model):
    from rnnkit.seq2seq.interop import to_torch
    return to_torch(model)


def validation_loss(model, batches) -> float:
    """Mean cross-entropy per target token over every validation pair (no dropout)."""
    from rnnkit.module import no_grad

    model.eval()
    total, tokens = 0.0, 0
    with no_grad():
        for i in range(batches.num_batches):
            batch = batches.batch(0, i)
            count = int(batch.target_lengths.sum())
            total += model.loss(batch) * count
            tokens += count
    return total / tokens


def run_ding(minutes: float, slice_seconds: float, test_limit=None) -> dict:
    from rnnkit.data.translation import encode_pairs
    from rnnkit.training import Seq2SeqBatches

    train, val, test, (source_vocab, target_vocab) = ding_data()
    test = test[:test_limit]
    sources, targets = encode_pairs(train, source_vocab, target_vocab)
    batches = Seq2SeqBatches(sources, targets, DING_CONFIG.batch_size, seed=DING_CONFIG.seed)
    val_batches = Seq2SeqBatches(*encode_pairs(val, source_vocab, target_vocab), 256, shuffle=False)
    print(f"Ding de-en (both sides <= {DING['max_words']} words): {len(train):,} train / "
          f"{len(val):,} val / {len(test):,} test pairs; vocabularies (min_count "
          f"{DING['min_count']}) {len(source_vocab):,} German / {len(target_vocab):,} English; "
          f"{minutes:g} min per run in {slice_seconds:g} s slices", flush=True)
    runs = []
    for attention in ("general", "none"):
        config = dataclasses.replace(DING_CONFIG, attention=attention)
        for library in ("rnnkit", "torch"):
            warm = Run(library, attention, build_model(source_vocab, target_vocab, config), batches)
            warm.step_fn(batches.batch(0, 0))                        # one untimed step: caches, JIT
            runs.append(Run(library, attention, build_model(source_vocab, target_vocab, config), batches))
    budget = 60 * minutes
    while any(run.seconds < budget for run in runs):
        for run in runs:
            run.train_for(slice_seconds, budget)
        print(f"  trained {min(r.seconds for r in runs) / 60:.1f} min each, load {load_now()}", flush=True)

    results = {}
    for run in runs:
        model = run.rnnkit_model()
        translator = Translator(model, source_vocab, target_vocab, {})
        beams = (1, 4, 8) if (run.library, run.attention) == ("rnnkit", "general") else (1,)
        results[f"{run.library}-{run.attention}"] = {
            "library": run.library, "attention": run.attention, "steps": run.steps,
            "seconds": run.seconds, "target_tokens": run.target_tokens,
            "tokens_per_s": run.target_tokens / run.seconds, "last_train_loss": run.last_loss,
            "val_loss": validation_loss(model, val_batches),
            "test": {f"beam{k}": translator.evaluate(test, beam=k) for k in beams}}
    return report_ding(results, minutes, len(train), len(val), len(test),
                       (len(source_vocab), len(target_vocab)))


def report_ding(results, minutes, n_train, n_val, n_test, vocab_sizes) -> dict:
    import torch

    print("\n| model | library | minutes | steps | epochs | target tokens/s | val loss "
          "| test BLEU (greedy) | test chrF | sentences/s (rnnkit decoding) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results.values():
        g = r["test"]["beam1"]
        label = "rnnkit (NumPy)" if r["library"] == "rnnkit" else f"torch {torch.__version__}"
        print(f"| {r['attention']} attention | {label} | {r['seconds'] / 60:.1f} | {r['steps']} | "
              f"{r['steps'] * DING_CONFIG.batch_size / n_train:.2f} | {r['tokens_per_s']:,.0f} | {r['val_loss']:.3f} | "
              f"{g['bleu']:.2f} | {g['chrf']:.2f} | {g['sentences_per_s']:.0f} |")
    beams = results["rnnkit-general"]["test"]
    print("\nrnnkit, general attention, test set:\n\n| beam | BLEU | chrF | sentences/s |\n|---:|---:|---:|---:|")
    for name, s in beams.items():
        print(f"| {s['beam']} | {s['bleu']:.2f} | {s['chrf']:.2f} | {s['sentences_per_s']:.1f} |")
    for source, output, reference in beams["beam4"]["examples"]:
        print(f"  {source} -> {output}   (reference: {reference})")

    bleu = {name: r["test"]["beam1"]["bleu"] for name, r in results.items()}
    ratios = {a: results[f"rnnkit-{a}"]["tokens_per_s"] / results[f"torch-{a}"]["tokens_per_s"]
              for a in ("general", "none")}
    print(f"\nattention vs none (rnnkit, greedy BLEU): {bleu['rnnkit-general']:.2f} vs {bleu['rnnkit-none']:.2f}")
    print(f"rnnkit vs torch twin (general, greedy BLEU): {bleu['rnnkit-general']:.2f} vs "
          f"{bleu['torch-general']:.2f}: {'met' if bleu['rnnkit-general'] >= bleu['torch-general'] else 'not met'}")
    print(f"throughput ratio rnnkit / torch: general {ratios['general']:.2f}x, none {ratios['none']:.2f}x "
          f"(goal >= {GOALS['throughput_ratio']:.1f}x: "
          f"{'met' if min(ratios.values()) >= GOALS['throughput_ratio'] else 'not met'})")
    return {"bench": "translate_ding", "minutes_per_run": minutes, "data": dict(DING),
            "pairs": {"train": n_train, "val": n_val, "test": n_test}, "vocab_sizes": vocab_sizes,
            "config": dataclasses.asdict(DING_CONFIG), "throughput_ratio": ratios,
            "runs": {name: {**{k: round(v, 4) if isinstance(v, float) else v
                               for k, v in r.items() if k != "test"},
                            "test": {b: _scores(s) for b, s in r["test"].items()}}
                     for name, r in results.items()}}


# --------------------------------------------------------------------------- throughput only


def throughput_setup(task: str, hidden_size=None, embed_size=None):
    """The training batches and the config of ``task``'s throughput measurement."""
    from rnnkit.data.translation import encode_pairs
    from rnnkit.training import Seq2SeqBatches

    if task == "ding":
        train, _, _, vocabularies = ding_data()
        config = DING_CONFIG
    else:
        from rnnkit.data.translation import build_vocabularies, number_pairs
        train = number_pairs("fr-en", "train")
        config = next(iter(CANDIDATES.values()))
        vocabularies = build_vocabularies(train, config.level)
    widths = {k: v for k, v in (("hidden_size", hidden_size), ("embed_size", embed_size)) if v}
    config = dataclasses.replace(config, **widths)
    sources, targets = encode_pairs(train, *vocabularies)
    return Seq2SeqBatches(sources, targets, config.batch_size, seed=config.seed), vocabularies, config


def run_throughput(task, steps, repeats, attentions, hidden_size=None, embed_size=None) -> dict:
    """Training steps only, rnnkit and its twin alternating step by step on the same batches."""
    import torch

    batches, (source_vocab, target_vocab), base = throughput_setup(task, hidden_size, embed_size)
    print(f"{task}: throughput only, {steps} steps each in {repeats} blocks; {base.cell}, "
          f"embed {base.embed_size}, hidden {base.hidden_size}, batch {base.batch_size}, "
          f"vocabularies {len(source_vocab):,} / {len(target_vocab):,}", flush=True)
    block = max(1, steps // repeats)
    results = {}
    for attention in attentions:
        config = dataclasses.replace(base, attention=attention)
        model = build_model(source_vocab, target_vocab, config)
        twin = _torch_twin(model)
        step_fns = {"rnnkit": rnnkit_step(model, config.lr, config.clip),
                    "torch": torch_step(twin, config.lr, config.clip),
                    "torch-valid": torch_step(_torch_twin(model), config.lr, config.clip,
                                              valid_only=True)}
        seconds, tokens = time_alternating(step_fns, batches, steps, repeats,
                                           lambda batch: int(batch.target_lengths.sum()))
        ratios = seconds["torch"] / seconds["rnnkit"]                # same tokens: ratio of speeds
        results[attention] = {
            "tokens_per_s": {name: float(tokens.sum() / s.sum()) for name, s in seconds.items()},
            "ratio_blocks": [round(float(r), 4) for r in ratios],
            "ratio_median": round(float(np.median(ratios)), 4),
            "ratio_all": round(float(seconds["torch"].sum() / seconds["rnnkit"].sum()), 4),
            "ratio_all_valid_only_twin": round(float(seconds["torch-valid"].sum()
                                                     / seconds["rnnkit"].sum()), 4)}
        print(f"  {attention}: done, load {load_now()}", flush=True)

    print(f"\n| attention | rnnkit tokens/s | torch {torch.__version__} tokens/s | ratio (all steps) "
          f"| ratio per block | median | spread | torch-valid tokens/s | ratio |"
          f"\n|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for attention, r in results.items():
        blocks = r["ratio_blocks"]
        print(f"| {attention} | {r['tokens_per_s']['rnnkit']:,.0f} | {r['tokens_per_s']['torch']:,.0f} | "
              f"{r['ratio_all']:.3f}x | {', '.join(f'{b:.3f}' for b in blocks)} | "
              f"{r['ratio_median']:.3f}x | {min(blocks):.3f}-{max(blocks):.3f} | "
              f"{r['tokens_per_s']['torch-valid']:,.0f} | {r['ratio_all_valid_only_twin']:.3f}x |")
    ratio = min(r["ratio_all"] for r in results.values())
    print(f"\ngoal: throughput ratio >= {GOALS['throughput_ratio']:.1f}x -> {ratio:.3f}x (lowest): "
          f"{'met' if ratio >= GOALS['throughput_ratio'] else 'not met'}")
    return {"bench": f"translate_{task}_throughput", "steps": block * repeats, "repeats": repeats,
            "config": dataclasses.asdict(base), "throughput": results}


# --------------------------------------------------------------------------- main


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("task", choices=("numbers", "ding"))
    parser.add_argument("--minutes", type=float, default=None,
                        help="training wall time per candidate (numbers, default 3) or per run (ding, default 8)")
    parser.add_argument("--slice-seconds", type=float, default=30.0,
                        help="ding: each run trains this long per turn (default 30)")
    parser.add_argument("--test-limit", type=int, default=None, help="ding: score the first N test pairs only (checks)")
    parser.add_argument("--out", default="runs/bench-translate",
                        help="numbers: where the candidates' models go (default runs/bench-translate)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads (default 1)")
    parser.add_argument("--throughput-only", action="store_true",
                        help="training throughput against the torch twin only (a few minutes)")
    parser.add_argument("--steps", type=int, default=60,
                        help="throughput only: training steps per model (default 60)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="throughput only: blocks the steps are split into, one ratio each (default 3)")
    parser.add_argument("--attention", default="general,none",
                        help="throughput only: comma-separated attention kinds (default general,none)")
    parser.add_argument("--hidden-size", type=int, default=None,
                        help="throughput only: override the model's hidden size")
    parser.add_argument("--embed-size", type=int, default=None,
                        help="throughput only: override the model's embedding size")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1 or args.repeats > args.steps:
        parser.error(f"--steps and --repeats must be >= 1 with --repeats <= --steps, "
                     f"got {args.steps} and {args.repeats}")
    attentions = args.attention.split(",")
    if not set(attentions) <= {"additive", "dot", "general", "none"}:
        parser.error(f"--attention takes additive, dot, general and none, got {args.attention!r}")

    import torch
    torch.set_num_threads(args.threads)
    started, load_before = time.perf_counter(), load_now()
    with blas_threads(args.threads):
        if args.throughput_only:
            record = run_throughput(args.task, args.steps, args.repeats, attentions,
                                    args.hidden_size, args.embed_size)
        elif args.task == "numbers":
            record = run_numbers(args.minutes or 3.0, args.out)
        else:
            record = run_ding(args.minutes or 8.0, args.slice_seconds, args.test_limit)
    record.update(threads=args.threads, load_before=load_before, load_after=load_now(),
                  wall_minutes=round((time.perf_counter() - started) / 60, 2),
                  machine=platform.machine(), cpus=os.cpu_count(), numpy=np.__version__,
                  torch=torch.__version__)
    print(f"\nload average {load_before} before, {record['load_after']} after; "
          f"{record['wall_minutes']:.1f} min wall in all, {args.threads} thread(s)")
    print(json.dumps(record))
    return record


if __name__ == "__main__":
    main()
