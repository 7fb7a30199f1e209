"""Transcribed speech for the CTC recogniser: synthetic, Asterisk prompts, a user's folder.

An utterance (:class:`Utterance`) is a mono float32 signal ``(N,)`` at
``rnnkit.data.tts.SAMPLE_RATE`` (8 kHz, telephone band) with its transcript, normalised to
``ALPHABET`` by :func:`normalize_transcript`, and a ``source`` saying where it came from.

Three corpora, none downloaded at run time:

``synthetic_corpus(split, size, seed)``: training speech made here with espeak-ng and flite
    (:mod:`rnnkit.data.tts`). Texts are connected digit strings and short command phrases
    (:func:`random_transcripts`); each utterance draws a voice of its split, a speed
    (``SPEED_WPM``) and a pitch (``PITCH``) from ``np.random.default_rng([seed, split
    index])``, so a corpus is reproducible. flite voices, built from real speakers, are a
    ``FLITE_SHARE`` of the utterances when flite is installed (else none); festival's two
    (``ked``, ``slt-hts``: also built from real speakers, trained with the other engines) a
    ``FESTIVAL_SHARE`` of the "train" and "valid" utterances with ``festival=True`` (what
    ``rnnkit speech`` uses) when festival is installed, drawn after everything else, so
    the "test" split is the same with or without festival.

    Voice partition (fixed, so "test" measures unseen voices): an espeak-ng voice belongs
    to "test" when its base is in ``TEST_ESPEAK_BASES`` (``en-029``, Caribbean English) or
    its variant in ``TEST_ESPEAK_VARIANTS`` (f4, m6, klatt3, steph, travis, grandma); a
    flite voice when it is in ``TEST_FLITE_VOICES`` (``rms``, US male); festival's voices
    are never in "test". "train" and "valid" share all other voices (valid differs from
    train by its random draws only).

    Generated corpora are cached in ``data_dir() / "speech"`` (``$RNNKIT_DATA`` overrides
    ``data_dir``), one ``.npz`` per split, size, seed, generator version and voice list,
    holding the concatenated audio, offsets and texts (no pickle), written atomically.
    Measured on this project's shared 2-core machine (espeak-ng 1.51, flite 2.2): 2000
    "train" utterances (45 minutes of speech, a third flite) take 35 s to synthesize with
    ``workers=2`` (57 per second) and 0.06 s to load from the cache, an 87 MB file
    (float32 audio: 4 bytes per sample, kept exact rather than compressed).

``asterisk_corpus(words)`` / ``asterisk_digits()``: the Asterisk English prompts
    (``apt-get install asterisk-core-sounds-en-wav``: one professional female speaker, 8 kHz),
    real human speech for evaluation. With the default vocabulary (``DIGIT_WORDS +
    COMMAND_WORDS``) exactly 12 prompts qualify: ``digits/0`` .. ``digits/9``, ``digits/oh``
    and ``vm-no`` ("no"); no other command word is recorded alone, and no longer prompt uses
    only these words.

``saytime_digits()``: the digit recordings of Debian's talking clock ``saytime``
    (``apt-get install saytime``: David C Dawson's voice, a male speaker, 2004; headerless
    8 kHz mu-law files): "zero" .. "nine" and "oh", 11 utterances of a second human speaker.
    The recogniser's *development* set: levers are chosen on it, so that the Asterisk
    prompts stay a test set read once per final model.

``read_transcribed_folder(folder)``: a user's WAV files listed in ``transcripts.tsv``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import tempfile
import unicodedata
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit._validation import check_scalar
from rnnkit.audio import read_wav
from rnnkit.data.textfile import read_utf8
from rnnkit.data.tts import (SAMPLE_RATE, Voice, available_engines, espeak_voices,
                             festival_voices, flite_voices, synthesize)
from rnnkit.datasets.store import data_dir
from rnnkit.errors import InputError, InputTypeError, MissingFileError

__all__ = ["Utterance", "ALPHABET", "normalize_transcript", "DIGIT_WORDS", "COMMAND_WORDS",
           "random_transcripts", "SPLITS", "split_voices", "synthetic_corpus",
           "asterisk_corpus", "asterisk_digits", "saytime_digits", "read_transcribed_folder"]

ALPHABET = " abcdefghijklmnopqrstuvwxyz'"
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
               "nine", "oh")           # "oh": the common spoken zero
COMMAND_WORDS = ("yes", "no", "stop", "go", "left", "right", "up", "down", "on", "off")

SPLITS = ("train", "valid", "test")
TEST_ESPEAK_BASES = ("en-029",)
TEST_ESPEAK_VARIANTS = ("f4", "m6", "klatt3", "steph", "travis", "grandma")
TEST_FLITE_VOICES = ("rms",)
FLITE_SHARE = 1 / 3                    # of utterances, when flite is installed
FESTIVAL_SHARE = 1 / 4                 # of train/valid utterances, when festival is installed
SPEED_WPM = (120, 220)                 # uniform; flite gets duration stretch 175 / wpm
PITCH = (20, 80)                       # uniform integers, both ends included
GENERATOR_VERSION = 1                  # bump when a change alters generated audio or texts

ASTERISK_ROOT = Path("/usr/share/asterisk/sounds/en")
ASTERISK_TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
ASTERISK_DIGITS = tuple(f"digits/{d}" for d in range(10)) + ("digits/oh",)
_ASTERISK_INSTALL = "apt-get install asterisk-core-sounds-en-wav"
TRANSCRIPTS_FILE = "transcripts.tsv"
SAYTIME_ROOT = Path("/usr/share/saytime")
SAYTIME_DIGITS = tuple(f"{d}.au" for d in range(10)) + ("oh.au",)   # zero .. nine, oh


@dataclass(frozen=True, eq=False)
class Utterance:
    """One recording: ``audio`` float32 ``(N,)`` at SAMPLE_RATE, its normalised ``text``,
    and its ``source`` (a file path, or the voice description of synthetic speech).

    ``eq=False``: utterances compare by identity, since arrays have no single truth value.
    """

    audio: np.ndarray
    text: str
    source: str


# --------------------------------------------------------------------------- transcripts

def normalize_transcript(text: str) -> str:
    """``text`` in ``ALPHABET``: lower-case, accents dropped, other characters as spaces.

    Letters are lower-cased and decomposed (NFKD) with their accents dropped ("Café" ->
    "cafe"); typographic apostrophes become ``'``, which is kept only inside a word
    ("don't"; quotes around a word are dropped). Every other character outside the
    alphabet — punctuation, hyphens, digits — becomes a space, so "Call-Forward" is
    "call forward" (digits are not spelled out: "press 1" becomes "press"). Runs of spaces
    collapse to one; the ends are stripped.
    """
    if not isinstance(text, str):
        raise InputTypeError(f"transcript must be a str, got {type(text).__name__}")
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[\u2018\u2019\u02bc]", "'", text)
    text = re.sub(r"[^a-z']+", " ", text)
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)      # apostrophes inside words only
    return " ".join(text.split())


def random_transcripts(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` texts: about 2/3 digit strings, 1/3 command phrases, words joined by one space.

    A digit string has 1-7 digits (uniform), each digit uniform over 0-9, zero said
    "zero" or "oh" with equal odds. A command phrase has 1-3 words (uniform) of
    ``COMMAND_WORDS`` (uniform, repeats allowed).
    """
    n = check_scalar(n, "n", int, low=0)
    if not isinstance(rng, np.random.Generator):
        raise InputTypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    texts = []
    for _ in range(n):
        if rng.random() < 2 / 3:
            digits = rng.integers(0, 10, size=rng.integers(1, 8))
            words = [DIGIT_WORDS[d] if d or rng.random() < 0.5 else "oh" for d in digits]
        else:
            words = [COMMAND_WORDS[i] for i in rng.integers(0, len(COMMAND_WORDS),
                                                            size=rng.integers(1, 4))]
        texts.append(" ".join(words))
    return texts


# --------------------------------------------------------------------------- synthetic

def split_voices(split: str, festival: bool = False) -> tuple[tuple[str, str], ...]:
    """The ``(engine, name)`` voices of ``split`` (see the module docstring's partition).

    Raises MissingFileError when espeak-ng is not installed; flite voices appear only
    when flite is, festival's (``text2wave``) only with ``festival`` where it is installed,
    and never in "test".
    """
    _check_split(split)
    want_test = split == "test"
    voices = []
    for name in espeak_voices():
        base, _, variant = name.partition("+")
        held_out = base in TEST_ESPEAK_BASES or variant in TEST_ESPEAK_VARIANTS
        if held_out == want_test:
            voices.append(("espeak-ng", name))
    if "flite" in available_engines():
        voices += [("flite", name) for name in flite_voices()
                   if (name in TEST_FLITE_VOICES) == want_test]
    if festival and not want_test and "text2wave" in available_engines():
        voices += [("text2wave", name) for name in festival_voices()]
    return tuple(voices)


def _check_split(split) -> None:
    if split not in SPLITS:
        raise InputError(f"split must be one of {SPLITS}, got {split!r}")


def synthetic_corpus(split: str, size: int, seed: int = 0, cache: bool = True,
                     workers: int = 2, festival: bool = False) -> list[Utterance]:
    """``size`` synthetic utterances of ``split`` ("train", "valid" or "test"), reproducible.

    ``festival``: festival's voices speak a ``FESTIVAL_SHARE`` of "train" and "valid" where
    it is installed (the other utterances keep their texts, voices and audio).

    The same ``(split, size, seed)`` gives the same texts, voices and audio on every call;
    with ``cache`` the first call writes ``data_dir()/speech/<...>.npz`` and later ones read
    it. ``workers`` engine processes run at once (threads waiting on subprocesses).
    """
    _check_split(split)
    size = check_scalar(size, "size", int, low=1)
    seed = check_scalar(seed, "seed", int, low=0)
    workers = check_scalar(workers, "workers", int, low=1)
    if not isinstance(festival, bool):
        raise InputTypeError(f"festival must be True or False, got {festival!r}")
    voices = split_voices(split, festival)
    path = _cache_path(split, size, seed, voices)
    if cache:
        cached = _load_cache(path, size)
        if cached is not None:
            return cached
    plan = _plan(split, size, seed, voices)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        signals = list(pool.map(lambda item: synthesize(*item), plan))
    utterances = [Utterance(signal, text, voice.description)
                  for signal, (text, voice) in zip(signals, plan)]
    if cache:
        _save_cache(path, utterances)
    return utterances


def _plan(split: str, size: int, seed: int, voices) -> list[tuple[str, Voice]]:
    """The ``(text, voice)`` of each utterance, all drawn from one seeded generator."""
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    texts = random_transcripts(size, rng)
    espeak = [name for engine, name in voices if engine == "espeak-ng"]
    flite = [name for engine, name in voices if engine == "flite"]
    use_flite = rng.random(size) < (FLITE_SHARE if flite else 0.0)            # (size,)
    espeak_pick = rng.integers(0, len(espeak), size=size)                      # (size,)
    flite_pick = rng.integers(0, max(len(flite), 1), size=size)                # (size,)
    wpm = np.rint(rng.uniform(*SPEED_WPM, size=size)).astype(int)              # (size,)
    pitch = rng.integers(PITCH[0], PITCH[1] + 1, size=size)                    # (size,)
    festival = [name for engine, name in voices if engine == "text2wave"]
    use_festival = rng.random(size) < (FESTIVAL_SHARE if festival else 0.0)   # (size,)
    festival_pick = rng.integers(0, max(len(festival), 1), size=size)          # (size,)
    plan = []
    for i, text in enumerate(texts):
        if use_festival[i]:
            voice = Voice("text2wave", festival[festival_pick[i]], round(175 / wpm[i], 3),
                          int(pitch[i]))
        elif use_flite[i]:
            voice = Voice("flite", flite[flite_pick[i]], round(175 / wpm[i], 3), int(pitch[i]))
        else:
            voice = Voice("espeak-ng", espeak[espeak_pick[i]], int(wpm[i]), int(pitch[i]))
        plan.append((text, voice))
    return plan


def _cache_path(split: str, size: int, seed: int, voices) -> Path:
    # The voice list is in the name: installing flite or another espeak-ng version with
    # other variants gives a new corpus instead of silently reusing the old one.
    digest = hashlib.sha1(repr(voices).encode()).hexdigest()[:10]
    name = f"{split}-n{size}-seed{seed}-g{GENERATOR_VERSION}-{digest}.npz"
    return data_dir() / "speech" / name


def _save_cache(path: Path, utterances: list[Utterance]) -> None:
    """Write atomically: a temporary file in the same folder, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lengths = [len(u.audio) for u in utterances]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)       # (size+1,)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, audio=np.concatenate([u.audio for u in utterances]),  # (sum N,)
                     offsets=offsets, texts=np.array([u.text for u in utterances], dtype=str),
                     sources=np.array([u.source for u in utterances], dtype=str))
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _load_cache(path: Path, size: int) -> list[Utterance] | None:
    """The cached corpus, or None when there is none or it is unreadable (then rebuilt)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            audio, offsets = data["audio"], data["offsets"]
            texts, sources = data["texts"], data["sources"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    if len(texts) != size or len(sources) != size or offsets.shape != (size + 1,):
        return None
    return [Utterance(audio[offsets[i]:offsets[i + 1]], str(texts[i]), str(sources[i]))
            for i in range(size)]


# --------------------------------------------------------------------------- Asterisk

def asterisk_corpus(words=None, root=ASTERISK_ROOT,
                    transcripts=ASTERISK_TRANSCRIPTS) -> list[Utterance]:
    """Every Asterisk prompt whose transcript uses only ``words``, sorted by name.

    ``words`` defaults to ``DIGIT_WORDS + COMMAND_WORDS``. Transcripts are normalised; a
    transcript with digits ("folder 5": its spoken form is unknown) or nothing but a
    bracketed description ("[beep]") never qualifies, and bracketed notes are dropped
    ("dash [-]" is "dash"). Prompts listed without a WAV file are skipped. ``source`` is
    the WAV path. Raises MissingFileError when the recordings are not installed.
    """
    vocabulary = _vocabulary(words)
    texts = _asterisk_transcripts(Path(root), Path(transcripts))
    names = sorted(name for name, text in texts.items()
                   if set(text.split()) <= vocabulary and (Path(root) / f"{name}.wav").is_file())
    return [_asterisk_utterance(Path(root), name, texts[name]) for name in names]


def asterisk_digits(root=ASTERISK_ROOT, transcripts=ASTERISK_TRANSCRIPTS) -> list[Utterance]:
    """The 11 Asterisk digit prompts ``digits/0`` .. ``digits/9`` and ``digits/oh``, in order."""
    texts = _asterisk_transcripts(Path(root), Path(transcripts))
    missing = [name for name in ASTERISK_DIGITS if name not in texts]
    if missing:
        raise MissingFileError(f"{transcripts} lists no {missing[0]}; reinstall: "
                               f"{_ASTERISK_INSTALL}")
    return [_asterisk_utterance(Path(root), name, texts[name]) for name in ASTERISK_DIGITS]


def _vocabulary(words) -> set[str]:
    if words is None:
        return set(DIGIT_WORDS + COMMAND_WORDS)
    if isinstance(words, str) or not all(isinstance(w, str) for w in words):
        raise InputTypeError("words must be a collection of str, e.g. ('yes', 'no')")
    return {normalize_transcript(w) for w in words} - {""}


def _asterisk_transcripts(root: Path, transcripts: Path) -> dict[str, str]:
    """``{relative name: normalised text}`` of every spoken prompt of the transcript list."""
    for needed in (root, transcripts):
        if not needed.exists():
            raise MissingFileError(f"Asterisk recordings not installed (no {needed}): "
                                   f"{_ASTERISK_INSTALL}")
    with gzip.open(transcripts, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    texts = {}
    for line in lines:
        name, sep, text = line.partition(":")
        if not sep or line.startswith(";"):
            continue
        text = re.sub(r"\[[^\]]*\]", " ", text)               # "[beep]", "dash [-]"
        if not re.search(r"[0-9]", text) and normalize_transcript(text):
            texts[name.strip()] = normalize_transcript(text)
    return texts


def _asterisk_utterance(root: Path, name: str, text: str) -> Utterance:
    path = root / f"{name}.wav"
    return Utterance(read_wav(path, SAMPLE_RATE), text, str(path))


# --------------------------------------------------------------------------- saytime

def saytime_digits(root=SAYTIME_ROOT) -> list[Utterance]:
    """saytime's 11 digit recordings ``0.au`` .. ``9.au`` ("zero" .. "nine") and ``oh.au``.

    The files are headerless mu-law (G.711) at 8 kHz, what saytime plays with ``sox -t .ul``;
    they are decoded to float32 in [-1, 1]. ``source`` is the file path. Raises
    MissingFileError when saytime is not installed.
    """
    import soundfile

    root = Path(root)
    missing = [name for name in SAYTIME_DIGITS if not (root / name).is_file()]
    if missing:
        raise MissingFileError(f"saytime recordings not installed (no {root / missing[0]}): "
                               f"apt-get install saytime")
    utterances = []
    for name, text in zip(SAYTIME_DIGITS, DIGIT_WORDS):
        audio, _ = soundfile.read(root / name, dtype="float32", samplerate=SAMPLE_RATE, channels=1,
                                  format="RAW", subtype="ULAW")                # (N,)
        utterances.append(Utterance(audio, text, str(root / name)))
    return utterances


# --------------------------------------------------------------------------- user folder

def read_transcribed_folder(folder) -> list[Utterance]:
    """The utterances listed in ``folder/transcripts.tsv``, in file order.

    ``transcripts.tsv`` is UTF-8 (a byte-order mark is dropped), one ``file<TAB>text`` per
    line, ``file`` relative to ``folder`` (subfolders allowed); blank lines, lines starting
    with ``#`` and a first line ``file<TAB>text`` are skipped. Texts are normalised
    (:func:`normalize_transcript`) and must not contain digits (write numbers as words).
    Audio is any WAV ``read_wav`` reads, resampled to SAMPLE_RATE; ``source`` is its path.
    Every error names the file (and the line); the whole list is checked before any audio
    is read.
    """
    if not isinstance(folder, (str, os.PathLike)):
        raise InputTypeError(f"folder must be a str or os.PathLike, got {type(folder).__name__}")
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFileError(f"speech folder {str(folder)!r} does not exist or is not a folder")
    listing = folder / TRANSCRIPTS_FILE
    if not listing.is_file():
        raise MissingFileError(f"{str(listing)!r} does not exist; a speech folder lists its "
                               f"recordings there, one 'file<TAB>text' per line")
    entries = _parse_listing(read_utf8(listing, "transcript list"), folder, str(listing))
    if not entries:
        raise InputError(f"{str(listing)!r} lists no utterances")
    return [_read_entry(path, text, str(listing), number) for number, path, text in entries]


def _parse_listing(content: str, folder: Path, source: str) -> list[tuple[int, Path, str]]:
    """``(line number, audio path, normalised text)`` of every entry of the listing."""
    entries, first_line = [], {}                 # first_line: normalised name -> line number
    header_allowed = True
    for number, line in enumerate(content.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{source!r}, line {number}"
        fields = line.split("\t")
        if len(fields) != 2:
            raise InputError(f"{where}: expected 'file<TAB>text' with exactly one tab, "
                             f"found {len(fields) - 1}")
        name, raw_text = fields[0].strip(), fields[1].strip()
        if header_allowed and (name.lower(), raw_text.lower()) == ("file", "text"):
            header_allowed = False
            continue
        header_allowed = False
        _check_name(name, where)
        key = os.path.normpath(name)
        if key in first_line:
            raise InputError(f"{where}: file {name!r} is listed twice (first on line "
                             f"{first_line[key]})")
        first_line[key] = number
        entries.append((number, folder / name, _entry_text(raw_text, where)))
    return entries


def _check_name(name: str, where: str) -> None:
    if not name:
        raise InputError(f"{where}: the file name is empty")
    if os.path.isabs(name):
        raise InputError(f"{where}: file {name!r} must be relative to the folder")


def _entry_text(raw_text: str, where: str) -> str:
    if re.search(r"[0-9]", raw_text):
        raise InputError(f"{where}: text {raw_text!r} contains digits; write numbers as words")
    text = normalize_transcript(raw_text)
    if not text:
        raise InputError(f"{where}: text {raw_text!r} is empty after normalisation "
                         f"(no letters a-z)")
    return text


def _read_entry(path: Path, text: str, source: str, number: int) -> Utterance:
    where = f"{source!r}, line {number}"
    if not path.is_file():
        raise MissingFileError(f"{where}: audio file {str(path)!r} does not exist")
    try:
        audio = read_wav(path, SAMPLE_RATE)
    except InputError as err:
        raise InputError(f"{where}: {err}") from None
    return Utterance(audio, text, str(path))
