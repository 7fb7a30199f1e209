"""Polyphonic music as piano rolls: the JSB benchmark, the Bach chorales of music21, PNGs.

A piano roll is a ``uint8`` array ``(T, NUM_PITCHES)`` of 0/1, one row per time step, one
column per piano key: column ``j`` is MIDI note ``LOWEST_PITCH + j`` (21..108, A0..C8, the
88 keys and the JSB benchmark's range); 1 means the key sounds during the step. A step is
a quarter note unless ``steps_per_quarter`` says otherwise. Time runs down the rows
(batch-free, time-major, as everywhere in rnnkit). :func:`steps_to_roll` and
:func:`roll_to_steps` convert to and from the benchmark's list form, one list of sounding
MIDI numbers per step. Held and repeated notes look the same on this grid (a half note is
two 1s in a row, as are two quarter notes of the same pitch). MIDI files are read and
written by :mod:`rnnkit.data.midi`; its public names can also be taken from this module
(``music.read_midi``), so an app needs one import.

Two corpora, none downloaded at run time:

``jsb_chorales(path)``: the JSB Chorales benchmark (Boulanger-Lewandowski et al. 2012;
    229/76/77 chorales, quarter-note steps) from a JSON file ``{"train"|"valid"|"test":
    [chorale = [step = [MIDI numbers]]]}``. The package does not ship it: benchmark code
    passes the path of the file it has.

``bach_chorales()``: the default corpus for ``rnnkit music``, the Bach chorales that the
    ``music21`` package ships (``pip install music21``, in the ``apps`` extra). Files: every
    MusicXML file ``bwv*`` of ``music21/corpus/bach`` except ``bwv846`` (a keyboard
    prelude). Each is read on a quarter-note grid aligned to the bar lines
    (``parse_chorale``):

    * parts: the sung ones only (names starting Soprano, Alto, Tenor or Bass; every file
      has them). Horns, trumpets, timpani, strings and continuo are left out: they double
      the voices or add figuration the four-voice texture (and the benchmark) does not have.
    * a pitch is on at step ``k`` when a note of that pitch sounds at the step's start
      time (onset <= t_k < onset + duration). Chords give all their pitches; tied notes
      are consecutive notes of one pitch, so a tie is simply a held pitch; a passing eighth
      between two grid points does not appear; grace notes (no duration) never do.
    * the grid's phase is set by the first full bar (a pickup of half a beat would
      otherwise put every step between beats); the roll starts at the first grid time of
      the score (a pickup of whole steps is kept) and ends with the step in which the last
      note ends; repeats are not expanded.

    A few settings have instrumental interludes during which the voices rest for bars;
    those with more than ``MAX_SILENT_FRACTION`` (25 %) silent steps are left out (the
    JSB benchmark has almost no silent steps). Then one version per movement is kept:
    files named ``bwvN.M-x`` are versions of ``bwvN.M`` (other scoring, other city), and
    the first name in sorted order wins.

    The split is fixed: the sorted names, shuffled by ``np.random.default_rng(BACH_SPLIT_SEED)``,
    give 60 % train, 20 % valid, the rest test. Bach reused harmonisations, and the JSB
    benchmark holds the same body of chorales (his 382 four-part harmonisations), so
    neither corpus is free of the other's test pieces: the default corpus is for the
    command; benchmarks use JSB.

    Parsing happens once: the rolls are cached in ``data_dir()/"music"`` (``$RNNKIT_DATA``
    overrides ``data_dir``), one ``.npz`` per grid holding the concatenated rolls, their
    offsets, the names and the music21 version (no pickle), written atomically; later
    calls need neither music21 nor the parse. Delete the file to re-parse after upgrading
    music21. Measured on this project's shared 2-core machine (music21 10.5.1): the 409
    files parse in 35-57 s (depending on the load) into 399 chorales, 239/80/80 by split
    (13,270/4,356/4,574 steps, MIDI 36..81); the cache is 71 kB and loads in 10 ms.

:func:`save_piano_roll_png` draws a roll (pitch up, time to the right) for a person to look at.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from rnnkit._validation import check_scalar
from rnnkit.checkpoint import atomic_write
from rnnkit.datasets.store import data_dir
from rnnkit.errors import InputError, InputTypeError, MissingFileError

__all__ = ["LOWEST_PITCH", "NUM_PITCHES", "HIGHEST_PITCH", "SPLITS", "BACH_SPLIT_SEED",
           "check_roll", "steps_to_roll", "roll_to_steps", "jsb_chorales", "parse_chorale",
           "bach_chorale_rolls", "bach_chorales", "bach_chorale_names", "save_piano_roll_png"]

LOWEST_PITCH = 21                       # A0, the piano's lowest key
NUM_PITCHES = 88
HIGHEST_PITCH = LOWEST_PITCH + NUM_PITCHES - 1      # 108, C8
SPLITS = ("train", "valid", "test")
BACH_SPLIT_SEED = 0
BACH_SPLIT_FRACTIONS = (0.6, 0.2)       # train, valid; test is the rest
VOICE_PARTS = ("soprano", "alto", "tenor", "bass")
MAX_SILENT_FRACTION = 0.25              # of a chorale's steps (see the module docstring)
CORPUS_VERSION = 1                      # bump when a change alters the parsed rolls
MAX_STEPS_PER_QUARTER = 64
_MUSIC21_INSTALL = "pip install music21 (or pip install 'rnnkit[apps]')"
_NOT_CHORALES = ("bwv846",)             # the C major prelude of the Well-Tempered Clavier


# --------------------------------------------------------------------------- rolls

def check_roll(roll, name: str = "roll") -> np.ndarray:
    """``roll`` as a uint8 ``(T, NUM_PITCHES)`` array of 0/1 (a view when it already is).

    Integer and bool arrays of 0/1 are accepted; floats are refused (threshold or sample
    probabilities first), as is any other value or shape.
    """
    if not isinstance(roll, np.ndarray):
        raise InputTypeError(f"{name} must be a numpy.ndarray of shape (T, {NUM_PITCHES}), "
                             f"got {type(roll).__name__}")
    if roll.dtype.kind not in "biu":
        raise InputTypeError(f"{name} must hold integers or bools 0/1, got dtype {roll.dtype} "
                             f"(threshold probabilities first, e.g. (p > 0.5).astype(np.uint8))")
    if roll.ndim != 2 or roll.shape[1] != NUM_PITCHES:
        raise InputError(f"{name} must have shape (T, {NUM_PITCHES}), got {roll.shape}")
    if roll.size and (roll.min() < 0 or roll.max() > 1):
        raise InputError(f"{name} must hold only 0 and 1, got values in "
                         f"[{roll.min()}, {roll.max()}]")
    return roll.astype(np.uint8, copy=False)


def steps_to_roll(steps, drop_out_of_range: bool = False) -> np.ndarray:
    """A roll ``(T, NUM_PITCHES)`` uint8 from ``T`` steps, each a list of sounding MIDI numbers.

    A pitch listed twice in a step is on once. A pitch outside ``LOWEST_PITCH..HIGHEST_PITCH``
    raises InputError naming the step, unless ``drop_out_of_range`` leaves it out.
    """
    if isinstance(steps, (str, bytes, np.ndarray)) or not hasattr(steps, "__len__"):
        raise InputTypeError(f"steps must be a list of lists of MIDI numbers, got "
                             f"{type(steps).__name__}")
    roll = np.zeros((len(steps), NUM_PITCHES), dtype=np.uint8)                 # (T, 88)
    for t, step in enumerate(steps):
        if isinstance(step, (str, bytes)) or not hasattr(step, "__iter__"):
            raise InputTypeError(f"step {t} must be a list of MIDI numbers, got "
                                 f"{type(step).__name__}")
        for pitch in step:
            if not isinstance(pitch, (int, np.integer)) or isinstance(pitch, (bool, np.bool_)):
                raise InputTypeError(f"step {t}: MIDI numbers must be integers, got {pitch!r}")
            if LOWEST_PITCH <= pitch <= HIGHEST_PITCH:
                roll[t, pitch - LOWEST_PITCH] = 1
            elif not drop_out_of_range:
                raise InputError(f"step {t}: pitch {pitch} is outside the piano range "
                                 f"{LOWEST_PITCH}..{HIGHEST_PITCH}")
    return roll


def roll_to_steps(roll) -> list[list[int]]:
    """The steps of ``roll``: one ascending list of sounding MIDI numbers per row."""
    roll = check_roll(roll)
    return [(np.flatnonzero(row) + LOWEST_PITCH).tolist() for row in roll]


# --------------------------------------------------------------------------- JSB

def jsb_chorales(path) -> dict[str, list[np.ndarray]]:
    """The JSB benchmark file at ``path``: ``{"train"|"valid"|"test": [roll (T, 88), ...]}``.

    Every error names the file and, for bad content, the split, chorale and step.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputTypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    if not Path(path).is_file():
        raise MissingFileError(f"JSB chorales file {str(path)!r} does not exist "
                               f"(the benchmark's jsb-chorales-quarter.json)")
    source = repr(str(path))
    try:
        data = json.loads(Path(path).read_bytes())
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"{source} is not a JSON file: {err}") from None
    if not isinstance(data, dict) or sorted(data) != sorted(SPLITS):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise InputError(f"{source} must hold an object with the keys {list(SPLITS)}, "
                         f"found {found}")
    corpus = {}
    for split in SPLITS:
        if not isinstance(data[split], list) or not data[split]:
            raise InputError(f"{source}: {split!r} must be a non-empty list of chorales")
        corpus[split] = []
        for number, chorale in enumerate(data[split]):
            where = f"{source}, {split} chorale {number}"
            if not isinstance(chorale, list) or not chorale:
                raise InputError(f"{where}: a chorale must be a non-empty list of steps")
            try:
                corpus[split].append(steps_to_roll(chorale))
            except (InputError, InputTypeError) as err:
                raise InputError(f"{where}, {err}") from None
    return corpus


# --------------------------------------------------------------------------- Bach (music21)

def _music21():
    try:
        import music21
    except ImportError:
        raise MissingFileError(f"the Bach chorales need music21: {_MUSIC21_INSTALL}") from None
    return music21


def _corpus_files() -> list[tuple[str, Path]]:
    """``(name, path)`` of every chorale file music21 ships (all versions), sorted by name."""
    folder = Path(_music21().__file__).parent / "corpus" / "bach"
    files = sorted((path.stem, path) for path in folder.glob("bwv*")
                   if path.suffix in (".mxl", ".xml") and path.stem not in _NOT_CHORALES)
    if not files:
        raise MissingFileError(f"music21 ships no Bach chorales in {folder}; reinstall: "
                               f"{_MUSIC21_INSTALL}")
    return files


def _select(pieces: list[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
    """Mostly sung pieces only, then one version per movement (module docstring)."""
    kept = {}
    for name, roll in sorted(pieces, key=lambda piece: piece[0]):   # "bwv18.5" < "bwv18.5-lz"
        if (roll.sum(axis=1) == 0).mean() <= MAX_SILENT_FRACTION:
            kept.setdefault(name.split("-")[0], (name, roll))
    return sorted(kept.values(), key=lambda piece: piece[0])


def parse_chorale(source, steps_per_quarter: int = 1) -> np.ndarray:
    """One chorale as a roll ``(T, 88)``, read with music21 (rules in the module docstring).

    ``source`` is a name of the default corpus (``"bwv66.6"``) or the path of any score
    music21 reads (MusicXML, kern, ...). Without parts named Soprano/Alto/Tenor/Bass every
    part is read. Raises MissingFileError without music21 or for an unknown name or path,
    InputError for a file music21 cannot read, one without notes, or one with a pitch
    outside the piano.
    """
    spq = check_scalar(steps_per_quarter, "steps_per_quarter", int, low=1,
                       high=MAX_STEPS_PER_QUARTER)
    music21 = _music21()
    if isinstance(source, os.PathLike) or (isinstance(source, str) and os.path.isfile(source)):
        path = Path(source)
    elif isinstance(source, str):
        names = dict(_corpus_files())
        if source not in names:
            raise MissingFileError(f"no chorale {source!r} in the default corpus and no such "
                                   f"file (names look like 'bwv66.6')")
        path = names[source]
    else:
        raise InputTypeError(f"source must be a chorale name or a path, got "
                             f"{type(source).__name__}")
    if not path.is_file():
        raise MissingFileError(f"score file {str(path)!r} does not exist")
    try:
        # forceSource/storePickle: read the file itself; music21 would otherwise keep (and
        # later load) a pickled copy in its temporary folder.
        score = music21.converter.parse(path, forceSource=True, storePickle=False)
    except Exception as err:         # music21 raises many types for an unreadable file
        raise InputError(f"music21 cannot read {str(path)!r}: {type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''}") from None
    return _score_to_roll(score, spq, str(path))


def _score_to_roll(score, spq: int, source: str) -> np.ndarray:
    parts = list(getattr(score, "parts", [])) or [score]
    voices = [part for part in parts
              if (part.partName or "").strip().lower().startswith(VOICE_PARTS)]
    notes = []                                           # (pitch, onset, end) in quarters
    for part in voices or parts:
        for element in part.flatten().notes:
            onset = Fraction(element.offset)
            end = onset + Fraction(element.quarterLength)
            notes += [(pitch.midi, onset, end) for pitch in element.pitches if end > onset]
    if not notes:
        raise InputError(f"score {source!r} has no notes")
    measures = parts[0].getElementsByClass("Measure")
    # The grid's phase comes from the second bar, the first full one after a pickup.
    origin = Fraction(measures[1].offset) % Fraction(1, spq) if len(measures) > 1 else 0
    steps = math.ceil((max(end for _, _, end in notes) - origin) * spq)
    roll = np.zeros((steps, NUM_PITCHES), dtype=np.uint8)                     # (T, 88)
    for pitch, onset, end in notes:
        if not LOWEST_PITCH <= pitch <= HIGHEST_PITCH:
            raise InputError(f"score {source!r}: pitch {pitch} is outside the piano range "
                             f"{LOWEST_PITCH}..{HIGHEST_PITCH}")
        first = max(math.ceil((onset - origin) * spq), 0)          # first grid time >= onset
        stop = math.ceil((end - origin) * spq)                     # grid times < end
        roll[first:stop, pitch - LOWEST_PITCH] = 1
    return roll


def _cache_path(spq: int) -> Path:
    return data_dir() / "music" / f"bach-chorales-q{spq}-v{CORPUS_VERSION}.npz"


def bach_chorale_rolls(steps_per_quarter: int = 1, cache: bool = True
                       ) -> list[tuple[str, np.ndarray]]:
    """Every chorale of the default corpus as ``(name, roll (T, 88))``, sorted by name.

    The first call parses them with music21 (about a minute) and, with ``cache``, writes
    ``data_dir()/music/bach-chorales-q<steps_per_quarter>-v<version>.npz``; later calls
    read it. Raises MissingFileError when there is no cache and music21 is not installed.
    """
    spq = check_scalar(steps_per_quarter, "steps_per_quarter", int, low=1,
                       high=MAX_STEPS_PER_QUARTER)
    path = _cache_path(spq)
    if cache:
        cached = _load_cache(path)
        if cached is not None:
            return cached
    music21 = _music21()
    pieces = _select([(name, parse_chorale(file, spq)) for name, file in _corpus_files()])
    if cache:
        _save_cache(path, pieces, music21.__version__)
    return pieces


def bach_chorales(steps_per_quarter: int = 1, cache: bool = True
                  ) -> dict[str, list[np.ndarray]]:
    """The default corpus split: ``{"train"|"valid"|"test": [roll (T, 88), ...]}``.

    Same layout as :func:`jsb_chorales`; the split is fixed (module docstring), and
    :func:`bach_chorale_names` gives the names in the same order.
    """
    pieces = dict(bach_chorale_rolls(steps_per_quarter, cache))
    return {split: [pieces[name] for name in names]
            for split, names in _split_names(sorted(pieces)).items()}


def bach_chorale_names(steps_per_quarter: int = 1, cache: bool = True
                       ) -> dict[str, list[str]]:
    """The names of :func:`bach_chorales`, split by split, in the same order."""
    return _split_names(sorted(name for name, _ in bach_chorale_rolls(steps_per_quarter, cache)))


def _split_names(names: list[str]) -> dict[str, list[str]]:
    order = np.random.default_rng(BACH_SPLIT_SEED).permutation(len(names))
    n_train = round(BACH_SPLIT_FRACTIONS[0] * len(names))
    n_valid = round(BACH_SPLIT_FRACTIONS[1] * len(names))
    shuffled = [names[i] for i in order]
    return {"train": shuffled[:n_train], "valid": shuffled[n_train:n_train + n_valid],
            "test": shuffled[n_train + n_valid:]}


def _save_cache(path: Path, pieces: list[tuple[str, np.ndarray]], music21_version: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lengths = [len(roll) for _, roll in pieces]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)      # (n+1,)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, rolls=np.concatenate([roll for _, roll in pieces]),  # (sum T, 88)
                        offsets=offsets, names=np.array([name for name, _ in pieces], dtype=str),
                        music21_version=np.array(music21_version, dtype=str))
    atomic_write(str(path), lambda f: f.write(buffer.getvalue()))


def _load_cache(path: Path) -> list[tuple[str, np.ndarray]] | None:
    """The cached rolls, or None when there is no cache or it is unreadable (then re-parsed)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            rolls, offsets, names = data["rolls"], data["offsets"], data["names"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    if (rolls.dtype != np.uint8 or rolls.ndim != 2 or rolls.shape[1] != NUM_PITCHES
            or offsets.shape != (len(names) + 1,) or offsets[-1] != len(rolls) or not len(names)):
        return None
    return [(str(names[i]), rolls[offsets[i]:offsets[i + 1]]) for i in range(len(names))]


# --------------------------------------------------------------------------- picture

def save_piano_roll_png(roll, path, title: str | None = None) -> str:
    """Draw ``roll`` ``(T, 88)`` into the PNG ``path``: time steps across, pitch up (C1..C8
    marked), one dark cell per sounding note; written atomically. Returns the path.

    matplotlib is imported here, drawn through its Agg canvas (no pyplot, no global
    backend switch); MissingFileError without it.
    """
    roll = check_roll(roll)
    if not isinstance(path, (str, os.PathLike)):
        raise InputTypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingFileError("drawing a piano roll needs matplotlib: pip install matplotlib "
                               "(or pip install 'rnnkit[apps]')") from None
    steps = len(roll)
    fig = Figure(figsize=(min(max(4.0, steps / 12), 24.0), 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(roll.T, origin="lower", aspect="auto", cmap="Greys", vmin=0, vmax=1,   # (88, T)
              interpolation="nearest",
              extent=(0, max(steps, 1), LOWEST_PITCH - 0.5, HIGHEST_PITCH + 0.5))
    octaves = range(24, HIGHEST_PITCH + 1, 12)                     # C1 = MIDI 24 .. C8 = 108
    ax.set_yticks(list(octaves), [f"C{pitch // 12 - 1}" for pitch in octaves])
    ax.set_xlabel("time step")
    ax.set_ylabel("pitch")
    ax.grid(axis="y", alpha=0.2)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    atomic_write(os.fspath(path), lambda f: fig.savefig(f, format="png"))
    return os.fspath(path)


# --------------------------------------------------------------------------- MIDI names

def __getattr__(name: str):
    # rnnkit.data.midi imports this module, so its names are looked up on first use
    # rather than imported at the top (which would be a circular import).
    from rnnkit.data import midi
    if name in midi.__all__:
        return getattr(midi, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
