"""Speech recognition with CTC: train an acoustic model on utterances, transcribe, score.

A :class:`Recognizer` is a trained :class:`rnnkit.models.AcousticModel` with its label
set. Transcribing audio, in the order the code runs it::

    audio      -> (N,) float at 8 kHz                       rnnkit.data.tts.SAMPLE_RATE
    dithered   = audio + DITHER n,  n ~ N(0, 1) seeded 0     one 16-bit step: silence is never 0
    features   = normalize(log_mel(dithered, n_mels=40))    (T, 40), 25 ms windows, 10 ms hop
    log_probs  = model.log_probs(pad(features), lengths)    (T', B, C), C = blank + 28 chars
    labels     = ctc_greedy(log_probs)                       best path: repeats merged, blanks dropped
              or ctc_prefix_beam_search(log_probs[:, b], beam=K, lm=ngram, lm_weight=w,
                                        lm_end=ngram.end_log_prob)
    text       = "".join(CHARACTERS[label - 1] for label in labels)

Labels are characters: 0 is the CTC blank, ``1 .. 28`` the transcript alphabet
(:data:`rnnkit.data.speech_corpus.ALPHABET`: space, a-z, apostrophe). Transcripts are
normalised the same way for training and scoring.

Why dither: without it digital silence (exact zeros, as TTS engines write) has the log of
the floor ``eps`` (-36) in every band while a recording's quiet room is near -20, so the
same pause would look different to the model depending on where the audio came from.

Training (:func:`train_recognizer`): each training utterance is kept clean and, in
``augment_copies`` more copies, changed the ways real recordings differ from synthetic
ones (:mod:`rnnkit.augment`; drawn once, from the seed, so a resumed run sees the same
data), in this order: speed-perturbed (factor uniform in ``SPEED``: tempo, pitch and
formants move together, a cheap new speaker), its silent ends trimmed (40 dB below the
loudest 10 ms frame) and replaced by ``U{0..PAD_S}`` seconds of silence at each end (real
prompts start and stop anywhere), reverberated with probability ``REVERB_P`` (RT60 uniform
in ``RT60_S``), with probability ``BAND_P`` band-limited as a telephone channel (high-pass
corner uniform in ``BAND_LOW_HZ``, low-pass corner in ``BAND_HIGH_HZ``; human recordings at
8 kHz lose most of 3-4 kHz, synthetic speech keeps it; drawn from a generator of its own),
and white noise added at an SNR uniform in ``SNR_DB``; their features are
then computed with the frequency axis warped by a factor uniform in ``VTLP`` (vocal-tract-
length perturbation, Jaitly & Hinton 2013: formants move, pitch and tempo stay; drawn from
a generator of its own, so the waveform copies are those of a run without it); SpecAugment
masks the features inside the model at every training step. ``Seq2SeqBatches`` of (features, label ids),
Adam, the Trainer's ``ModelLoss`` objective (the model's CTC loss), validation loss every
epoch, early stopping, the best weights kept. Two language models of the training
transcripts are stored with the weights for beam search with shallow fusion: a character
trigram (:mod:`rnnkit.ngram`) and a word bigram over the training words
(:mod:`rnnkit.word_lm`: a lexicon, asked one character at a time); ``lm`` picks one.

Scores (:meth:`Recognizer.evaluate`): word error rate and character error rate from
``jiwer`` (the edit distance over words / characters divided by the reference length,
summed over the set), and word accuracy ``1 - WER``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from rnnkit._validation import check_scalar
from rnnkit.errors import InputError, InputTypeError

BLANK = 0
DITHER = 1 / 32768                      # one step of 16-bit audio (Kaldi's dither=1)
SPEED = (0.85, 1.15)                    # speed perturbation factor, uniform
PAD_S = 0.3                             # most silence added at each end, seconds
REVERB_P = 0.5                          # share of perturbed copies reverberated
RT60_S = (0.1, 0.6)                     # reverberation decay time, uniform
SNR_DB = (5.0, 40.0)                    # additive white noise, uniform
BAND_P = 0.5                            # share of perturbed copies band-limited
BAND_LOW_HZ = (0.0, 300.0)              # high-pass corner, uniform
BAND_HIGH_HZ = (2800.0, 3800.0)         # low-pass corner, uniform
VTLP = (0.9, 1.1)                       # warp factor of perturbed copies' features, uniform
NORMALIZATIONS = ("utterance", "speech")  # featurize's: rnnkit.audio.normalize / normalize_speech
LM_KEYS = {"char": "lm", "word": "word_lm"}  # Recognizer.lms key -> its checkpoint key
DEFAULT_LM = "word"                     # the beam's language model unless told (validation)


@dataclass
class SpeechConfig:
    """Model, data and optimisation settings of a recogniser (the command's flags)."""

    cell: str = "gru"                   # a name in rnnkit.CELLS
    hidden_size: int = 128              # units per direction
    num_layers: int = 3
    bidirectional: bool = True
    subsample: int = 2                  # frames stacked per step (stride of the front end)
    dropout: float = 0.1
    n_mels: int = 40
    normalization: str = "utterance"    # one of NORMALIZATIONS
    festival_voices: bool = False       # festival's voices in the synthetic train/val (the app)
    vtlp: bool = False                  # perturbed copies' features warped by VTLP
    band_limit: bool = False            # a BAND_P share of perturbed copies band-limited
    spec_augment: bool = True
    augment_copies: int = 1             # perturbed copies of each training utterance
    lm_order: int = 3                   # character n-gram for beam search (0: none)
    word_lm_order: int = 2              # word n-gram over the training words (0: none)
    batch_size: int = 32
    lr: float = 2e-3
    clip: float = 5.0
    epochs: int = 40
    patience: int | None = 5
    max_minutes: float | None = None
    seed: int = 0


def check_config(config: SpeechConfig) -> SpeechConfig:
    """Refuse settings no model can be built with, before any audio is read."""
    from rnnkit.layers.registry import CELLS

    if not isinstance(config, SpeechConfig):
        raise InputTypeError(f"config must be a SpeechConfig, got {type(config).__name__}")
    if config.cell not in CELLS:
        raise InputError(f"cell must be one of {tuple(CELLS)}, got {config.cell!r}")
    if config.normalization not in NORMALIZATIONS:
        raise InputError(f"normalization must be one of {NORMALIZATIONS}, "
                         f"got {config.normalization!r}")
    for name in ("hidden_size", "num_layers", "subsample", "n_mels", "batch_size", "epochs"):
        check_scalar(getattr(config, name), name, int, low=1)
    for name in ("augment_copies", "lm_order", "word_lm_order", "seed"):
        check_scalar(getattr(config, name), name, int, low=0)
    check_scalar(config.dropout, "dropout", float, low=0.0, high=1.0, include_high=False)
    check_scalar(config.lr, "lr", float, low=0.0, include_low=False)
    return config


# --------------------------------------------------------------------------- labels


def characters() -> str:
    """The transcript alphabet; label ``i + 1`` is ``characters()[i]``."""
    from rnnkit.data.speech_corpus import ALPHABET
    return ALPHABET


def encode_text(text: str) -> np.ndarray:
    """Label ids ``(S,)`` of a transcript (normalised first); empty text is refused."""
    from rnnkit.data.speech_corpus import normalize_transcript

    normal = normalize_transcript(text)
    if not normal:
        raise InputError(f"transcript {text!r} has no letters left after normalisation")
    index = {c: i + 1 for i, c in enumerate(characters())}
    return np.array([index[c] for c in normal], np.int64)


def decode_labels(labels) -> str:
    """The text of label ids (blank and out-of-range ids are skipped)."""
    alphabet = characters()
    return "".join(alphabet[c - 1] for c in labels if 1 <= c <= len(alphabet)).strip()


# --------------------------------------------------------------------------- features


def featurize(audio: np.ndarray, n_mels: int = 40, name: str = "audio",
              vtlp: float = 1.0, normalization: str = "utterance") -> np.ndarray:
    """Per-utterance normalised log-mel features ``(T, n_mels)`` float32 of 8 kHz audio
    (``name`` says which in an error); ``vtlp`` != 1 warps the frequency axis (training
    copies only, :func:`rnnkit.audio.log_mel`). ``normalization`` "utterance": mean and
    variance over every frame (:func:`rnnkit.audio.normalize`); "speech": over the speech
    frames, log energies floored 50 dB below the loudest (:func:`rnnkit.audio.normalize_speech`),
    so the silence around a word changes none of its frames."""
    from rnnkit.audio import log_mel, normalize, normalize_speech
    from rnnkit.data.tts import SAMPLE_RATE

    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 1 or audio.size < SAMPLE_RATE // 40:
        raise InputError(f"{name} must be a 1-D signal of at least 25 ms ({SAMPLE_RATE // 40} "
                         f"samples at {SAMPLE_RATE} Hz), got shape {audio.shape}")
    dithered = audio + DITHER * np.random.default_rng(0).standard_normal(audio.size)   # (N,)
    if normalization not in NORMALIZATIONS:
        raise InputError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    features = log_mel(dithered, SAMPLE_RATE, n_mels=n_mels, n_fft=256, vtlp=vtlp)   # (T, n_mels)
    return normalize(features) if normalization == "utterance" else normalize_speech(features)


def perturbed_copies(utterances, copies: int, seed: int, band_limits: bool = False) -> list:
    """``copies`` perturbed versions of each utterance: speed, silent ends, reverberation,
    band limits (only with ``band_limits``), noise (see the module doc)."""
    from rnnkit.augment import (add_noise, band_limit, pad_silence, reverberate, speed_perturb,
                                trim_silence)
    from rnnkit.data.speech_corpus import Utterance
    from rnnkit.data.tts import SAMPLE_RATE

    rng = np.random.default_rng([seed, 7919])
    channel = np.random.default_rng([seed, 7927])     # its own: the other draws stay as they were
    most_pad = int(PAD_S * SAMPLE_RATE)
    out = []
    for _ in range(copies):
        for u in utterances:
            audio = speed_perturb(u.audio, float(rng.uniform(*SPEED)))
            audio = trim_silence(audio, SAMPLE_RATE, top_db=40.0)
            audio = pad_silence(audio, int(rng.integers(0, most_pad + 1)),
                                int(rng.integers(0, most_pad + 1)))
            if rng.random() < REVERB_P:
                audio = reverberate(audio, float(rng.uniform(*RT60_S)), rng, SAMPLE_RATE)
            if channel.random() < BAND_P and band_limits:
                audio = band_limit(audio, SAMPLE_RATE, float(channel.uniform(*BAND_LOW_HZ)),
                                   float(channel.uniform(*BAND_HIGH_HZ)))
            audio = add_noise(audio, float(rng.uniform(*SNR_DB)), rng)
            out.append(Utterance(audio.astype(np.float32), u.text, u.source + " (perturbed)"))
    return out


def vtlp_factors(count: int, seed: int) -> np.ndarray:
    """The warp factor of each of ``count`` perturbed copies ``(count,)``, uniform in ``VTLP``,
    from a generator of its own (the copies' waveforms do not depend on it)."""
    count = check_scalar(count, "count", int, low=0)
    return np.random.default_rng([seed, 104729]).uniform(*VTLP, size=count)


def _examples(utterances, n_mels: int, warps=None, normalization: str = "utterance"):
    """Features and label ids of ``utterances``; ``warps[i]`` is utterance i's VTLP factor."""
    warps = np.ones(len(utterances)) if warps is None else warps
    features = [featurize(u.audio, n_mels, u.source, float(w), normalization)
                for u, w in zip(utterances, warps)]
    labels = [encode_text(u.text) for u in utterances]
    return features, labels


# --------------------------------------------------------------------------- training


def build_model(config: SpeechConfig):
    """The :class:`rnnkit.models.AcousticModel` for ``config``."""
    from rnnkit.models.acoustic import AcousticModel, SpecAugment

    check_config(config)
    return AcousticModel(config.n_mels, len(characters()) + 1, hidden_size=config.hidden_size,
                         num_layers=config.num_layers, cell=config.cell,
                         bidirectional=config.bidirectional, subsample=config.subsample,
                         dropout=config.dropout,
                         spec_augment=SpecAugment() if config.spec_augment else None,
                         blank=BLANK, seed=config.seed)


def train_recognizer(train, val, config: SpeechConfig, out_dir=None, *, extra=None,
                     progress=None, resume=False, before_fit=None, log=None):
    """Fit a recogniser on ``train`` utterances (validated on ``val``, may be empty).

    ``extra`` is saved in the checkpoint with the settings and the n-gram model;
    ``before_fit()`` runs once every input is checked. Returns ``(Recognizer with the
    best weights, the trainer's summary)``.
    """
    from rnnkit.optim import Adam
    from rnnkit.training import Seq2SeqBatches, Trainer

    check_config(config)
    if not train:
        raise InputError("no training utterances")
    started = time.perf_counter()
    copies = perturbed_copies(train, config.augment_copies, config.seed, config.band_limit)
    examples = list(train) + copies
    warps = np.concatenate([np.ones(len(train)), vtlp_factors(len(copies), config.seed)
                            if config.vtlp else np.ones(len(copies))])
    features, labels = _examples(examples, config.n_mels, warps, config.normalization)
    _check_long_enough(examples, features, labels, config.subsample)
    data = Seq2SeqBatches(features, labels, config.batch_size, seed=config.seed,
                          target_pad_value=BLANK)
    val_data = None
    if val:
        val_features, val_labels = _examples(val, config.n_mels, None, config.normalization)
        val_data = Seq2SeqBatches(val_features, val_labels, 64, shuffle=False,
                                  target_pad_value=BLANK)
    if log is not None:
        log(f"features of {len(examples):,} training utterances ({len(train):,} + "
            f"{len(examples) - len(train):,} perturbed) in {time.perf_counter() - started:.0f} s")
    lms = language_models(labels[:len(train)], config)
    model = build_model(config)
    extra = dict(extra or {}, settings=vars(config).copy(),
                 **{LM_KEYS[kind]: lm.to_dict() for kind, lm in lms.items()})
    if before_fit is not None:
        before_fit()
    trainer = Trainer(model, Adam(model.parameters(), lr=config.lr), data, val_data,
                      max_epochs=config.epochs, max_minutes=config.max_minutes,
                      clip_grad_norm=config.clip,
                      patience=config.patience if val_data is not None else None,
                      out_dir=out_dir, progress=progress, extra=extra)
    summary = trainer.fit(resume=resume)
    model.load_state_dict(trainer.best_state_dict())
    model.eval()
    return Recognizer(model, config, lms, extra), summary


def language_models(transcripts, config: SpeechConfig) -> dict:
    """``{"char": CharNgramLM, "word": WordLexiconLM}`` of the training ``transcripts``
    (label sequences), each only where its order is not 0."""
    from rnnkit.ngram import CharNgramLM
    from rnnkit.word_lm import WordLexiconLM

    lms = {}
    if config.lm_order:
        lms["char"] = CharNgramLM(len(characters()) + 1, config.lm_order).fit(transcripts)
    if config.word_lm_order:
        space = characters().index(" ") + 1
        lms["word"] = WordLexiconLM(space, config.word_lm_order).fit(transcripts)
    return lms


def _check_long_enough(utterances, features, labels, subsample) -> None:
    """CTC needs at least one frame per label (two between repeated labels)."""
    from rnnkit.models.acoustic import ctc_min_frames

    for u, x, y in zip(utterances, features, labels):
        frames = -(-len(x) // subsample)
        needed = int(ctc_min_frames(y[None], [len(y)])[0])
        if frames < needed:
            raise InputError(f"{u.source}: {len(x)} frames ({frames} after subsampling by "
                             f"{subsample}) are too few for the {len(y)} characters of "
                             f"{u.text!r}; CTC needs at least {needed}")


def load_recognizer(path):
    """The :class:`Recognizer` saved in a checkpoint written by :func:`train_recognizer`;
    a list of several paths gives their :class:`EnsembleRecognizer`."""
    if isinstance(path, (list, tuple)):
        if len(path) == 1:
            return load_recognizer(path[0])
        return EnsembleRecognizer([load_recognizer(p) for p in path])
    from rnnkit.ngram import CharNgramLM
    from rnnkit.training import load_model
    from rnnkit.word_lm import WordLexiconLM

    model, meta = load_model(path)
    extra = meta.get("extra") or {}
    if "settings" not in extra or type(model).__name__ != "AcousticModel":
        raise InputError(f"{str(path)!r} is not a speech recogniser checkpoint")
    classes = {"char": CharNgramLM, "word": WordLexiconLM}
    lms = {kind: classes[kind].from_dict(extra[key]) for kind, key in LM_KEYS.items()
           if extra.get(key)}
    settings = dict(extra["settings"])
    settings.setdefault("word_lm_order", 0)         # written before the word model existed
    return Recognizer(model, SpeechConfig(**settings), lms, extra)


# --------------------------------------------------------------------------- use


class _Transcriber:
    """What a recogniser and an ensemble of them share: the language models ``lms``,
    the choice among them, and :meth:`evaluate` over the subclass's ``transcribe``."""

    lms: dict

    def _fused_lm(self, beam: int, lm_weight: float, lm: str | None):
        """The language model the beam fuses (None for best path or weight 0), after
        checking ``lm``: None means ``DEFAULT_LM``, or the character model for a
        checkpoint without it."""
        if lm is None:
            lm = "char" if DEFAULT_LM not in self.lms and "char" in self.lms else DEFAULT_LM
        if lm not in LM_KEYS:
            raise InputError(f"lm must be one of {tuple(LM_KEYS)}, got {lm!r}")
        if beam > 1 and lm_weight > 0 and lm not in self.lms:
            raise InputError(f"this model has no {lm} language model (trained with its order "
                             f"0, or before it existed); use lm_weight 0 or another lm")
        return self.lms[lm] if beam > 1 and lm_weight > 0 else None

    def evaluate(self, utterances, beam: int = 1, lm_weight: float = 0.5,
                 lm: str | None = None) -> dict:
        """WER, CER and word accuracy of ``utterances``, with timing and examples."""
        import jiwer
        from rnnkit.data.speech_corpus import normalize_transcript

        if not utterances:
            raise InputError("no utterances to evaluate")
        started = time.perf_counter()
        hypotheses = self.transcribe([u.audio for u in utterances], beam, lm_weight, lm=lm,
                                     names=[u.source for u in utterances])
        seconds = time.perf_counter() - started
        references = [normalize_transcript(u.text) for u in utterances]
        wer = jiwer.wer(references, [h if h else "" for h in hypotheses])
        cer = jiwer.cer(references, hypotheses)
        wrong = [(u.source, h, r) for u, h, r in zip(utterances, hypotheses, references) if h != r]
        audio_seconds = sum(len(u.audio) for u in utterances) / _sample_rate()
        return {"wer": float(wer), "cer": float(cer), "word_accuracy": 1.0 - float(wer),
                "sentence_accuracy": 1.0 - len(wrong) / len(utterances),
                "n": len(utterances), "beam": beam, "real_time_factor": seconds / audio_seconds,
                "errors": wrong[:10],
                "examples": list(zip([u.source for u in utterances[:5]], hypotheses[:5],
                                     references[:5]))}


def _checked_decoding(beam, lm_weight, audios, names) -> tuple[int, float, list]:
    beam = check_scalar(beam, "beam", int, low=1)
    lm_weight = check_scalar(lm_weight, "lm_weight", float, low=0.0)
    return beam, lm_weight, _names(audios, names)


def _names(audios, names) -> list:
    """What errors call each audio: ``names`` (e.g. file names), or ``audios[i]``."""
    return list(names) if names is not None else [f"audios[{i}]" for i in range(len(audios))]


class Recognizer(_Transcriber):
    """A trained acoustic model, its settings and its language models (``lms``:
    ``{"char": CharNgramLM, "word": WordLexiconLM}``, either may be missing)."""

    def __init__(self, model, config: SpeechConfig, lms=None, extra=None):
        self.model, self.config, self.extra = model, config, extra or {}
        self.lms = dict(lms or {})

    def transcribe(self, audios, beam: int = 1, lm_weight: float = 0.5, batch_size: int = 32,
                   names=None, lm: str | None = None) -> list[str]:
        """Texts of ``audios`` (1-D arrays at 8 kHz). ``beam`` 1: best path; more:
        prefix beam search, with the language model ``lm`` (a key of ``LM_KEYS``; None:
        ``DEFAULT_LM``, or the character model for a checkpoint without it) weighted by
        ``lm_weight`` (0: none), the end of the transcript scored too. ``names`` (one
        per audio, e.g. file names) are what errors call them."""
        beam, lm_weight, names = _checked_decoding(beam, lm_weight, audios, names)
        fused = self._fused_lm(beam, lm_weight, lm)
        bests = (_nbest(f, beam, fused, lm_weight)
                 for f in self.frame_log_probs(audios, batch_size, names))
        return [decode_labels(best[0][0]) if best else "" for best in bests]

    def frame_log_probs(self, audios, batch_size=32, names=None) -> list[np.ndarray]:
        """The acoustic model's per-frame log probabilities, one ``(T'_i, C)`` array per audio."""
        from rnnkit.module import no_grad
        from rnnkit.training.data import pad_sequences

        features = [featurize(a, self.config.n_mels, n, 1.0, self.config.normalization)
                    for a, n in zip(audios, _names(audios, names))]
        out = []
        for start in range(0, len(features), batch_size):
            batch = features[start:start + batch_size]
            lengths = np.array([len(f) for f in batch], np.int64)                 # (B,)
            x = pad_sequences(batch, np.arange(len(batch)), lengths, 0.0)         # (T, B, F)
            with no_grad():
                log_probs, out_lengths = self.model.log_probs(x, lengths)         # (T', B, C)
            out += [log_probs[:n, b] for b, n in enumerate(out_lengths)]
        return out


def _nbest(log_probs, beam, lm, lm_weight) -> list:
    """Up to ``beam`` ``(labels, score)`` pairs for one utterance's ``log_probs`` (T, C),
    best first: the best path alone for ``beam`` 1 (scored 0: nothing ranks it), else the
    prefix beam search with the language model object ``lm`` (or None) fused and the
    transcript's end scored."""
    from rnnkit.ctc_decoding import ctc_greedy, ctc_prefix_beam_search

    if beam == 1:
        return [(ctc_greedy(log_probs[:, None], [len(log_probs)], BLANK)[0], 0.0)]
    return ctc_prefix_beam_search(log_probs, beam, BLANK, lm, lm_weight if lm is not None else 0.0,
                                  lm_end=lm.end_log_prob if lm is not None else None)


class EnsembleRecognizer(_Transcriber):
    """Several recognisers (e.g. seeds, or models trained with different settings) that
    decode together by n-best rescoring (:func:`rnnkit.ctc_decoding.ctc_rescore`)::

        candidates = union over members m of m's beam (best path for beam 1),
                     each beam with the language model fused as for one member
        score(l)   = mean_m log p_m(l | x) + lm_weight * log P_lm(l)    (no LM for beam 1)

    ``log p_m`` is member m's exact CTC likelihood of the whole transcript, so the members'
    frame rates and spike timings need not agree; ``P_lm`` is the chosen language model of
    the first member, end of the transcript included. Every member must be a
    :class:`Recognizer`; ``lms``, ``config`` and ``extra`` (where its data came from) are
    the first member's."""

    def __init__(self, members):
        members = list(members)
        if len(members) < 2 or not all(isinstance(m, Recognizer) for m in members):
            raise InputTypeError("an ensemble needs a list of at least two Recognizer objects")
        self.members = members
        self.lms, self.config, self.extra = members[0].lms, members[0].config, members[0].extra

    def transcribe(self, audios, beam: int = 1, lm_weight: float = 0.5, batch_size: int = 32,
                   names=None, lm: str | None = None) -> list[str]:
        """As :meth:`Recognizer.transcribe`, decoded by the rescoring above."""
        from rnnkit.ctc_decoding import ctc_rescore

        beam, lm_weight, names = _checked_decoding(beam, lm_weight, audios, names)
        fused = self._fused_lm(beam, lm_weight, lm)
        frames = [m.frame_log_probs(audios, batch_size, names) for m in self.members]   # M x N
        texts = []
        for i in range(len(audios)):
            candidates = {}                     # a dict keeps the members' order for ties
            for member_frames in frames:
                for labels, _ in _nbest(member_frames[i], beam, fused, lm_weight):
                    candidates.setdefault(tuple(labels), None)
            ranked = ctc_rescore([f[i] for f in frames], list(candidates), BLANK, fused,
                                 lm_weight if fused is not None else 0.0,
                                 lm_end=fused.end_log_prob if fused is not None else None)
            texts.append(decode_labels(ranked[0][0]) if ranked else "")
        return texts


def _sample_rate() -> int:
    from rnnkit.data.tts import SAMPLE_RATE
    return SAMPLE_RATE
