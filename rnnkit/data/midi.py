"""MIDI files to piano rolls and back (with ``mido``), and MIDI to WAV (with ``fluidsynth``).

Reading (:func:`read_midi`, :func:`read_midi_folder`): every note of every track and
channel except the General MIDI drum channel (channel 10, index 9) goes into one roll
``(T, 88)`` (see :mod:`rnnkit.data.music`). The grid is in beats, from the file's
``ticks_per_beat``: step ``k`` starts at beat ``k / steps_per_quarter``, so tempo changes do
not move it. A pitch is on at step ``k`` when a note of that pitch sounds at the step's
start time (onset <= t_k < release): a note between two grid times does not appear, and a
note starting off the grid appears from the next grid time. A ``note_on`` of velocity 0 is
a ``note_off``. A pitch sounds while, on its track and channel, more of its ``note_on``
than ``note_off`` messages have come (so overlapping notes of one pitch merge, and a stray
``note_off`` is ignored); a note never released ends with the file's last event. Type 0
and type 1 files are read alike; the tracks of a type 2 file are overlaid from time 0.
The roll runs from the file's time 0 (leading silence is kept) to the step in which the
last note ends (trailing silence is not).

Writing (:func:`write_midi`): a type-0 file, one track on channel 1 with one instrument
(General MIDI program, 0 = acoustic grand piano), one tempo. A run of 1s of one pitch
becomes one held note: the grid does not tell a held note from repeated ones, and chorales
hold notes far more often than they repeat them. So ``read_midi(write_midi(roll))`` gives
the roll back unchanged (except trailing silent steps, which have no notes).

Listening (:func:`render_wav`): the ``fluidsynth`` program with a General MIDI sound font,
both Debian packages (``apt-get install fluidsynth fluid-soundfont-gm``; ``make data``
installs them where it runs as root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from rnnkit._validation import check_scalar
from rnnkit.checkpoint import atomic_write
from rnnkit.data.music import (HIGHEST_PITCH, LOWEST_PITCH, MAX_STEPS_PER_QUARTER, NUM_PITCHES,
                               check_roll)
from rnnkit.errors import InputError, InputTypeError, MissingFileError

__all__ = ["DRUM_CHANNEL", "MIDI_SUFFIXES", "DEFAULT_SOUNDFONT", "FLUIDSYNTH_HINT", "read_midi",
           "write_midi", "read_midi_folder", "fluidsynth_available", "render_wav"]

DRUM_CHANNEL = 9                        # channel 10 in the MIDI specification's numbering
MIDI_SUFFIXES = (".mid", ".midi")       # compared lower-case
DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")   # Debian fluid-soundfont-gm
WRITE_TICKS_PER_BEAT = 960              # 2**6 * 15: steps of 1/2 .. 1/64 and of triplets
_MIDO_INSTALL = "pip install mido (or pip install 'rnnkit[apps]')"
FLUIDSYNTH_HINT = "apt-get install fluidsynth fluid-soundfont-gm"     # how to get WAVs
_RENDER_TIMEOUT_S = 600                 # fluidsynth renders about 100x faster than real time
_RENDER_GAIN = 1.0                      # fluidsynth's default 0.2 is very quiet for a few voices
# What mido raises on a damaged or non-MIDI file (found by corrupting files at random).
_MIDO_ERRORS = (OSError, EOFError, ValueError, KeyError, IndexError)


def _mido():
    try:
        import mido
    except ImportError:
        raise MissingFileError(f"MIDI files need mido: {_MIDO_INSTALL}") from None
    return mido


def _check_path(path, name: str) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise InputTypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__}")
    return os.fspath(path)


# --------------------------------------------------------------------------- reading

def _open_midi(path: str):
    """The ``mido.MidiFile`` at ``path``; MissingFileError / one-line InputError."""
    mido = _mido()
    if not os.path.isfile(path):
        raise MissingFileError(f"MIDI file {path!r} does not exist")
    try:
        midi = mido.MidiFile(path)
    except _MIDO_ERRORS as err:
        reason = str(err) or "the file ends too early"
        raise InputError(f"{path!r} is not a readable MIDI file ({reason})") from None
    if midi.ticks_per_beat <= 0:
        raise InputError(f"{path!r} is not a readable MIDI file (SMPTE time division is "
                         f"not supported)")
    return midi


def read_midi(path, steps_per_quarter: int = 1, drop_out_of_range: bool = False) -> np.ndarray:
    """The notes of the MIDI file ``path`` as a roll ``(T, 88)`` uint8 (module docstring).

    Raises MissingFileError when there is no such file, InputError (one line naming the
    file) when it is not a MIDI file, is damaged, has no notes outside the drum channel
    (or none on the grid), or has a note outside the piano's range 21..108
    (``drop_out_of_range`` leaves such notes out instead; the roll's length counts them).
    """
    path = _check_path(path, "path")
    spq = check_scalar(steps_per_quarter, "steps_per_quarter", int, low=1,
                       high=MAX_STEPS_PER_QUARTER)
    midi = _open_midi(path)
    notes, last_tick = _notes(midi)                    # (pitch, onset tick, release tick)
    if not notes:
        raise InputError(f"{path!r} has no notes (drum channel 10 is not read)")
    tpb = midi.ticks_per_beat
    # Step k starts at tick k * tpb / spq; integer arithmetic keeps the grid exact.
    steps = -(-max(release for _, _, release in notes) * spq // tpb)
    roll = np.zeros((steps, NUM_PITCHES), dtype=np.uint8)                     # (T, 88)
    for pitch, onset, release in notes:
        if not LOWEST_PITCH <= pitch <= HIGHEST_PITCH:
            if drop_out_of_range:
                continue
            raise InputError(f"{path!r}: note {pitch} is outside the piano range "
                             f"{LOWEST_PITCH}..{HIGHEST_PITCH}")
        first = -(-onset * spq // tpb)                 # first step starting at or after onset
        stop = -(-release * spq // tpb)                # steps starting before the release
        roll[first:stop, pitch - LOWEST_PITCH] = 1
    if not roll.any():
        raise InputError(f"{path!r} has no notes in the piano range "
                         f"{LOWEST_PITCH}..{HIGHEST_PITCH} on the grid")
    return roll


def _notes(midi) -> tuple[list[tuple[int, int, int]], int]:
    """Every sounding interval ``(pitch, onset, release)`` in ticks, and the last event's
    tick (where a note never released ends)."""
    notes, last_tick, hanging = [], 0, []
    for track in midi.tracks:
        tick, depth, onset = 0, {}, {}             # per (channel, pitch): open notes, start
        for message in track:
            tick += message.time
            if message.type not in ("note_on", "note_off") or message.channel == DRUM_CHANNEL:
                continue
            key = (message.channel, message.note)
            if message.type == "note_on" and message.velocity > 0:
                if not depth.get(key):
                    onset[key] = tick
                depth[key] = depth.get(key, 0) + 1
            elif depth.get(key):
                depth[key] -= 1
                if not depth[key]:
                    notes.append((message.note, onset[key], tick))
        last_tick = max(last_tick, tick)
        hanging += [(key[1], onset[key]) for key, count in depth.items() if count]
    notes += [(pitch, start, last_tick) for pitch, start in hanging]
    return notes, last_tick


def read_midi_folder(folder, steps_per_quarter: int = 1,
                     drop_out_of_range: bool = False) -> list[tuple[str, np.ndarray]]:
    """``(name, roll)`` of every ``.mid``/``.midi`` file in ``folder`` and its subfolders.

    ``name`` is the path relative to ``folder`` (``"bach/bwv1.mid"``); the list is sorted by
    it. ``steps_per_quarter`` and ``drop_out_of_range`` are :func:`read_midi`'s. Raises
    MissingFileError when the folder does not exist, InputError when it holds no MIDI
    file, and :func:`read_midi`'s error for the first file that cannot be read.
    """
    folder = Path(_check_path(folder, "folder"))
    if not folder.is_dir():
        raise MissingFileError(f"MIDI folder {str(folder)!r} does not exist or is not a folder")
    files = sorted(path for path in folder.rglob("*")
                   if path.suffix.lower() in MIDI_SUFFIXES and path.is_file())
    if not files:
        raise InputError(f"MIDI folder {str(folder)!r} holds no .mid or .midi file")
    return [(path.relative_to(folder).as_posix(),
             read_midi(path, steps_per_quarter, drop_out_of_range)) for path in files]


# --------------------------------------------------------------------------- writing

def write_midi(roll, path, steps_per_quarter: int = 1, tempo_bpm: float = 90.0,
               program: int = 0, velocity: int = 80) -> str:
    """Write ``roll`` ``(T, 88)`` as a type-0 MIDI file at ``path`` (atomically); return the path.

    Each run of 1s of a pitch is one held note (module docstring). ``tempo_bpm`` is in
    quarter notes per minute, ``program`` the General MIDI instrument (0-127; 0 = piano,
    19 = church organ, 52 = choir aahs), ``velocity`` the loudness of every note (1-127).
    """
    roll = check_roll(roll)
    path = _check_path(path, "path")
    spq = check_scalar(steps_per_quarter, "steps_per_quarter", int, low=1,
                       high=MAX_STEPS_PER_QUARTER)
    tempo_bpm = check_scalar(tempo_bpm, "tempo_bpm", float, low=1.0, high=1000.0)
    program = check_scalar(program, "program", int, low=0, high=127)
    velocity = check_scalar(velocity, "velocity", int, low=1, high=127)
    if WRITE_TICKS_PER_BEAT % spq:
        raise InputError(f"steps_per_quarter must divide {WRITE_TICKS_PER_BEAT} to be written "
                         f"(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, ...), got {spq}")
    mido = _mido()
    step_ticks = WRITE_TICKS_PER_BEAT // spq
    # A run starts where a 1 follows a 0 and ends where a 0 follows a 1: pad with silence.
    padded = np.zeros((len(roll) + 2, NUM_PITCHES), dtype=np.int8)            # (T+2, 88)
    padded[1:-1] = roll
    change = np.diff(padded, axis=0)                                          # (T+1, 88)
    events = [(step * step_ticks, 1, "note_on", j) for step, j in np.argwhere(change == 1)]
    events += [(step * step_ticks, 0, "note_off", j) for step, j in np.argwhere(change == -1)]
    events.sort()                                  # at one tick, releases before attacks
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm), time=0))
    track.append(mido.Message("program_change", program=program, channel=0, time=0))
    tick = 0
    for event_tick, _, kind, j in events:
        track.append(mido.Message(kind, note=int(j) + LOWEST_PITCH, channel=0,
                                  velocity=velocity if kind == "note_on" else 0,
                                  time=int(event_tick - tick)))
        tick = event_tick
    track.append(mido.MetaMessage("end_of_track", time=int(len(roll) * step_ticks - tick)))
    midi = mido.MidiFile(type=0, ticks_per_beat=WRITE_TICKS_PER_BEAT)
    midi.tracks.append(track)
    atomic_write(path, lambda f: midi.save(file=f))
    return path


# --------------------------------------------------------------------------- listening

def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fluidsynth_available(soundfont=None) -> bool:
    """True when the ``fluidsynth`` program is on ``PATH`` and the sound font exists
    (``soundfont``, or ``DEFAULT_SOUNDFONT`` from Debian's fluid-soundfont-gm)."""
    font = DEFAULT_SOUNDFONT if soundfont is None else Path(_check_path(soundfont, "soundfont"))
    return shutil.which("fluidsynth") is not None and font.is_file()


def render_wav(midi_path, wav_path, soundfont=None, sample_rate: int = 44100) -> str:
    """Play the MIDI file ``midi_path`` through ``fluidsynth`` into a 16-bit stereo WAV.

    ``soundfont`` defaults to ``DEFAULT_SOUNDFONT``. The WAV lasts the piece plus the
    instruments' release and reverb (about 2.5 s with FluidR3_GM); it is written to a
    temporary file in the same folder, then renamed to ``wav_path``, which is returned.
    Raises MissingFileError (with the apt-get line) when fluidsynth or the sound font is
    missing, InputError when fluidsynth fails (a damaged MIDI file) or takes too long.
    """
    midi_path = _check_path(midi_path, "midi_path")
    wav_path = _check_path(wav_path, "wav_path")
    sample_rate = check_scalar(sample_rate, "sample_rate", int, low=8000, high=192000)
    program = shutil.which("fluidsynth")
    if program is None:
        raise MissingFileError(f"fluidsynth is not installed: {FLUIDSYNTH_HINT}")
    font = DEFAULT_SOUNDFONT if soundfont is None else Path(_check_path(soundfont, "soundfont"))
    if not font.is_file():
        raise MissingFileError(f"no sound font at {str(font)!r}: {FLUIDSYNTH_HINT} "
                               f"(or pass soundfont=)")
    _open_midi(midi_path)           # fluidsynth's own complaint about a bad file is cryptic
    folder = os.path.dirname(os.path.abspath(wav_path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".render-", suffix=".wav")
    os.close(fd)
    # -n -i: no MIDI input, no shell; -q: quiet; -F: render to a file as fast as possible.
    # Absolute paths, so that a file name starting with "-" is not read as an option.
    command = [program, "-n", "-i", "-q", "-g", str(_RENDER_GAIN), "-r", str(sample_rate),
               "-T", "wav", "-F", tmp, os.path.abspath(font), os.path.abspath(midi_path)]
    try:
        try:
            done = subprocess.run(command, capture_output=True, text=True,
                                  timeout=_RENDER_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise InputError(f"fluidsynth did not finish {midi_path!r} within "
                             f"{_RENDER_TIMEOUT_S} s") from None
        if done.returncode != 0 or os.path.getsize(tmp) == 0:
            lines = (done.stderr + done.stdout).strip().splitlines()
            raise InputError(f"fluidsynth could not render {midi_path!r}: "
                             f"{lines[-1] if lines else f'exit status {done.returncode}'}")
        os.chmod(tmp, 0o666 & ~_umask())            # mkstemp's 0o600 -> as any other file
        os.replace(tmp, wav_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return wav_path
