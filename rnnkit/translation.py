"""Translation with an encoder-decoder: train one on sentence pairs, translate, score.

A :class:`Translator` is a trained :class:`rnnkit.seq2seq.Seq2Seq` with its two
vocabularies. Translating a batch of texts, in the order the code runs it::

    src, lengths = pad(source_vocab.encode(text) for text in texts)   # (S, B), (B,)
    memory       = model.encode(src, lengths)                         # keys computed once
    state        = (model.initial_state(memory), memory)              # batch on axis 1
    step(y, s)   = model.decode_step(y, *s)  ->  logits (R, V), s', attention (R, S)
    tokens       = greedy_search(step, <bos>, ...)   or   beam_search(..., beam_size=K,
                   length_penalty=0.6, length_norm="wu")             # rnnkit.decoding
    text         = target_vocab.decode(tokens up to <eos>)

The memory travels inside the search's state, so beam search expands and reorders it
with the decoder state.

Training (:func:`train_translator`): vocabularies from the training pairs
(``rnnkit.data.translation.build_vocabularies``: characters or words, ``<pad> <bos> <eos>
<unk>`` = 0..3), ``Seq2SeqBatches`` of (source ids, target ids + ``<eos>``), Adam, the
Trainer's ``ModelLoss`` objective (teacher-forced cross-entropy, optional label
smoothing), validation loss every epoch, early stopping and the best weights kept.
Every setting is one :class:`TranslateConfig`. Scores of a test set (:meth:`Translator.evaluate`): corpus BLEU
and chrF from ``sacrebleu`` (the standard implementation; 13a tokenisation), and the
exact-match rate (the share of outputs equal to their reference, after stripping spaces
at both ends).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from rnnkit._validation import check_scalar
from rnnkit.data.translation import build_vocabularies, decode_ids, encode_pairs
from rnnkit.decoding import beam_search, greedy_search
from rnnkit.errors import InputError, InputTypeError
from rnnkit.module import no_grad
from rnnkit.training.data import pad_sequences


@dataclass
class TranslateConfig:
    """Model and optimisation settings of a translator (the command's flags)."""

    level: str = "char"                 # tokens: "char" or "word"
    cell: str = "lstm"                  # a name in rnnkit.CELLS
    embed_size: int = 64
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True          # the encoder
    attention: str = "general"          # "additive", "dot", "general" or "none"
    input_feeding: bool = True
    dropout: float = 0.0
    label_smoothing: float = 0.0
    batch_size: int = 64
    lr: float = 2e-3
    schedule: str = "constant"          # or "cosine": warm-up, then cosine decay to 0 at the
    warmup_steps: int = 0               # last step of `epochs` (rnnkit.optim.WarmupCosine)
    clip: float = 5.0
    epochs: int = 30
    patience: int | None = 3
    max_minutes: float | None = None
    seed: int = 0


SCHEDULES = ("constant", "cosine")


def check_config(config: TranslateConfig) -> TranslateConfig:
    """Refuse settings no model can be built with, before any data is read."""
    if not isinstance(config, TranslateConfig):
        raise InputTypeError(f"config must be a TranslateConfig, got {type(config).__name__}")
    if config.level not in ("char", "word"):
        raise InputError(f"level must be 'char' or 'word', got {config.level!r}")
    if config.schedule not in SCHEDULES:
        raise InputError(f"schedule must be one of {SCHEDULES}, got {config.schedule!r}")
    check_scalar(config.warmup_steps, "warmup_steps", int, low=0)
    # A bidirectional encoder splits the units between its directions (as OpenNMT's brnn),
    # so its outputs are as wide as the decoder: every attention kind, "dot" included, fits.
    if config.bidirectional and config.hidden_size % 2:
        raise InputError(f"a bidirectional encoder splits hidden_size between its two "
                         f"directions: give an even --hidden-size, got {config.hidden_size}")
    return config


def build_model(source_vocab, target_vocab, config: TranslateConfig):
    """The :class:`rnnkit.seq2seq.Seq2Seq` for ``config`` and the two vocabularies."""
    from rnnkit.seq2seq import Seq2Seq

    check_config(config)
    encoder_size = config.hidden_size // 2 if config.bidirectional else config.hidden_size
    return Seq2Seq(len(source_vocab), len(target_vocab), embed_size=config.embed_size,
                   hidden_size=config.hidden_size, num_layers=config.num_layers,
                   cell=config.cell, bidirectional=config.bidirectional,
                   encoder_hidden_size=encoder_size,
                   attention=config.attention, input_feeding=config.input_feeding,
                   dropout=config.dropout, label_smoothing=config.label_smoothing,
                   pad_id=target_vocab.pad_id, bos_id=target_vocab.bos_id,
                   eos_id=target_vocab.eos_id, seed=config.seed)


def train_translator(train_pairs, val_pairs, config: TranslateConfig, out_dir=None, *,
                     extra=None, vocabularies=None, progress=None, resume=False,
                     before_fit=None):
    """Fit a translator on ``train_pairs`` (validated on ``val_pairs``, may be empty).

    ``vocabularies``: ``(source, target)`` to use (a resumed run's); default: built from
    ``train_pairs`` at ``config.level``. ``extra`` is saved in the checkpoint with the
    vocabularies and the settings; ``before_fit()`` runs once every input is checked.
    Returns ``(Translator with the best weights, the trainer's summary)``.
    """
    from rnnkit.optim import Adam, WarmupCosine
    from rnnkit.training import Seq2SeqBatches, Trainer

    check_config(config)
    source_vocab, target_vocab = vocabularies or build_vocabularies(train_pairs, config.level)
    sources, targets = encode_pairs(train_pairs, source_vocab, target_vocab)
    data = Seq2SeqBatches(sources, targets, config.batch_size, seed=config.seed,
                          pad_value=source_vocab.pad_id, target_pad_value=target_vocab.pad_id)
    val = None
    if val_pairs:
        val_sources, val_targets = encode_pairs(val_pairs, source_vocab, target_vocab)
        val = Seq2SeqBatches(val_sources, val_targets, 256, shuffle=False,
                             pad_value=source_vocab.pad_id, target_pad_value=target_vocab.pad_id)
    model = build_model(source_vocab, target_vocab, config)
    extra = dict(extra or {}, source_vocab=source_vocab.to_dict(),
                 target_vocab=target_vocab.to_dict(), settings=vars(config).copy())
    if before_fit is not None:
        before_fit()
    schedule = None
    if config.schedule == "cosine":
        total = max(config.epochs * data.num_batches, config.warmup_steps + 1)
        schedule = WarmupCosine(config.lr, config.warmup_steps, total)
    trainer = Trainer(model, Adam(model.parameters(), lr=config.lr), data, val, schedule=schedule,
                      max_epochs=config.epochs, max_minutes=config.max_minutes,
                      clip_grad_norm=config.clip,
                      patience=config.patience if val is not None else None,
                      out_dir=out_dir, progress=progress, extra=extra)
    summary = trainer.fit(resume=resume)
    model.load_state_dict(trainer.best_state_dict())
    model.eval()
    return Translator(model, source_vocab, target_vocab, extra), summary


def load_translator(path) -> "Translator":
    """The translator saved in a checkpoint written by :func:`train_translator`."""
    from rnnkit.data import Vocabulary
    from rnnkit.training import load_model

    model, meta = load_model(path)
    extra = meta.get("extra") or {}
    if "source_vocab" not in extra or "target_vocab" not in extra:
        raise InputError(f"{str(path)!r} is not a translator checkpoint (no vocabularies)")
    return Translator(model, Vocabulary.from_dict(extra["source_vocab"]),
                      Vocabulary.from_dict(extra["target_vocab"]), extra)


@dataclass(frozen=True)
class Translation:
    """One translated text, with the attention that produced each output token.

    tokens : the output tokens, up to (without) ``<eos>``
    source_tokens : the source as the model read it (unknown ones as ``<unk>``)
    attention : float (len(tokens) + 1, len(source_tokens)) or None for a model without
        attention; row ``t`` is the weights over the source when output token ``t`` (the
        last row: ``<eos>``) was chosen
    """

    text: str
    tokens: tuple
    source_tokens: tuple
    attention: np.ndarray | None


@dataclass
class Translator:
    """A trained model with its vocabularies (``extra``: what its checkpoint recorded)."""

    model: object
    source_vocab: object
    target_vocab: object
    extra: dict

    def translate(self, texts, beam: int = 1, max_len: int | None = None,
                  length_penalty: float = 0.6, batch_size: int = 64) -> list[Translation]:
        """Translate ``texts`` (str or a list of str); greedy when ``beam == 1``.

        ``max_len``: output tokens at most (default ``2 * source length + 10``).
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts or not all(isinstance(t, str) for t in texts):
            raise InputTypeError("texts must be a str or a non-empty list of str")
        beam = check_scalar(beam, "beam", int, low=1)
        check_scalar(max_len, "max_len", int, low=1, none_ok=True)
        batch_size = check_scalar(batch_size, "batch_size", int, low=1)
        self.model.eval()
        out = []
        for start in range(0, len(texts), batch_size):
            out += self._translate_batch(texts[start:start + batch_size], beam, max_len,
                                         length_penalty)
        return out

    def _translate_batch(self, texts, beam, max_len, length_penalty):
        src, lengths = self._encode_sources(texts)                         # (S, B), (B,)
        limit = max_len or int(2 * lengths.max() + 10)
        bos, eos = self.target_vocab.bos_id, self.target_vocab.eos_id
        with no_grad():
            memory = self.model.encode(src, lengths)
            state = (self.model.initial_state(memory), memory)

            def step(tokens, carried):
                logits, new_state, weights = self.model.decode_step(tokens, *carried)
                aux = np.zeros((len(tokens), 1)) if weights is None else weights
                return logits, (new_state, carried[1]), aux

            starts = np.full(len(texts), bos, np.int64)
            if beam == 1:
                decoded = greedy_search(step, starts, state, limit, end_token=eos)
            else:
                decoded = beam_search(step, starts, state, beam, limit, end_token=eos,
                                      length_penalty=length_penalty, length_norm="wu").best()
        return [self._result(texts[b], src[: lengths[b], b], decoded, b)
                for b in range(len(texts))]

    def _encode_sources(self, texts):
        ids = []
        for n, text in enumerate(texts):
            encoded = self.source_vocab.encode(text)
            if encoded.size == 0:
                raise InputError(f"text {n + 1} ({text!r}) has no token the model knows")
            ids.append(encoded)
        lengths = np.array([len(i) for i in ids], np.int64)
        src = pad_sequences(ids, range(len(ids)), lengths, self.source_vocab.pad_id)   # (S, B)
        return src, lengths

    def _result(self, text, src_ids, decoded, b) -> Translation:
        length = int(decoded.lengths[b])
        ids = decoded.tokens[b, :length]
        body = ids[ids != self.target_vocab.eos_id] if length else ids
        attention = None
        if getattr(self.model, "attention", "none") != "none" and decoded.aux is not None:
            attention = decoded.aux[b, :length, : len(src_ids)]             # (T_out, S)
        return Translation(decode_ids(ids, self.target_vocab),
                           tuple(self.target_vocab.id_to_token(int(i)) for i in body),
                           tuple(self.source_vocab.id_to_token(int(i)) for i in src_ids),
                           attention)

    def evaluate(self, pairs, beam: int = 1, batch_size: int = 64) -> dict:
        """BLEU, chrF (sacrebleu) and exact match of the translations of ``pairs``'
        sources against their targets; also the count and sentences/s."""
        import sacrebleu

        pairs = list(pairs)
        if not pairs:
            raise InputError("no sentence pairs to evaluate on")
        start = time.perf_counter()
        outputs = [t.text for t in self.translate([s for s, _ in pairs], beam=beam,
                                                  batch_size=batch_size)]
        seconds = time.perf_counter() - start
        references = [t for _, t in pairs]
        exact = np.mean([o.strip() == r.strip() for o, r in zip(outputs, references)])
        return {"bleu": float(sacrebleu.corpus_bleu(outputs, [references]).score),
                "chrf": float(sacrebleu.corpus_chrf(outputs, [references]).score),
                "exact_match": float(exact), "n": len(pairs), "beam": beam,
                "sentences_per_s": len(pairs) / seconds if seconds > 0 else float("inf"),
                "examples": list(zip([s for s, _ in pairs[:5]], outputs[:5], references[:5]))}


def plot_attention(translation: Translation, path) -> str:
    """Draw ``translation``'s attention (source tokens across, output tokens down) to a
    PNG at ``path``, written atomically; returns the path."""
    import os

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if translation.attention is None:
        raise InputError("this translation has no attention weights (a model without attention)")
    shown = lambda token: "\u2423" if token == " " else token          # a space as ␣  # noqa: E731
    rows = [shown(t) for t in translation.tokens] + ["<eos>"]
    columns = [shown(t) for t in translation.source_tokens]
    weights = translation.attention[: len(rows)]                       # (T_out, S)
    fig, ax = plt.subplots(figsize=(1 + 0.35 * len(columns), 1 + 0.35 * len(rows)))
    ax.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(columns)), columns, rotation=90)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    fig.tight_layout()
    path = os.fspath(path)
    from rnnkit.distributed import is_writer

    if not is_writer():             # mpirun: rank 0 alone writes files
        plt.close(fig)
        return path
    tmp = f"{path}.tmp"
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
