"""``rnnkit inspect --model DIR --out page.html``: what a trained text model learned, as a page.

Reads a model of ``rnnkit textgen train`` or ``rnnkit sentiment train`` and a text, and
writes one self-contained HTML file (:mod:`rnnkit.inspect.page`; open it from disk, no
server): the text coloured by any unit, the units that follow properties of the text, the
gate saturation and, for a language model, the top-5 next-token predictions on hover and the
gradient flow (for a classifier: the text's classes on hover and each word's saliency,
:mod:`rnnkit.inspect.classifier`). The text is one of::

    --text FILE     the first --max-chars characters of a UTF-8 file (for a classifier: its
                    lines, one text each, while they add up to --max-chars)
    --prime TEXT    textgen: TEXT and --length tokens the model writes after it (--seed)
    (neither)       textgen: the first --max-chars characters of the model's validation text;
                    sentiment: MR's test sentences (a model trained on MR)

Python: ``inspect_model(model_dir, out, text=...)`` returns what it wrote.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnkit.apps._args import OneLineErrors, non_negative_int, positive_int
from rnnkit.apps._threads import add_threads_option
from rnnkit.errors import InputError, MissingFileError

MAX_CHARS = 2000
LENGTH = 1000


def default_text(meta: dict, max_chars: int) -> str:
    """The model's validation text from its first line start, ``max_chars`` characters."""
    from rnnkit.apps.textgen import corpus_text
    from rnnkit.data.corpus import split_text
    val = split_text(corpus_text(meta["extra"]["settings"].get("corpus")))[1]
    return val[:max_chars]


def first_lines(texts, max_chars: int) -> list:
    """The texts, in order, while their characters add up to at most ``max_chars`` (at
    least one)."""
    chosen, total = [], 0
    for text in texts:
        if chosen and total + len(text) > max_chars:
            break
        chosen.append(text)
        total += len(text)
    return chosen


def _app(model_dir) -> str:
    from rnnkit.apps._run import CHECKPOINT, app_of, checkpoint_path
    from rnnkit.training import checkpoint_meta
    if not Path(model_dir).exists():
        raise MissingFileError(f"no model at {str(model_dir)!r}: give the --out directory of "
                               f"`rnnkit textgen train` or `rnnkit sentiment train`, or its "
                               f"{CHECKPOINT}")
    app = app_of(checkpoint_meta(checkpoint_path(model_dir, "textgen")))
    if app not in APPS:
        raise InputError(f"{str(model_dir)!r} was trained by `rnnkit {app}`, not "
                         f"{' or '.join(f'`rnnkit {a}`' for a in APPS)}: inspect reads their models")
    return app


def _language_model_page(model_dir, text, prime, max_chars, length, seed):
    from rnnkit.apps import textgen
    from rnnkit.inspect import inspect_language_model
    model, vocab, meta = textgen.load(model_dir)
    if prime is not None:
        from rnnkit.generate import generate
        sample = generate(model, vocab, length=length, prime=prime, temperature=0.8, seed=seed)
        text, source = sample.prime + sample.text, f"--prime {prime!r} and {length} sampled tokens"
    elif text is None:
        text, source = default_text(meta, max_chars), "the model's validation text"
    else:
        source = "the given text"
    return inspect_language_model(model, vocab, text[:max_chars]), source


def _classifier_page(model_dir, text, prime, max_chars):
    from rnnkit.apps import sentiment
    from rnnkit.inspect.classifier import inspect_classifier
    if prime is not None:
        raise InputError("--prime needs a model of `rnnkit textgen`; a classifier writes no text")
    classifier = sentiment.load(model_dir)
    if text is not None:
        texts, source = text.splitlines(), "the given texts (one a line)"
    elif classifier.extra.get("dataset") == sentiment.DATASET:
        texts, source = sentiment.load_mr_split("test")[0], "MR's test sentences"
    else:
        raise InputError("this model was trained on your own file: give --text FILE with one "
                         "text a line")
    texts = first_lines([t for t in texts if t.strip()], max_chars)
    return inspect_classifier(classifier, texts), source


APPS = ("textgen", "sentiment")


def inspect_model(model_dir, out, text: str | None = None, prime: str | None = None,
                  max_chars: int = MAX_CHARS, length: int = LENGTH, seed: int = 0) -> dict:
    """Write the page for the textgen or sentiment model in ``model_dir`` to ``out``;
    returns ``{"path", "bytes", "inspection", "source"}``."""
    from rnnkit.apps._run import write_text_atomic
    from rnnkit.inspect import render_page

    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"the page must end in .html, got {str(out)!r}")
    if not out.parent.is_dir():
        raise MissingFileError(f"no folder {str(out.parent)!r} to write {out.name} into")
    if text is not None and prime is not None:
        raise InputError("give --text or --prime, not both")
    if _app(model_dir) == "textgen":
        inspection, source = _language_model_page(model_dir, text, prime, max_chars, length, seed)
    else:
        inspection, source = _classifier_page(model_dir, text, prime, max_chars)
    page = render_page(inspection, title=f"rnnkit inspect: {Path(model_dir).name}")
    write_text_atomic(out, page)
    return {"path": str(out), "bytes": out.stat().st_size, "inspection": inspection,
            "source": source}


def _run(args) -> int:
    text = None
    if args.text is not None:
        from rnnkit.data.corpus import load_text
        try:
            text = load_text(args.text)
        except (InputError, MissingFileError, IsADirectoryError) as exc:   # named as --text
            raise type(exc)(str(exc).replace("corpus file", "--text").replace("corpus", "--text")) from None
    written = inspect_model(args.model, args.out, text=text, prime=args.prime,
                            max_chars=args.max_chars, length=args.length, seed=args.seed)
    inspection = written["inspection"]
    print(f"wrote {written['path']} ({written['bytes']:,} bytes): {len(inspection.pieces):,} "
          f"tokens of {written['source']}, {inspection.activations.shape[1]} units "
          f"({inspection.description}); open it in a browser")
    for r in inspection.ranking[:3]:
        group = next(g for g in inspection.groups
                     if g["offset"] <= r["unit"] < g["offset"] + g["size"])
        print(f"  {r['feature']}: {group['name']} #{r['unit'] - group['offset']} (r = {r['r']:+.2f})")
    return 0


def build_parser(parser: argparse.ArgumentParser) -> None:
    parser.error = lambda message: OneLineErrors.error(parser, message)
    parser.description = ("Write one HTML page (self-contained, opens offline) showing what a "
                          "model of `rnnkit textgen train` or `rnnkit sentiment train` learned: "
                          "the text coloured by any unit, units that follow the text, gate "
                          "saturation; next-token predictions on hover and gradient flow "
                          "(textgen), the classes on hover and each word's saliency (sentiment).")
    parser.add_argument("--model", metavar="DIR", required=True,
                        help="the --out directory of `rnnkit textgen train` or `rnnkit sentiment "
                             "train` (or its checkpoint.npz)")
    parser.add_argument("--out", metavar="PAGE.html", required=True, help="the page to write")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--text", metavar="FILE",
                        help="read this UTF-8 text; a classifier reads one text a line "
                             "(default: the model's validation text; MR's test sentences)")
    source.add_argument("--prime", metavar="TEXT",
                        help="let the model write --length characters after TEXT, and show both "
                             "(default: no sample)")
    parser.add_argument("--max-chars", type=positive_int, default=MAX_CHARS, metavar="N",
                        help=f"characters (tokens) of the text to show (default {MAX_CHARS})")
    parser.add_argument("--length", type=positive_int, default=LENGTH, metavar="N",
                        help=f"with --prime: tokens to generate (default {LENGTH})")
    parser.add_argument("--seed", type=non_negative_int, default=0, metavar="S",
                        help="with --prime: the sampling seed (default 0)")
    add_threads_option(parser)
    parser.set_defaults(run=_run)
