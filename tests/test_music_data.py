"""rnnkit.data.music and rnnkit.data.midi: piano rolls, MIDI in and out, the JSB file, the
Bach chorales of music21 (rules, selection, split, cache), the PNG and the WAV.

Tests needing mido, music21, matplotlib or fluidsynth are skipped (with the reason) where
they are not installed; ``make install`` / ``make data`` install them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data import midi as midi_module
from rnnkit.data import music
from rnnkit.data.midi import (fluidsynth_available, read_midi, read_midi_folder, render_wav,
                              write_midi)
from rnnkit.data.music import (LOWEST_PITCH, NUM_PITCHES, bach_chorale_names,
                               bach_chorale_rolls, bach_chorales, check_roll, jsb_chorales,
                               parse_chorale, roll_to_steps, save_piano_roll_png,
                               steps_to_roll)
from rnnkit.errors import InputError, InputTypeError, MissingFileError

JSB_FILE = Path(__file__).resolve().parents[2] / "shared/data/jsb-chorales/jsb-chorales-quarter.json"

try:
    import mido
except ImportError:                                # the apps extra installs it
    mido = None

needs_mido = pytest.mark.skipif(mido is None, reason="mido not installed (pip install mido)")
needs_fluidsynth = pytest.mark.skipif(
    not fluidsynth_available(),
    reason="fluidsynth or its sound font not installed (apt-get install fluidsynth "
           "fluid-soundfont-gm)")


def _random_roll(seed: int, steps: int, density: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    roll = (rng.random((steps, NUM_PITCHES)) < density).astype(np.uint8)       # (T, 88)
    roll[-1, rng.integers(NUM_PITCHES)] = 1        # trailing silence is not kept by MIDI
    return roll


def _one_line(err) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- rolls

def test_steps_and_roll_round_trip():
    rng = np.random.default_rng(0)
    steps = [sorted(rng.choice(np.arange(21, 109), size=rng.integers(0, 6), replace=False)
                    .tolist()) for _ in range(40)]
    roll = steps_to_roll(steps)
    assert roll.dtype == np.uint8 and roll.shape == (40, NUM_PITCHES)
    assert roll_to_steps(roll) == steps
    assert steps_to_roll([[21, 108, 60, 60], []]).sum(axis=1).tolist() == [3, 0]   # ends, dup
    assert steps_to_roll([[60]])[0, 60 - LOWEST_PITCH] == 1


def test_steps_to_roll_refuses_or_drops_out_of_range_pitches():
    with pytest.raises(InputError, match=r"step 1: pitch 20 is outside the piano range 21..108"):
        steps_to_roll([[60], [20, 60]])
    assert roll_to_steps(steps_to_roll([[60], [20, 109, 60]], drop_out_of_range=True)) == [[60], [60]]
    with pytest.raises(InputTypeError, match="step 0: MIDI numbers must be integers"):
        steps_to_roll([[60.0]])
    with pytest.raises(InputTypeError, match="steps must be a list"):
        steps_to_roll("C4")


def test_check_roll_refuses_floats_shapes_and_values():
    assert check_roll(np.ones((2, 88), dtype=bool)).dtype == np.uint8
    with pytest.raises(InputTypeError, match="threshold probabilities first"):
        check_roll(np.zeros((2, 88)))
    with pytest.raises(InputError, match=r"shape \(T, 88\), got \(2, 87\)"):
        check_roll(np.zeros((2, 87), dtype=np.uint8))
    with pytest.raises(InputError, match="only 0 and 1"):
        check_roll(np.full((2, 88), 2, dtype=np.uint8))


# --------------------------------------------------------------------------- MIDI

@pytest.mark.parametrize("steps_per_quarter", [1, 4])
@needs_mido
def test_write_then_read_midi_gives_the_roll_back(tmp_path, steps_per_quarter):
    roll = _random_roll(seed=steps_per_quarter, steps=64, density=0.08)
    roll[:3] = 0                                   # leading silence is kept
    path = write_midi(roll, tmp_path / "piece.mid", steps_per_quarter=steps_per_quarter,
                      tempo_bpm=75, program=19, velocity=64)
    assert np.array_equal(read_midi(path, steps_per_quarter=steps_per_quarter), roll)
    assert not [name for name in os.listdir(tmp_path) if name != "piece.mid"]   # no temp left


@needs_mido
def test_write_midi_holds_runs_and_drops_trailing_silence(tmp_path):
    roll = np.zeros((6, NUM_PITCHES), dtype=np.uint8)
    roll[0:3, 60 - LOWEST_PITCH] = 1               # one held note over three steps
    roll[1, 64 - LOWEST_PITCH] = roll[3, 64 - LOWEST_PITCH] = 1    # two separate notes
    path = write_midi(roll, tmp_path / "held.mid", tempo_bpm=120)
    tick, notes = 0, []                            # (kind, pitch, beat)
    for message in mido.MidiFile(path).tracks[0]:
        tick += message.time
        if message.type in ("note_on", "note_off"):
            kind = "on" if message.type == "note_on" and message.velocity else "off"
            notes.append((kind, message.note, tick / midi_module.WRITE_TICKS_PER_BEAT))
    assert notes == [("on", 60, 0), ("on", 64, 1), ("off", 64, 2), ("off", 60, 3),
                     ("on", 64, 3), ("off", 64, 4)]
    assert mido.MidiFile(path).length == pytest.approx(3.0)         # 6 quarters at 120 bpm
    assert np.array_equal(read_midi(path), roll[:4])                # steps 4, 5 were silent


@needs_mido
def test_read_hand_built_type1_file(tmp_path):
    tpb = 96
    conductor = mido.MidiTrack([
        mido.MetaMessage("set_tempo", tempo=500000, time=0),
        mido.MetaMessage("set_tempo", tempo=1000000, time=2 * tpb),   # must not move the grid
    ])
    notes = mido.MidiTrack([
        mido.Message("note_on", channel=0, note=60, velocity=90, time=0),       # beats 0-2
        mido.Message("note_on", channel=9, note=36, velocity=90, time=0),       # drum: ignored
        mido.Message("note_on", channel=1, note=67, velocity=70, time=tpb // 2),  # 0.5-1.75
        mido.Message("note_off", channel=9, note=36, velocity=0, time=0),
        mido.Message("note_on", channel=1, note=67, velocity=0, time=tpb + tpb // 4),  # vel 0
        mido.Message("note_off", channel=0, note=60, velocity=0, time=tpb // 4),      # beat 2
        mido.Message("note_on", channel=0, note=72, velocity=80, time=tpb // 4),      # 2.25-2.75
        mido.Message("note_off", channel=0, note=72, velocity=0, time=tpb // 2),      # off grid
        mido.Message("note_on", channel=0, note=62, velocity=80, time=tpb // 4),      # beat 3
        mido.Message("note_on", channel=0, note=62, velocity=80, time=tpb),           # overlap
        mido.Message("note_off", channel=0, note=62, velocity=0, time=tpb),           # beat 5
        mido.Message("note_off", channel=0, note=62, velocity=0, time=tpb // 2),      # 5.5
        mido.Message("note_off", channel=0, note=50, velocity=0, time=0),             # stray
    ])
    midi = mido.MidiFile(type=1, ticks_per_beat=tpb)
    midi.tracks += [conductor, notes]
    midi.save(tmp_path / "hand.mid")
    assert roll_to_steps(read_midi(tmp_path / "hand.mid")) == [
        [60], [60, 67], [], [62], [62], [62]]
    # Two steps a beat: 67 is on at 0.5, 1.0, 1.5; 72 at 2.5; 62 from 3 to 5.5.
    assert roll_to_steps(read_midi(tmp_path / "hand.mid", steps_per_quarter=2)) == [
        [60], [60, 67], [60, 67], [60, 67], [], [72], [62], [62], [62], [62], [62]]


@needs_mido
def test_read_midi_errors_name_the_file_in_one_line(tmp_path):
    good = write_midi(_random_roll(0, 8), tmp_path / "good.mid")
    data = Path(good).read_bytes()
    (tmp_path / "cut.mid").write_bytes(data[:30])
    (tmp_path / "text.mid").write_text("not music at all\n")
    (tmp_path / "empty.mid").write_bytes(b"")
    for name, reason in [("cut.mid", "ends too early"), ("text.mid", "MThd not found"),
                         ("empty.mid", "ends too early")]:
        with pytest.raises(InputError) as err:
            read_midi(tmp_path / name)
        assert name in _one_line(err) and "not a readable MIDI file" in str(err.value)
        assert reason in str(err.value)
    drums = mido.MidiFile(type=0)
    drums.tracks.append(mido.MidiTrack([mido.Message("note_on", channel=9, note=36, time=0),
                                        mido.Message("note_off", channel=9, note=36, time=96)]))
    drums.save(tmp_path / "drums.mid")
    with pytest.raises(InputError, match=r"drums.mid' has no notes \(drum channel 10"):
        read_midi(tmp_path / "drums.mid")
    high = mido.MidiFile(type=0)
    high.tracks.append(mido.MidiTrack([mido.Message("note_on", note=120, time=0),
                                       mido.Message("note_off", note=120, time=96)]))
    high.save(tmp_path / "high.mid")
    with pytest.raises(InputError, match="note 120 is outside the piano range"):
        read_midi(tmp_path / "high.mid")
    with pytest.raises(InputError, match="has no notes in the piano range 21..108"):
        read_midi(tmp_path / "high.mid", drop_out_of_range=True)
    with pytest.raises(MissingFileError, match="does not exist"):
        read_midi(tmp_path / "absent.mid")


@needs_mido
def test_read_midi_folder(tmp_path):
    first, second = _random_roll(1, 10), _random_roll(2, 12)
    (tmp_path / "sub").mkdir()
    write_midi(second, tmp_path / "sub" / "b.MIDI")
    write_midi(first, tmp_path / "a.mid")
    (tmp_path / "notes.txt").write_text("ignored")
    pieces = music.read_midi_folder(tmp_path)      # the MIDI names are re-exported by music
    assert music.read_midi_folder is read_midi_folder
    assert [name for name, _ in pieces] == ["a.mid", "sub/b.MIDI"]
    assert np.array_equal(pieces[0][1], first) and np.array_equal(pieces[1][1], second)
    (tmp_path / "sub" / "c.mid").write_text("text named .mid\n")
    with pytest.raises(InputError, match="c.mid' is not a readable MIDI file"):
        read_midi_folder(tmp_path)
    (tmp_path / "none").mkdir()
    with pytest.raises(InputError, match="holds no .mid or .midi file"):
        read_midi_folder(tmp_path / "none")
    with pytest.raises(MissingFileError, match="does not exist or is not a folder"):
        read_midi_folder(tmp_path / "missing")


# --------------------------------------------------------------------------- JSB

def test_jsb_chorales_small_file(tmp_path):
    path = tmp_path / "jsb.json"
    path.write_text(json.dumps({"train": [[[60, 64, 67], [], [60]]], "valid": [[[48, 72]]],
                                "test": [[[55]], [[57], [59]]]}))
    corpus = jsb_chorales(path)
    assert [len(corpus[split]) for split in music.SPLITS] == [1, 1, 2]
    assert roll_to_steps(corpus["train"][0]) == [[60, 64, 67], [], [60]]
    assert corpus["test"][1].shape == (2, NUM_PITCHES) and corpus["test"][1].dtype == np.uint8
    path.write_text(json.dumps({"train": [[[60]]], "valid": [[[60]]], "test": [[[60], [12]]]}))
    with pytest.raises(InputError, match=r"jsb.json', test chorale 0, step 1: pitch 12 is outside"):
        jsb_chorales(path)
    path.write_text(json.dumps({"train": [], "valid": []}))
    with pytest.raises(InputError, match=r"keys \['train', 'valid', 'test'\]"):
        jsb_chorales(path)
    path.write_text("{not json")
    with pytest.raises(InputError, match="is not a JSON file"):
        jsb_chorales(path)
    with pytest.raises(MissingFileError, match="jsb-chorales-quarter.json"):
        jsb_chorales(tmp_path / "absent.json")


@pytest.mark.skipif(not JSB_FILE.is_file(), reason=f"benchmark file {JSB_FILE} not here")
def test_jsb_chorales_benchmark_file():
    corpus = jsb_chorales(JSB_FILE)
    assert {split: len(rolls) for split, rolls in corpus.items()} == {
        "train": 229, "valid": 76, "test": 77}
    every = np.concatenate([roll for rolls in corpus.values() for roll in rolls])
    assert every.dtype == np.uint8 and every.shape[1] == NUM_PITCHES
    sounding = np.flatnonzero(every.any(axis=0)) + LOWEST_PITCH
    assert (sounding.min(), sounding.max()) == (43, 96)
    assert every.sum(axis=1).max() <= 4                       # four voices at most


# --------------------------------------------------------------------------- Bach corpus

def _fake_corpus(monkeypatch, tmp_path, rolls: dict):
    """The default corpus without music21: ``rolls`` stand for the parsed files."""
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    monkeypatch.setattr(music, "_music21", lambda: type("m21", (), {"__version__": "test"}))
    monkeypatch.setattr(music, "_corpus_files", lambda: sorted(
        (name, Path(name)) for name in rolls))
    parsed = []

    def parse(path, steps_per_quarter):
        parsed.append(str(path))
        return rolls[str(path)]
    monkeypatch.setattr(music, "parse_chorale", parse)
    return parsed


def test_bach_selection_split_and_cache(monkeypatch, tmp_path):
    sung = steps_to_roll([[60, 64], [62]] * 5)
    interlude = steps_to_roll([[60]] + [[]] * 9)                # voices silent 90 % of steps
    rolls = {f"bwv{300 + i}": steps_to_roll([[40 + i]] * (i + 1)) for i in range(20)}
    rolls.update({"bwv18.5-lz": sung, "bwv18.5-w": interlude, "bwv248.9-1": interlude,
                  "bwv248.9-s": sung})
    parsed = _fake_corpus(monkeypatch, tmp_path, rolls)
    pieces = bach_chorale_rolls()
    names = [name for name, _ in pieces]
    assert names == sorted(names) and len(names) == 22
    assert "bwv18.5-lz" in names and "bwv18.5-w" not in names      # first version of 18.5
    assert "bwv248.9-s" in names and "bwv248.9-1" not in names     # the sung version
    assert len(parsed) == 24
    cache = tmp_path / "music" / f"bach-chorales-q1-v{music.CORPUS_VERSION}.npz"
    assert cache.is_file() and not [p for p in cache.parent.iterdir() if p != cache]
    with np.load(cache, allow_pickle=False) as data:
        assert str(data["music21_version"]) == "test" and data["offsets"][-1] == len(data["rolls"])
    again = bach_chorale_rolls()                                   # from the cache
    assert len(parsed) == 24
    assert all(a == c and np.array_equal(b, d) for (a, b), (c, d) in zip(pieces, again))
    split, split_names = bach_chorales(), bach_chorale_names()
    assert [len(split_names[s]) for s in music.SPLITS] == [13, 4, 5]       # 60/20/20 of 22
    assert sorted(sum(split_names.values(), [])) == names                  # disjoint, complete
    for s in music.SPLITS:
        assert all(np.array_equal(roll, dict(pieces)[name])
                   for roll, name in zip(split[s], split_names[s]))
    cache.write_bytes(b"damaged")                                  # re-parsed, not an error
    assert len(bach_chorale_rolls()) == 22 and len(parsed) == 48


def test_bach_without_music21_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    monkeypatch.setitem(sys.modules, "music21", None)              # import music21 fails
    with pytest.raises(MissingFileError, match=r"need music21: pip install music21"):
        bach_chorales()


def test_parse_two_real_chorales():
    pytest.importorskip("music21")
    roll = parse_chorale("bwv66.6")            # 4/4, 36 quarters, one-beat pickup
    assert roll.shape == (36, NUM_PITCHES) and roll.dtype == np.uint8
    assert set(roll.sum(axis=1).tolist()) <= {3, 4}            # SATB, a voice sometimes moving
    sounding = np.flatnonzero(roll.any(axis=0)) + LOWEST_PITCH
    assert (sounding.min(), sounding.max()) == (42, 76)        # bass F#2 .. soprano E5
    assert roll_to_steps(roll)[1] == [54, 61, 66, 69]          # F#-minor chord on beat 1
    other = parse_chorale("bwv269")                            # Riemenschneider no. 1, 3/4
    assert other.shape[0] > 30 and other.sum(axis=1).max() <= 4
    with pytest.raises(MissingFileError, match="no chorale 'bwv9999'"):
        parse_chorale("bwv9999")


def test_parse_chorale_rules_on_a_hand_built_score(tmp_path):
    pytest.importorskip("music21")
    from music21 import chord, meter, note, stream, tie

    def n(pitch, quarters, tied=None):
        made = note.Note(pitch, quarterLength=quarters)
        made.tie = tie.Tie(tied) if tied else None
        return made

    def part(name, bars):
        made = stream.Part()
        made.partName = name
        for number, items in enumerate(bars):
            bar = stream.Measure(number=number)
            if number == 0:
                bar.timeSignature, bar.paddingLeft = meter.TimeSignature("2/4"), 1.5
            for item in items:
                bar.append(item)
            made.append(bar)
        return made

    score = stream.Score([
        part("Soprano", [[n(72, 0.5)], [n(74, 1), n(76, 0.5), n(77, 0.5)],
                         [n(79, 1, "start"), n(79, 1, "stop")]]),
        part("Alto", [[note.Rest(quarterLength=0.5)], [chord.Chord([60, 64], quarterLength=2)],
                      [note.Rest(quarterLength=2)]]),
        part("Trumpet 1", [[n(84, 0.5)], [n(84, 2)], [n(84, 2)]]),      # not a voice
    ])
    path = score.write("musicxml", fp=tmp_path / "hand.musicxml")
    # Grid on the bar lines (after the eighth-note pickup): the pickup and the eighth F5
    # between beats vanish, the chord gives both notes, the tie holds G5.
    assert roll_to_steps(parse_chorale(path)) == [[60, 64, 74], [60, 64, 76], [79], [79]]
    # On an eighth-note grid the pickup falls on a grid time and is kept.
    assert roll_to_steps(parse_chorale(path, steps_per_quarter=2)) == [
        [72], [60, 64, 74], [60, 64, 74], [60, 64, 76], [60, 64, 77], [79], [79], [79], [79]]


# --------------------------------------------------------------------------- outputs

def test_save_piano_roll_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = save_piano_roll_png(_random_roll(3, 40), tmp_path / "roll.png", title="sample 1")
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
    assert os.listdir(tmp_path) == ["roll.png"]


@needs_fluidsynth
@needs_mido
def test_render_wav_duration_and_sound(tmp_path):
    sf = pytest.importorskip("soundfile")
    roll = steps_to_roll([[60, 64, 67]] * 4 + [[62, 65, 69]] * 4)    # 8 quarters
    midi_path = write_midi(roll, tmp_path / "short.mid", tempo_bpm=120)   # 4 s
    wav_path = render_wav(midi_path, tmp_path / "short.wav", sample_rate=22050)
    audio, rate = sf.read(wav_path)
    assert rate == 22050 and np.abs(audio).max() > 0.05
    # The piece lasts 4 s; the piano's release and the reverb add about 2.5 s.
    assert 4.0 <= len(audio) / rate <= 7.5
    assert sorted(os.listdir(tmp_path)) == ["short.mid", "short.wav"]
    (tmp_path / "text.mid").write_text("not midi\n")
    with pytest.raises(InputError, match="text.mid' is not a readable MIDI file"):
        render_wav(tmp_path / "text.mid", tmp_path / "text.wav")
    with pytest.raises(MissingFileError, match="fluid-soundfont-gm"):
        render_wav(midi_path, tmp_path / "x.wav", soundfont=tmp_path / "absent.sf2")


def test_render_wav_without_fluidsynth_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(midi_module.shutil, "which", lambda program: None)
    assert not fluidsynth_available()
    with pytest.raises(MissingFileError) as err:
        render_wav(tmp_path / "a.mid", tmp_path / "a.wav")
    assert _one_line(err) == ("fluidsynth is not installed: apt-get install fluidsynth "
                              "fluid-soundfont-gm")
