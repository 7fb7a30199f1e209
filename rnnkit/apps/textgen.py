"""``rnnkit textgen``: train a character- or word-level language model, sample from it, evaluate it.

Three actions, each one library call you can also make from Python::

    rnnkit textgen train  --out runs/shakespeare [--corpus my.txt] [--cell lstm] ...
        -> train(out_dir, corpus=None, ...)        writes checkpoint.npz (weights, optimizer,
                                                   RNG and data position, the vocabulary),
                                                   metrics.jsonl and loss_curve.png
    rnnkit textgen sample --model runs/shakespeare --prime "ROMEO:" --length 300
        -> load(model_dir) + rnnkit.generate.generate(...)
    rnnkit textgen eval   --model runs/shakespeare [--corpus my.txt]
        -> evaluate(model_dir, corpus=None)         validation nats and bits per character

Data: the corpus (a UTF-8 file, or the embedded Shakespeare when ``--corpus`` is
not given) is split by :func:`rnnkit.data.corpus.split_text`: the first 90% of
the characters train, the last 10% validate. A character vocabulary is built
from the whole corpus (every character the model will see); a word vocabulary
(``--level word``) from the training part only, keeping words seen at least
twice, the rest read as ``<unk>``. The vocabulary is saved in the checkpoint.

``--resume`` continues the run in ``--out`` exactly where its last checkpoint
stopped (same weights, optimizer moments, RNG state and data position). Options
not given on the command line are taken from the checkpoint; a different
architecture, level, window, batch or corpus is refused.

Python::

    from rnnkit.apps import textgen
    from rnnkit.generate import generate
    summary = textgen.train("runs/tiny", corpus="my.txt", hidden_size=128, max_minutes=2)
    model, vocab, meta = textgen.load("runs/tiny")
    print(generate(model, vocab, prime="ROMEO:", seed=0).text)
    print(textgen.evaluate("runs/tiny")["bits_per_char"])
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit._validation import check_scalar
from rnnkit.apps._args import non_negative_int, number, one_line_subparsers, positive_int
from rnnkit.apps._run import prepare_out, read_meta, remove_run_files, resume_settings
from rnnkit.apps._threads import add_threads_option
from rnnkit.errors import InputError
from rnnkit.layers.registry import CELLS

APP = "textgen"
CHECKPOINT = "checkpoint.npz"
WORD_MIN_COUNT = 2
OPTIMIZERS = ("adam", "rmsprop", "sgd", "adamw")



@dataclass
class TextgenConfig:
    """Every setting of a run (the flags of ``train``), saved in its checkpoint; a resumed
    run takes the settings not given again from there."""

    level: str = "char"                 # "char" or "word"
    cell: str = "lstm"                  # a name in rnnkit.CELLS
    hidden_size: int = 256
    num_layers: int = 2
    embed_size: int | None = None       # None: one-hot at char level, 128 at word level
    dropout: float = 0.0
    seq_len: int = 64                   # truncated-BPTT window
    batch_size: int = 32                # parallel streams
    lr: float = 2e-3
    optimizer: str = "adam"
    clip: float = 5.0
    seed: int = 0
    corpus: str | None = None           # absolute path; None: the embedded Shakespeare
    max_minutes: float | None = None    # of one call
    max_steps: int | None = None        # over the whole run
    eval_every: int | None = None
    checkpoint_every: int | None = None


DEFAULTS = TextgenConfig()
# What a resumed run may change (clip and the run's limits); the other settings define the
# model, the data or the optimizer's saved state, and a resume keeps them. All are saved.
RESUME_MAY_CHANGE = ("clip", "max_minutes", "max_steps", "eval_every", "checkpoint_every")
DEFAULT_MINUTES = 10.0     # when neither --max-minutes nor --max-steps is given
WORD_EMBED_SIZE = 128
EVAL_BATCH = 16            # parallel validation streams
VAL_TOKENS_DURING_TRAINING = 64_000


# --------------------------------------------------------------------------- library


def corpus_text(corpus=None) -> str:
    """The text of ``corpus`` (a UTF-8 file), or the embedded Shakespeare when None."""
    if corpus is None:
        from rnnkit.data.shakespeare import load_shakespeare
        return load_shakespeare()
    from rnnkit.data.corpus import load_text
    return load_text(corpus)


def build_vocab(level: str, text: str, train_text: str):
    """The vocabulary for ``level``: all characters of the corpus, or the training words."""
    from rnnkit.data import Vocabulary
    if level == "char":
        return Vocabulary.build(text, level="char")
    return Vocabulary.build(train_text, level="word", min_count=WORD_MIN_COUNT)


def _make_optimizer(name: str, params, lr: float):
    from rnnkit import optim
    classes = {"adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop,
               "sgd": optim.SGD}
    if name not in classes:
        raise InputError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")
    return classes[name](params, lr=lr)


def _settings(out_dir, resume: bool, given: dict, log) -> TextgenConfig:
    """The explicit options over the checkpoint's (on resume) or the defaults."""
    if not resume:
        return dataclasses.replace(DEFAULTS, **{k: v for k, v in given.items() if v is not None})
    saved = _read_meta(Path(out_dir) / CHECKPOINT, out_dir)["extra"]["settings"]
    return TextgenConfig(**resume_settings(dataclasses.asdict(DEFAULTS) | saved, given,
                                           RESUME_MAY_CHANGE, log))


def train(out_dir, corpus=None, *, level=None, cell=None, hidden_size=None, num_layers=None,
          embed_size=None, dropout=None, seq_len=None, batch_size=None, lr=None, optimizer=None,
          clip=None, seed=None, max_minutes=None, max_steps=None, eval_every=None,
          checkpoint_every=None, resume=False, overwrite=False, progress=None, log=print) -> dict:
    """Train a language model on ``corpus`` (default: the embedded Shakespeare) into ``out_dir``.

    Every option left as None takes its default (:class:`TextgenConfig`), or its value in the
    checkpoint when ``resume=True`` (the run's limits included). ``embed_size`` None means
    one-hot inputs at char level (char-rnn style) and 128 at word level; 0 also means
    one-hot. Stops after ``max_minutes`` of this call (default 10 when neither limit is
    given) or at step ``max_steps`` (counted over the whole run, resumed parts included).
    An ``out_dir`` that holds a model is refused unless ``resume`` or ``overwrite``.

    Returns the trainer's summary dict plus ``val_bits_per_char`` and ``settings``.
    """
    from rnnkit.data.corpus import split_text
    from rnnkit.models import LanguageModel
    from rnnkit.training import TokenStream, Trainer

    given = {"level": level, "cell": cell, "hidden_size": hidden_size, "num_layers": num_layers,
             "embed_size": embed_size, "dropout": dropout, "seq_len": seq_len,
             "batch_size": batch_size, "lr": lr, "optimizer": optimizer, "clip": clip,
             "seed": seed, "corpus": None if corpus is None else os.path.abspath(corpus),
             "max_minutes": max_minutes, "max_steps": max_steps, "eval_every": eval_every,
             "checkpoint_every": checkpoint_every}
    _check_train_args(given)
    prepare_out(out_dir, APP, resume=resume, overwrite=overwrite)
    s = _settings(out_dir, resume, given, log)
    text = corpus_text(s.corpus)
    if s.max_minutes is None and s.max_steps is None:
        s.max_minutes = DEFAULT_MINUTES
        log(f"training for at most {DEFAULT_MINUTES:g} minutes (set --max-minutes or --max-steps)")
    train_text, val_text = split_text(text)
    if resume:
        from rnnkit.data import Vocabulary
        vocab = Vocabulary.from_dict(_read_meta(Path(out_dir) / CHECKPOINT, out_dir)["extra"]["vocab"])
    else:
        vocab = build_vocab(s.level, text, train_text)
    train_ids = vocab.encode(train_text)
    val_ids = vocab.encode(val_text)
    embed = s.embed_size if s.embed_size is not None else (
        None if s.level == "char" else WORD_EMBED_SIZE)
    model = LanguageModel(len(vocab), embed_size=embed or None, hidden_size=s.hidden_size,
                          num_layers=s.num_layers, cell=s.cell, dropout=s.dropout,
                          seed=s.seed)
    train_data = TokenStream(train_ids, batch_size=s.batch_size, seq_len=s.seq_len)
    val_batch = max(1, min(EVAL_BATCH, len(val_ids) // 2))
    val_data = TokenStream(val_ids, batch_size=val_batch, seq_len=s.seq_len)
    eval_batches = max(1, VAL_TOKENS_DURING_TRAINING // (val_batch * s.seq_len))
    opt = _make_optimizer(s.optimizer, model.parameters(), s.lr)
    if overwrite:
        remove_run_files(out_dir)
    extra = {"app": APP, "vocab": vocab.to_dict(), "settings": dataclasses.asdict(s),
             "corpus_chars": len(text), "val_fraction": 0.1}
    log(f"{'resuming' if resume else 'training'} {s.num_layers}-layer {s.cell.upper()} "
        f"({model.num_parameters():,} parameters, {s.level} level, {len(vocab)} tokens) on "
        f"{'the embedded Shakespeare' if s.corpus is None else s.corpus}: "
        f"{len(train_ids):,} training / {len(val_ids):,} validation tokens")
    trainer = Trainer(model, opt, train_data, val_data, clip_grad_norm=s.clip,
                      max_steps=s.max_steps, max_minutes=s.max_minutes,
                      eval_every=s.eval_every or max(1, min(200, train_data.num_batches)),
                      eval_batches=eval_batches, out_dir=out_dir,
                      checkpoint_every=s.checkpoint_every or 100, progress=progress, extra=extra)
    summary = trainer.fit(resume=resume)
    best = summary.get("best_val_loss")                      # nats per token
    per_char = best
    if best is not None and s.level == "word":
        per_char = best * len(val_ids) / len(val_text)
    summary.update(settings=dataclasses.asdict(s), val_nats_per_char=per_char,
                   val_bits_per_char=None if per_char is None else per_char / math.log(2))
    return summary


def _check_train_args(given) -> None:
    for name in ("hidden_size", "num_layers", "seq_len", "batch_size", "max_steps", "eval_every",
                 "checkpoint_every"):
        check_scalar(given[name], name, int, low=1, none_ok=True)
    check_scalar(given["seed"], "seed", int, low=0, none_ok=True)
    check_scalar(given["embed_size"], "embed_size", int, low=0, none_ok=True, note=" (0: one-hot)")
    for name in ("lr", "clip", "max_minutes"):
        check_scalar(given[name], name, float, low=0.0, include_low=False, none_ok=True)
    check_scalar(given["dropout"], "dropout", float, low=0.0, high=1.0, include_high=False,
                 none_ok=True)
    for name, choices in (("level", ("char", "word")), ("cell", tuple(CELLS)), ("optimizer", OPTIMIZERS)):
        if given[name] is not None and given[name] not in choices:
            raise InputError(f"{name} must be one of {choices}, got {given[name]!r}")


def _read_meta(path: Path, model_dir) -> dict:
    """The checkpoint meta of a textgen model directory, with clear errors."""
    if Path(model_dir).exists() and not Path(model_dir).is_dir():
        raise InputError(f"{str(model_dir)!r} is not a directory; give the --out directory "
                         f"of `rnnkit textgen train`")
    _, meta = read_meta(model_dir, APP)
    extra = meta.get("extra") or {}
    if "vocab" not in extra or "settings" not in extra:
        raise InputError(f"{str(path)!r} is a textgen checkpoint without its vocabulary")
    return meta


def load(model_dir, which: str = "best"):
    """Load a trained model: returns ``(model, vocab, meta)``, the model in eval mode.

    ``which``: 'best' (the weights at the best validation loss) or 'last'.
    """
    from rnnkit.data import Vocabulary
    from rnnkit.training import load_model
    path = Path(model_dir) / CHECKPOINT
    meta = _read_meta(path, model_dir)
    model, meta = load_model(path, which=which)
    vocab = Vocabulary.from_dict(meta["extra"]["vocab"])
    if len(vocab) != model.vocab_size:
        raise InputError(f"{str(path)!r} is inconsistent: vocabulary of {len(vocab)} tokens, "
                         f"model of {model.vocab_size}")
    return model, vocab, meta


def evaluate_text(model, vocab, text: str, seq_len: int = 256, batch_size: int = EVAL_BATCH,
                  max_tokens: int | None = None) -> dict:
    """Cross-entropy of ``model`` on ``text``, per token and per character.

    The text is read as ``batch_size`` parallel streams in chunks of ``seq_len`` with
    the state carried, as in training (the first token of each stream is not
    predicted). ``max_tokens`` limits the text read. Per-character numbers divide the
    total loss by the characters the evaluated tokens cover (at word level estimated
    as ``tokens * len(text) / total tokens``). Unknown tokens are skipped (char level)
    or read as ``<unk>`` (word level).

    Returns dict: nats_per_token, bits_per_token, nats_per_char, bits_per_char,
    tokens (evaluated), chars, unknown (distinct unknown tokens).
    """
    from rnnkit.training import LanguageModeling, TokenStream
    unknown = vocab.unknown(text)
    ids = vocab.encode(text)
    if ids.size < 2:
        raise InputError("the evaluation text has fewer than 2 known tokens")
    if max_tokens is not None:
        ids = ids[:max_tokens]
    batch_size = max(1, min(batch_size, ids.size // 2))
    stream = TokenStream(ids, batch_size=batch_size, seq_len=seq_len)
    was_training = model.training
    model.eval()
    try:
        loss = LanguageModeling().evaluate(model, stream)["loss"]
    finally:
        model.train(was_training)
    # Word level: a token covers len(text) / (all tokens) characters on average.
    nats_per_char = loss if vocab.level == "char" else loss * vocab.encode(text).size / len(text)
    evaluated = (ids.size // batch_size - 1) * batch_size       # predicted positions
    return {"nats_per_token": loss, "bits_per_token": loss / math.log(2),
            "nats_per_char": nats_per_char, "bits_per_char": nats_per_char / math.log(2),
            "tokens": evaluated, "chars": len(text), "unknown": unknown}


def evaluate(model_dir, corpus=None, split: str = "val", max_tokens: int | None = None) -> dict:
    """Evaluate a trained model on the validation part (``split='val'``) or all of
    ``corpus`` (default: the corpus it was trained on)."""
    if split not in ("val", "all"):
        raise InputError(f"split must be 'val' or 'all', got {split!r}")
    from rnnkit.data.corpus import split_text
    model, vocab, meta = load(model_dir)
    source = corpus if corpus is not None else meta["extra"]["settings"].get("corpus")
    text = corpus_text(source)
    if split == "val":
        text = split_text(text)[1]
    result = evaluate_text(model, vocab, text, max_tokens=max_tokens)
    result.update(corpus=source, split=split, level=vocab.level)
    return result


# --------------------------------------------------------------------------- command line


def build_parser(parser: argparse.ArgumentParser) -> None:
    actions = one_line_subparsers(parser)

    p = actions.add_parser(
        "train", help="train a language model (default corpus: the embedded Shakespeare)",
        description="Train a character- or word-level language model. The corpus is split "
                    "90/10 into training and validation text; checkpoint.npz, metrics.jsonl "
                    "and loss_curve.png are written to --out.")
    p.add_argument("--corpus", metavar="PATH", help="UTF-8 text file (default: Shakespeare's plays)")
    p.add_argument("--out", metavar="DIR", required=True, help="directory for the model (required)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its checkpoint, exactly; options not "
                        "given again keep their saved values")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a model already in --out (default: refuse)")
    p.add_argument("--level", choices=("char", "word"), help="tokens: characters (default) or words")
    p.add_argument("--cell", choices=tuple(CELLS), help="recurrent cell (default lstm)")
    p.add_argument("--hidden-size", type=positive_int, metavar="N", help="units per layer (default 256)")
    p.add_argument("--num-layers", type=positive_int, metavar="N", help="stacked layers (default 2)")
    p.add_argument("--embed-size", type=non_negative_int, metavar="N",
                   help="embedding size; 0 = one-hot (default: one-hot for char, 128 for word)")
    p.add_argument("--dropout", type=number(0, True, 1), metavar="P", help="dropout in [0, 1) (default 0)")
    p.add_argument("--seq-len", type=positive_int, metavar="N",
                   help="truncated-BPTT window in tokens (default 64)")
    p.add_argument("--batch-size", type=positive_int, metavar="N",
                   help="parallel streams (default 32)")
    p.add_argument("--lr", type=number(0, False), metavar="X", help="learning rate (default 0.002)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="default adam")
    p.add_argument("--clip", type=number(0, False), metavar="X",
                   help="clip the global gradient norm (default 5)")
    p.add_argument("--seed", type=non_negative_int, metavar="S", help="weights seed (default 0)")
    p.add_argument("--max-minutes", type=number(0, False), metavar="X",
                   help="stop after X minutes of this session (default 10 if no --max-steps)")
    p.add_argument("--max-steps", type=positive_int, metavar="N",
                   help="stop at step N, counted over the whole run (default: no step limit)")
    p.add_argument("--eval-every", type=positive_int, metavar="N",
                   help="validate every N steps (default 200)")
    p.add_argument("--checkpoint-every", type=positive_int, metavar="N",
                   help="checkpoint every N steps (default 100; always at the end)")
    add_threads_option(p)
    p.set_defaults(run=_run_train)

    p = actions.add_parser("sample", help="generate text from a trained model",
                           description="Generate text from a model trained with `textgen train`.")
    p.add_argument("--model", metavar="DIR", required=True, help="the --out directory of train")
    p.add_argument("--prime", default="", metavar="TEXT",
                   help="text to continue (default: none; unknown characters are skipped, at "
                        "word level unknown words are read as <unk>)")
    p.add_argument("--length", type=positive_int, default=500, metavar="N",
                   help="tokens to generate (default 500)")
    p.add_argument("--temperature", type=number(0, True), default=0.8, metavar="X",
                   help="sampling temperature, 0 = greedy (default 0.8)")
    p.add_argument("--top-k", type=positive_int, metavar="K",
                   help="sample only among the K most likely tokens (default: all tokens)")
    p.add_argument("--seed", type=non_negative_int, default=None, metavar="S",
                   help="seed for reproducible samples (default: a random one, printed)")
    add_threads_option(p)
    p.set_defaults(run=_run_sample)

    p = actions.add_parser("eval", help="validation bits and nats per character",
                           description="Cross-entropy of a trained model on the validation part "
                                       "(last 10%) of its corpus or of --corpus.")
    p.add_argument("--model", metavar="DIR", required=True, help="the --out directory of train")
    p.add_argument("--corpus", metavar="PATH", help="evaluate on this UTF-8 file instead (default: the training corpus)")
    p.add_argument("--split", choices=("val", "all"), default="val",
                   help="the last 10%% of the text (default) or all of it")
    p.add_argument("--max-tokens", type=positive_int, metavar="N",
                   help="evaluate on the first N tokens only (default: all)")
    add_threads_option(p)
    p.set_defaults(run=_run_eval)


def _run_train(args) -> int:
    summary = train(
        args.out, args.corpus, level=args.level, cell=args.cell, hidden_size=args.hidden_size,
        num_layers=args.num_layers, embed_size=args.embed_size, dropout=args.dropout,
        seq_len=args.seq_len, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
        clip=args.clip, seed=args.seed, max_minutes=args.max_minutes, max_steps=args.max_steps,
        eval_every=args.eval_every, checkpoint_every=args.checkpoint_every, resume=args.resume,
        overwrite=args.overwrite,
        log=lambda msg: print(msg, file=sys.stderr))
    bits = summary["val_bits_per_char"]
    print(f"step {summary['step']} ({summary['stop_reason']}, {summary['elapsed_s'] / 60:.1f} min "
          f"in all): best validation "
          + ("n/a" if bits is None else f"{bits:.3f} bits/char ({summary['val_nats_per_char']:.3f} "
                                        f"nats/char) at step {summary['best_step']}"))
    written = [p for p in (summary["checkpoint"], summary["metrics"], summary["plot"]) if p]
    print("wrote " + ", ".join(written))
    return 0


def _run_sample(args) -> int:
    from rnnkit.generate import generate
    model, vocab, _ = load(args.model)
    # Without --seed, draw one and print it, so any sample can be reproduced.
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2**31)
    result = generate(model, vocab, length=args.length, prime=args.prime,
                      temperature=args.temperature, top_k=args.top_k, seed=seed)
    if result.skipped:
        unknown = " ".join(repr(t) for t in result.skipped)
        if vocab.level == "word":
            print(f"note: prime words not in the vocabulary were read as <unk>: {unknown}",
                  file=sys.stderr)
        else:
            print(f"note: prime characters not in the vocabulary were skipped: {unknown}",
                  file=sys.stderr)
    sep = " " if vocab.level == "word" and result.prime and not result.text.startswith((" ", "\n")) else ""
    print(result.prime + sep + result.text)
    print(f"{result.num_tokens} tokens in {result.seconds:.2f} s "
          f"({result.chars_per_second:,.0f} characters/s), --seed {seed}", file=sys.stderr)
    return 0


def _run_eval(args) -> int:
    result = evaluate(args.model, args.corpus, split=args.split, max_tokens=args.max_tokens)
    if result["unknown"]:
        action = "skipped" if result["level"] == "char" else "read as <unk>"
        print(f"note: {len(result['unknown'])} distinct tokens not in the vocabulary were {action}",
              file=sys.stderr)
    source = result["corpus"] or "the embedded Shakespeare"
    print(f"{'validation part' if result['split'] == 'val' else 'all'} of {source}: "
          f"{result['tokens']:,} tokens, {result['bits_per_char']:.4f} bits/char, "
          f"{result['nats_per_char']:.4f} nats/char"
          + (f" ({result['nats_per_token']:.4f} nats/word)" if result["level"] == "word" else ""))
    return 0
