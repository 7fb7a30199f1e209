"""Text to speech with the local engines espeak-ng, flite and festival: one utterance in, one
signal out.

``synthesize(text, voice)`` runs one engine as a subprocess (list arguments, no shell; the
text goes through a temporary file, so no text can be read as an option) and returns a mono
float32 signal ``(N,)`` at ``SAMPLE_RATE``, read back with :func:`rnnkit.audio.read_wav`.
Nothing is downloaded: the engines and their voices are Debian packages
(``apt-get install espeak-ng flite festival festvox-kdlpc16k festvox-us-slt-hts``; ``make
data`` installs them where it runs as root).

Why ``SAMPLE_RATE = 8000``: the speech recogniser works in the telephone band (300-3400 Hz).
Its real-speech evaluation set, the Asterisk prompts, is recorded at 8 kHz, so any wider
band seen in training would be missing at test time; flite's ``kal`` voice is 8 kHz too.
espeak-ng (22.05 kHz), flite's other voices (16 kHz) and festival's (16 and 32 kHz) are
resampled down by ``read_wav``.

Voices (:class:`Voice`), by engine:

``espeak-ng``
    formant synthesis; ``name`` is ``base`` or ``base+variant`` as ``espeak-ng -v`` takes
    it (``en-us+f3``); ``speed`` is words per minute (80-450, default 175); ``pitch`` is
    espeak's 0-99 (default 50). :func:`espeak_voices` lists the English bases (mbrola
    voices excluded: they need data packages that are not installed) with every variant in
    ``ESPEAK_VARIANTS``, a fixed list of human-sounding variants (robots, whispers and
    novelty voices left out).
``flite``
    voices built from recordings of real speakers, closer to natural speech; ``name`` is one
    of ``FLITE_VOICES`` (kal, kal16: US male diphone; awb: Scottish male; rms: US male;
    slt: US female); ``speed`` is flite's ``duration_stretch`` (0.25-4, default 1: > 1 is
    slower); ``pitch`` (0-99, default 50) multiplies the voice's own F0 by
    ``2 ** ((pitch - 50) / 100)`` (x0.71 at 0, x1.41 at 99; flite's ``f0_shift``), so
    pitch 50 leaves each voice as its speaker spoke. ``rms`` ignores ``f0_shift``.
``text2wave`` (festival's program; the engine is named by its program, as the others are)
    two more voices built from recordings of real speakers, ``FESTIVAL_VOICES``: ``ked``
    (US male, diphones; Debian ``festvox-kdlpc16k``) and ``slt-hts`` (US female, a hidden
    Markov model voice trained on the CMU ARCTIC slt recordings; ``festvox-us-slt-hts``).
    ``speed`` is a duration stretch as for flite (``ked``: festival's ``Duration_Stretch``
    times the voice's own 1.1; ``slt-hts``: the HTS engine's speech rate ``1 / speed``);
    ``pitch`` multiplies ``ked``'s target F0 mean and range by ``2 ** ((pitch - 50) / 100)``
    as for flite; ``slt-hts`` ignores it (its F0 comes from its own model).

Both engines fall back silently to a default voice on an unknown name, so names are checked
against what the installed engine lists before it runs.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np

from rnnkit.audio import read_wav
from rnnkit.errors import InputError, InputTypeError, MissingFileError

__all__ = ["SAMPLE_RATE", "ENGINES", "ESPEAK_VARIANTS", "FLITE_VOICES", "FESTIVAL_VOICES",
           "Voice", "synthesize", "available_engines", "espeak_voices", "flite_voices",
           "festival_voices"]

SAMPLE_RATE = 8000                      # Hz: telephone band, the Asterisk recordings' rate
ENGINES = ("espeak-ng", "flite", "text2wave")
ESPEAK_DEFAULT_WPM = 175                # espeak-ng's own default speed
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")   # built in; awb_time only says times
FESTIVAL_VOICES = {                     # our name: festival's voice (its Debian package)
    "ked": "ked_diphone",               # festvox-kdlpc16k
    "slt-hts": "cmu_us_slt_arctic_hts",  # festvox-us-slt-hts
}
_KED_F0 = (105, 15)                     # ked's own target F0 mean and range, Hz (ked_diphone.scm)
ESPEAK_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "croak", "klatt", "klatt2", "klatt3", "klatt4", "adam", "Alex", "Alicia", "Andrea",
    "Andy", "Annie", "aunty", "belinda", "benjamin", "caleb", "david", "ed", "edward",
    "Gene", "iven", "john", "linda", "max", "Michael", "norbert", "paul", "quincy", "rob",
    "robert", "shelby", "steph", "travis", "victor", "zac", "anika", "grandma", "grandpa",
)

_ESPEAK_NAME = re.compile(r"[a-z0-9-]+(\+[A-Za-z0-9_-]+)?")
_TIMEOUT_S = 60                         # one short utterance takes well under a second
_SILENCE = 1e-4                         # peak below this: the engine said nothing
_INSTALL = {"espeak-ng": "apt-get install espeak-ng", "flite": "apt-get install flite",
            "text2wave": "apt-get install festival festvox-kdlpc16k festvox-us-slt-hts"}


@dataclass(frozen=True)
class Voice:
    """One engine voice at one speed and pitch (see the module docstring for the units).

    ``speed=None`` is the engine's default (175 words/min for espeak-ng, a duration stretch
    of 1 for flite and festival's text2wave). The name is checked against the installed
    engine by :func:`synthesize`.
    """

    engine: str
    name: str
    speed: float | None = None
    pitch: int = 50

    def __post_init__(self):
        if self.engine not in ENGINES:
            raise InputError(f"Voice engine must be one of {ENGINES}, got {self.engine!r}")
        if not isinstance(self.name, str) or not self.name:
            raise InputTypeError(f"Voice name must be a non-empty str, got {self.name!r}")
        low, high = (80, 450) if self.engine == "espeak-ng" else (0.25, 4.0)
        if self.speed is not None and not (isinstance(self.speed, (int, float, np.integer))
                                           and low <= self.speed <= high):
            unit = "words/min" if self.engine == "espeak-ng" else "duration stretch"
            raise InputError(f"Voice speed for {self.engine} is a {unit} in [{low}, {high}] "
                             f"or None, got {self.speed!r}")
        if not (isinstance(self.pitch, (int, np.integer)) and 0 <= self.pitch <= 99):
            raise InputError(f"Voice pitch must be an int in [0, 99], got {self.pitch!r}")

    @property
    def description(self) -> str:
        """``"espeak-ng en-us+f3 speed=160 pitch=40"``: what made an utterance."""
        speed = "default" if self.speed is None else f"{self.speed:g}"
        return f"{self.engine} {self.name} speed={speed} pitch={self.pitch}"


# --------------------------------------------------------------------------- engines

def available_engines() -> tuple[str, ...]:
    """The engines of ``ENGINES`` whose program is on ``PATH``, in that order."""
    return tuple(engine for engine in ENGINES if shutil.which(engine))


def _require(engine: str) -> str:
    program = shutil.which(engine)
    if program is None:
        raise MissingFileError(f"{engine} is not installed: {_INSTALL[engine]}")
    return program


@functools.lru_cache(maxsize=None)
def _espeak_listing() -> tuple[frozenset, frozenset, tuple]:
    """(every non-mbrola language name, every variant file name, English bases in order)."""
    program = _require("espeak-ng")
    languages, english = set(), []
    for line in _output([program, "--voices"]).splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 5 and not fields[4].startswith("mb/"):
            languages.add(fields[1])
            if fields[1].startswith("en") and fields[1] not in english:
                english.append(fields[1])
    variants = set()
    for line in _output([program, "--voices=variant"]).splitlines()[1:]:
        file = " ".join(line.split()[4:]).split(" (")[0]
        if file.startswith("!v/"):
            variants.add(file[3:])
    return frozenset(languages), frozenset(variants), tuple(english)


@functools.lru_cache(maxsize=None)
def _flite_listing() -> frozenset:
    text = _output([_require("flite"), "-lv"])
    return frozenset(text.split(":", 1)[-1].split())


@functools.lru_cache(maxsize=None)
def _festival_listing() -> frozenset:
    """Festival's voice names (``voice.list``), asked of the festival next to text2wave."""
    text2wave = _require("text2wave")
    festival = os.path.join(os.path.dirname(text2wave), "festival")
    if not os.path.exists(festival):
        festival = shutil.which("festival") or festival
    text = _output([festival, "--batch", "(print (voice.list))"])
    return frozenset(text.replace("(", " ").replace(")", " ").split())


def espeak_voices() -> tuple[str, ...]:
    """Every installed English espeak-ng voice: each base alone, then ``base+variant``.

    Bases are the non-mbrola English voices espeak-ng lists (``en-us``, ``en-gb``,
    ``en-029``, ...); variants those of ``ESPEAK_VARIANTS`` it has. Raises MissingFileError
    when espeak-ng is not installed.
    """
    _, variants, english = _espeak_listing()
    usable = [v for v in ESPEAK_VARIANTS if v in variants]
    return tuple(name for base in english for name in [base] + [f"{base}+{v}" for v in usable])


def flite_voices() -> tuple[str, ...]:
    """The voices of ``FLITE_VOICES`` the installed flite has (MissingFileError without it)."""
    listed = _flite_listing()
    return tuple(name for name in FLITE_VOICES if name in listed)


def festival_voices() -> tuple[str, ...]:
    """The voices of ``FESTIVAL_VOICES`` the installed festival has, in that order
    (MissingFileError without festival's text2wave)."""
    listed = _festival_listing()
    return tuple(name for name, voice in FESTIVAL_VOICES.items() if voice in listed)


def _check_installed_voice(voice: Voice) -> None:
    if voice.engine == "text2wave":
        if voice.name not in festival_voices():
            raise InputError(f"festival voice must be one of {festival_voices()} (of "
                             f"{tuple(FESTIVAL_VOICES)}: apt-get install festvox-kdlpc16k "
                             f"festvox-us-slt-hts), got {voice.name!r}")
        return
    if voice.engine == "flite":
        if voice.name not in flite_voices():
            raise InputError(f"flite voice must be one of {flite_voices()}, got {voice.name!r}")
        return
    languages, variants, _ = _espeak_listing()
    base, _, variant = voice.name.partition("+")
    if not _ESPEAK_NAME.fullmatch(voice.name) or base not in languages:
        raise InputError(f"espeak-ng has no voice {base!r} (see `espeak-ng --voices`; "
                         f"mbrola voices are not supported)")
    if variant and variant not in variants:
        raise InputError(f"espeak-ng has no variant {variant!r} "
                         f"(see `espeak-ng --voices=variant`)")


# --------------------------------------------------------------------------- synthesis

def synthesize(text: str, voice: Voice) -> np.ndarray:
    """Say ``text`` with ``voice``; return the signal, float32 of shape ``(N,)`` at SAMPLE_RATE.

    The engine writes a WAV into a temporary folder, removed afterwards, so calls may run in
    parallel threads. Raises MissingFileError when the engine is not installed, InputError
    for an empty text, a voice the engine lacks, an engine failure, or silent output.
    """
    if not isinstance(text, str):
        raise InputTypeError(f"text must be a str, got {type(text).__name__}")
    if not text.strip():
        raise InputError("text to synthesize is empty")
    if not isinstance(voice, Voice):
        raise InputTypeError(f"voice must be a rnnkit.data.tts.Voice, got {type(voice).__name__}")
    program = _require(voice.engine)
    _check_installed_voice(voice)
    with tempfile.TemporaryDirectory(prefix="rnnkit-tts-") as folder:
        text_path = os.path.join(folder, "text.txt")
        wav_path = os.path.join(folder, "speech.wav")
        with open(text_path, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        if voice.engine == "text2wave":
            with open(os.path.join(folder, "voice.scm"), "w", encoding="utf-8") as f:
                f.write(_festival_setup(voice))
        _output([program] + _arguments(voice, text_path, wav_path))
        signal = read_wav(wav_path, SAMPLE_RATE)                               # (N,)
    if np.abs(signal).max() < _SILENCE:
        raise InputError(f"{voice.description} produced silence for {text!r}")
    return signal


def _arguments(voice: Voice, text_path: str, wav_path: str) -> list[str]:
    """Command-line arguments after the program name, for one utterance."""
    if voice.engine == "espeak-ng":
        speed = ESPEAK_DEFAULT_WPM if voice.speed is None else voice.speed
        return ["-v", voice.name, "-s", str(int(round(speed))), "-p", str(int(voice.pitch)),
                "-f", text_path, "-w", wav_path]
    if voice.engine == "text2wave":
        return ["-eval", os.path.join(os.path.dirname(text_path), "voice.scm"), text_path,
                "-o", wav_path]
    stretch = 1.0 if voice.speed is None else float(voice.speed)
    f0_shift = 2.0 ** ((voice.pitch - 50) / 100)
    return ["-voice", voice.name, "--setf", f"duration_stretch={stretch:.4f}",
            "--setf", f"f0_shift={f0_shift:.4f}", "-f", text_path, "-o", wav_path]


def _festival_setup(voice: Voice) -> str:
    """The Scheme text2wave evaluates before it speaks: the voice, its speed and pitch."""
    stretch = 1.0 if voice.speed is None else float(voice.speed)
    lines = [f"(voice_{FESTIVAL_VOICES[voice.name]})"]
    if voice.name == "slt-hts":                       # HTS: its own durations, a speech rate
        lines.append(f'(set! hts_engine_params (append hts_engine_params '
                     f'(list (list "-r" {1 / stretch:.4f}))))')
    else:                                             # diphones: stretch and F0 targets
        factor = 2.0 ** ((voice.pitch - 50) / 100)
        mean, spread = _KED_F0
        lines.append(f"(Parameter.set 'Duration_Stretch "
                     f"(* (Parameter.get 'Duration_Stretch) {stretch:.4f}))")
        lines.append(f"(set! int_lr_params '((target_f0_mean {mean * factor:.2f}) "
                     f"(target_f0_std {spread * factor:.2f}) (model_f0_mean 170) "
                     f"(model_f0_std 34)))")
    return "\n".join(lines) + "\n"


def _output(command: list[str]) -> str:
    """Run ``command`` (no shell); its stdout, or InputError with its stderr's last line."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=_TIMEOUT_S,
                              check=False)
    except subprocess.TimeoutExpired:
        raise InputError(f"{os.path.basename(command[0])} did not finish within "
                         f"{_TIMEOUT_S} s") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise InputError(f"{os.path.basename(command[0])} failed: {lines[-1]}")
    return done.stdout
