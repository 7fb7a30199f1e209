"""Speech benchmarks: synthetic connected digits on held-out voices, the Asterisk recordings
of a human speaker, and training throughput against the PyTorch twin.

The issue's goals: connected digit strings spoken by held-out synthetic voices, WER <= 5%;
the Asterisk digits (a human speaker, zero..nine and "oh"), word accuracy >= 90%; training
throughput >= 1.0x a PyTorch twin (same model, ``torch.nn.functional.ctc_loss``); the CTC
loss and beam search must not dominate a step (their share reported).

``quality``  For each --seeds: ``rnnkit speech train`` with the default settings (the code
    the command runs: 6,000 synthetic training utterances + 6,000 perturbed copies,
    SpecAugment, Adam, clip 5, validation loss every epoch, best weights kept) for
    --minutes. Then, on the *validation* split only, the beam's language model (``LMS``:
    the character trigram or the word bigram over the training words) and its weight are
    chosen from ``LM_WEIGHTS`` (lowest WER; ties to the smaller weight, then the
    character model; the end of the transcript is scored too); the development set, saytime's 11 human digits
    (what the training levers were chosen on), and the test sets are scored once with best
    path and with that beam: the synthetic test split (voices never heard in training; its
    digit-string utterances alone and all of it) and the Asterisk recordings (the 11
    digits, and all 12 prompts in the model's words). ``--levers`` trains with ``LEVERS``
    (``rnnkit speech train --normalization speech --festival-voices --vtlp --band-limit``). Each run directory is an ``rnnkit
    speech`` model (``--out``/seed<N>); ``--trained`` scores the models already there
    instead of training (a model from before the word model gets both language models
    rebuilt from its training transcripts, as training stores them now).
``ensemble``  The trained models of --models (two or more run directories) decode together
    (``rnnkit speech eval --model A --model B``: each member's beam proposes transcripts,
    ranked by the members' mean CTC likelihood plus the weighted language model); the
    language model and weight are chosen on the validation split without festival's voices,
    then the same sets are scored as by ``quality``.
``throughput``  rnnkit's default model and its torch twin
    (``rnnkit.models.acoustic_interop.to_torch``: same starting weights; nn.GRU over packed
    sequences, nn.Linear, F.ctc_loss) take --steps training steps each on the same batches
    of the synthetic training set (32 utterances), alternating step by step so both see
    the same machine load; SpecAugment and dropout off in both (the twin has neither
    mask). The steps are split into --repeats blocks, one ratio each. Then the share of
    the CTC loss (forward + backward) in an rnnkit step, and of decoding: best path and
    prefix beam search (beam 8, with the trigram) against the forward pass, per utterance.

Threads: --threads (default 1) for NumPy's BLAS and torch.set_num_threads.

Usage::

    python bench/speech.py quality --minutes 30 --seeds 0 [--levers] [--patience none]
    python bench/speech.py quality --seeds 2,3 --out runs/speech --trained
    python bench/speech.py ensemble --models runs/speech/seed2 runs/levers/seed2
    python bench/speech.py throughput --steps 60 --repeats 3

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

GOALS = {"digits_wer": 0.05, "asterisk_digits_accuracy": 0.90, "throughput_ratio": 1.0}
LM_WEIGHTS = (0.0, 0.25, 0.5, 1.0)
LMS = ("char", "word")                  # the beam's language models, chosen on validation
BEAM = 8


def load_now() -> float:
    return round(os.getloadavg()[0], 2)


# --------------------------------------------------------------------------- quality


LEVERS = {"normalization": "speech", "festival_voices": True, "vtlp": True, "band_limit": True}


def run_quality(minutes: float, seeds, out: str, options=None, trained=False) -> dict:
    from rnnkit.apps import speech as app

    options = options or {}
    val, sets = _scored_sets(options.get("festival_voices", False))
    runs = {}
    for seed in seeds:
        run_dir = os.path.join(out, f"seed{seed}")
        started = time.perf_counter()
        if trained:                                      # --trained: score what is there
            meta = app.read_meta(run_dir, app.APP)[1]
            summary = dict(meta["trainer"], epoch=meta["position"]["epoch"])
        else:
            summary = app.train(run_dir, max_minutes=minutes, seed=seed, progress=False,
                                overwrite=os.path.exists(os.path.join(run_dir, "checkpoint.npz")),
                                **options)
        train_minutes = (time.perf_counter() - started) / 60
        recognizer = _with_language_models(app.load(run_dir))
        runs[seed] = {"steps": summary["step"], "epochs": summary["epoch"],
                      "train_minutes": round(train_minutes, 1),
                      "best_val_loss": summary["best_val_loss"],
                      **_choose_and_score(recognizer, val, sets)}
        print(f"seed {seed}: {summary['step']} steps, {summary['epoch']} epochs in "
              f"{train_minutes:.1f} min; beam LM {runs[seed]['lm']} weight "
              f"{runs[seed]['lm_weight']} (validation WER {runs[seed]['val_wer_by_lm']}); "
              f"load {load_now()}", flush=True)
    _report_quality(runs)
    return {"bench": "speech_quality", "minutes": minutes, "options": options, "runs": runs}


def run_ensemble(model_dirs) -> dict:
    """Score trained models together (:class:`rnnkit.speech.EnsembleRecognizer`), the
    beam's language model and weight chosen on the validation split without festival's
    voices (the split every model's settings share), as for one model."""
    from rnnkit.apps import speech as app
    from rnnkit.speech import EnsembleRecognizer

    val, sets = _scored_sets(festival=False)
    recognizer = EnsembleRecognizer([_with_language_models(app.load(d)) for d in model_dirs])
    runs = {"ensemble": _choose_and_score(recognizer, val, sets)}
    print(f"ensemble of {', '.join(model_dirs)}: beam LM {runs['ensemble']['lm']} weight "
          f"{runs['ensemble']['lm_weight']} (validation WER {runs['ensemble']['val_wer_by_lm']}); "
          f"load {load_now()}", flush=True)
    _report_quality(runs)
    return {"bench": "speech_ensemble", "models": list(model_dirs), "runs": runs}


def _scored_sets(festival: bool):
    """``(validation utterances, {name: utterances})``: the synthetic validation split
    (``festival``: with festival's voices), and the sets scored once: the development
    set, the synthetic test split's digit strings and all of it, the Asterisk prompts."""
    from rnnkit.apps import speech as app
    from rnnkit.data.speech_corpus import DIGIT_WORDS

    splits = app.load_splits(splits=("val", "test"), festival=festival)
    digits = [u for u in splits["test"] if set(u.text.split()) <= set(DIGIT_WORDS)]
    return splits["val"], {**app._dev_sets(), "synthetic digits": digits,
                           "synthetic all": splits["test"], **app._human_sets()}


def _choose_and_score(recognizer, val, sets) -> dict:
    """The beam's language model and weight with the lowest validation WER (ties: the
    smaller weight, then the order of ``LMS``), then every set of ``sets`` scored by best
    path and by that beam."""
    wers = {(lm, w): recognizer.evaluate(val, beam=BEAM, lm_weight=w, lm=lm)["wer"]
            for lm in LMS for w in LM_WEIGHTS if w or lm == LMS[0]}
    lm, weight = min(wers, key=lambda k: (wers[k], k[1], LMS.index(k[0])))
    scores = {name: {"greedy": _brief(recognizer.evaluate(utterances)),
                     "beam": _brief(recognizer.evaluate(utterances, BEAM, weight, lm))}
              for name, utterances in sets.items()}
    return {"val_wer_by_lm": {f"{k[0]} {k[1]}": v for k, v in wers.items()},
            "lm": lm, "lm_weight": weight, "scores": scores}


def _with_language_models(recognizer):
    """A recogniser trained before the word model existed gets both models of its
    training transcripts (the same ones ``train_recognizer`` stores now)."""
    from rnnkit.apps import speech as app
    from rnnkit.speech import SpeechConfig, encode_text, language_models

    if set(LMS) <= set(recognizer.lms):
        return recognizer
    config = dataclasses.replace(recognizer.config, word_lm_order=SpeechConfig.word_lm_order)
    source = recognizer.extra["source"]
    train = app.load_splits(source.get("dataset"), splits=("train",),
                            train_size=source.get("train_size"),
                            festival=config.festival_voices)["train"]
    rebuilt = language_models([encode_text(u.text) for u in train], config)
    recognizer.lms = {**rebuilt, **recognizer.lms}
    return recognizer


def _brief(scores: dict) -> dict:
    keep = ("wer", "cer", "word_accuracy", "sentence_accuracy", "n", "real_time_factor", "errors")
    return {k: scores[k] for k in keep}


def _report_quality(runs) -> None:
    print("\n| seed | test set | n | greedy WER | greedy word acc. | beam 8 + LM WER | beam word acc. |"
          " CER (beam) |\n|---|---|---:|---:|---:|---:|---:|---:|")
    for seed, run in runs.items():
        for name, s in run["scores"].items():
            g, b = s["greedy"], s["beam"]
            print(f"| {seed} | {name} | {g['n']} | {100 * g['wer']:.2f}% | "
                  f"{100 * g['word_accuracy']:.1f}% | {100 * b['wer']:.2f}% | "
                  f"{100 * b['word_accuracy']:.1f}% | {100 * b['cer']:.2f}% |")
    for seed, run in runs.items():
        for name, s in run["scores"].items():
            for source, hyp, ref in s["beam"]["errors"][:5]:
                print(f"  seed {seed} {name}: {os.path.basename(source)}: {hyp!r} (reference {ref!r})")
    wers = [run["scores"]["synthetic digits"]["beam"]["wer"] for run in runs.values()]
    print(f"\ngoal: synthetic digit strings WER <= {100 * GOALS['digits_wer']:.0f}% -> "
          f"{', '.join(f'{100 * w:.2f}%' for w in wers)}")
    accuracies = [run["scores"]["asterisk-digits"]["beam"]["word_accuracy"]
                  for run in runs.values() if "asterisk-digits" in run["scores"]]
    if accuracies:
        print(f"goal: Asterisk digits word accuracy >= {100 * GOALS['asterisk_digits_accuracy']:.0f}% "
              f"-> {', '.join(f'{100 * a:.1f}%' for a in accuracies)}")


# --------------------------------------------------------------------------- throughput


def throughput_setup(num_utterances: int):
    from rnnkit.apps import speech as app
    from rnnkit.speech import BLANK, SpeechConfig, _examples
    from rnnkit.training import Seq2SeqBatches

    config = dataclasses.replace(SpeechConfig(), spec_augment=False, dropout=0.0)
    train = app.load_splits(splits=("train",))["train"][:num_utterances]
    features, labels = _examples(train, config.n_mels)
    batches = Seq2SeqBatches(features, labels, config.batch_size, seed=0, target_pad_value=BLANK)
    return config, batches


def run_throughput(steps: int, repeats: int) -> dict:
    import torch
    from rnnkit.models.acoustic_interop import to_torch
    from rnnkit.speech import build_model

    config, batches = throughput_setup(max(steps, 1) * 32)
    model = build_model(config)
    twin = to_torch(model)
    print(f"throughput: {steps} steps each in {repeats} blocks; {config.num_layers}-layer "
          f"bidirectional {config.cell.upper()} {config.hidden_size}, subsample {config.subsample}, "
          f"batch {config.batch_size}", flush=True)
    step_fns = {"rnnkit": rnnkit_step(model, config.lr, config.clip),
                "torch": torch_step(twin, config.lr, config.clip)}
    seconds, frames = time_alternating(step_fns, batches, steps, repeats,
                                       lambda batch: int(batch.lengths.sum()))
    ratios = seconds["torch"] / seconds["rnnkit"]
    result = {"frames_per_s": {k: frames.sum() / s.sum() for k, s in seconds.items()},
              "ratio_blocks": [round(float(r), 4) for r in ratios],
              "ratio_all": round(float(seconds["torch"].sum() / seconds["rnnkit"].sum()), 4),
              "shares": step_shares(model, batches, min(steps, 20)),
              "decoding": decoding_costs(model, batches)}
    print(f"\n| rnnkit frames/s | torch {torch.__version__} frames/s | ratio (all steps) | per block |"
          f"\n|---:|---:|---:|---|\n| {result['frames_per_s']['rnnkit']:,.0f} | "
          f"{result['frames_per_s']['torch']:,.0f} | {result['ratio_all']:.3f}x | "
          f"{', '.join(f'{r:.3f}' for r in result['ratio_blocks'])} |")
    shares = result["shares"]
    print(f"\nrnnkit step: forward {100 * shares['forward']:.1f}%, CTC loss forward + backward "
          f"{100 * shares['ctc']:.1f}%, backward {100 * shares['backward']:.1f}% "
          f"({1000 * shares['step_s']:.0f} ms a step)")
    d = result["decoding"]
    print(f"per utterance: forward {1000 * d['forward_s']:.2f} ms, best path "
          f"{1000 * d['greedy_s']:.2f} ms, prefix beam {BEAM} + trigram {1000 * d['beam_s']:.1f} ms")
    print(f"\ngoal: throughput ratio >= {GOALS['throughput_ratio']:.1f}x -> {result['ratio_all']:.3f}x: "
          f"{'met' if result['ratio_all'] >= GOALS['throughput_ratio'] else 'not met'}")
    return {"bench": "speech_throughput", "steps": max(1, steps // repeats) * repeats, "repeats": repeats,
            "config": dataclasses.asdict(config), "throughput": result}


def step_shares(model, batches, steps: int) -> dict:
    """Where an rnnkit training step's time goes: the model's forward, the CTC loss's
    forward and backward, the model's backward (optimizer excluded)."""
    parts = {"forward": 0.0, "ctc": 0.0, "backward": 0.0}
    model.train()
    for i in range(steps):
        batch = batches.batch(0, i % batches.num_batches)
        model.zero_grad()
        t0 = time.perf_counter()
        logits, out_lengths = model.forward(batch.inputs, batch.lengths)
        t1 = time.perf_counter()
        model.criterion.forward(logits, batch.targets.T, out_lengths, batch.target_lengths)
        dlogits = model.criterion.backward()
        t2 = time.perf_counter()
        model.backward(dlogits)
        t3 = time.perf_counter()
        parts["forward"] += t1 - t0
        parts["ctc"] += t2 - t1
        parts["backward"] += t3 - t2
    total = sum(parts.values())
    return {**{k: v / total for k, v in parts.items()}, "step_s": total / steps}


def decoding_costs(model, batches) -> dict:
    """Seconds per utterance: the forward pass, best-path and prefix beam decoding."""
    from rnnkit.ctc_decoding import ctc_greedy, ctc_prefix_beam_search
    from rnnkit.module import no_grad
    from rnnkit.ngram import CharNgramLM
    from rnnkit.speech import BLANK

    batch = batches.batch(0, 0)
    B = batch.inputs.shape[1]
    lm = CharNgramLM(model.num_classes, 3).fit(batch.targets[:n, b] for b, n in
                                              enumerate(batch.target_lengths))
    model.eval()
    t0 = time.perf_counter()
    with no_grad():
        log_probs, out_lengths = model.log_probs(batch.inputs, batch.lengths)
    t1 = time.perf_counter()
    ctc_greedy(log_probs, out_lengths, BLANK)
    t2 = time.perf_counter()
    for b in range(B):
        ctc_prefix_beam_search(log_probs[:out_lengths[b], b], BEAM, BLANK, lm, 0.5)
    t3 = time.perf_counter()
    return {"forward_s": (t1 - t0) / B, "greedy_s": (t2 - t1) / B, "beam_s": (t3 - t2) / B}


# --------------------------------------------------------------------------- main


def _patience(text: str) -> int | None:
    """--patience: a positive integer, or 'none' (None: no early stopping)."""
    if text.lower() == "none":
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'none', got {text!r}")
    return int(text)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("task", choices=("quality", "ensemble", "throughput"))
    parser.add_argument("--minutes", type=float, default=30.0,
                        help="quality: training wall time per seed (default 30)")
    parser.add_argument("--seeds", default="0", help="quality: comma-separated seeds (default 0)")
    parser.add_argument("--levers", action="store_true",
                        help="quality: train with the human-speech levers (speech-frame "
                             "normalisation, festival's voices, VTLP, band limits)")
    parser.add_argument("--patience", type=_patience, default=argparse.SUPPRESS,
                        help="quality: epochs without a better validation loss before "
                             "stopping, or 'none' to train for all of --minutes (default: "
                             "the app's, 5)")
    parser.add_argument("--trained", action="store_true",
                        help="quality: score the models already in --out/seed<N> instead of "
                             "training them")
    parser.add_argument("--out", default="runs/bench-speech",
                        help="quality: where the models go (default runs/bench-speech)")
    parser.add_argument("--models", nargs="+", metavar="DIR", default=[],
                        help="ensemble: two or more trained model directories to score together")
    parser.add_argument("--steps", type=int, default=60,
                        help="throughput: training steps per library (default 60)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="throughput: blocks the steps are split into (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads (default 1)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1 or args.repeats > args.steps:
        parser.error(f"--steps and --repeats must be >= 1 with --repeats <= --steps, "
                     f"got {args.steps} and {args.repeats}")
    if args.task == "ensemble" and len(args.models) < 2:
        parser.error(f"ensemble needs --models with two or more directories, got {args.models}")
    seeds = [int(s) for s in args.seeds.split(",")]

    import torch
    torch.set_num_threads(args.threads)
    started, load_before = time.perf_counter(), load_now()
    with blas_threads(args.threads):
        if args.task == "quality":
            options = dict(LEVERS) if args.levers else {}
            if "patience" in vars(args):                        # given: None is "none"
                options["patience"] = args.patience
            record = run_quality(args.minutes, seeds, args.out, options, args.trained)
        elif args.task == "ensemble":
            record = run_ensemble(args.models)
        else:
            record = run_throughput(args.steps, args.repeats)
    record.update(threads=args.threads, load_before=load_before, load_after=load_now(),
                  wall_minutes=round((time.perf_counter() - started) / 60, 2),
                  machine=platform.machine(), cpus=os.cpu_count(), numpy=np.__version__,
                  torch=torch.__version__)
    print(f"\nload average {load_before} before, {record['load_after']} after; "
          f"{record['wall_minutes']:.1f} min wall in all, {args.threads} thread(s)")
    print(json.dumps(record, default=str))
    return record


if __name__ == "__main__":
    main()
