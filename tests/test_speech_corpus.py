"""rnnkit.data.tts and rnnkit.data.speech_corpus: transcripts, synthesis, the voice
partition, the corpus cache, the Asterisk prompts and a user's transcribed folder.

Tests needing espeak-ng, flite or the Asterisk recordings are skipped (with the reason)
where they are not installed; ``make data`` installs them where it runs as root.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter

import numpy as np
import pytest

from rnnkit.data import speech_corpus, tts
from rnnkit.data.speech_corpus import (ALPHABET, COMMAND_WORDS, DIGIT_WORDS, Utterance,
                                       asterisk_corpus, asterisk_digits,
                                       normalize_transcript, random_transcripts,
                                       read_transcribed_folder, split_voices,
                                       synthetic_corpus)
from rnnkit.data.tts import SAMPLE_RATE, Voice, synthesize
from rnnkit.errors import InputError, InputTypeError, MissingFileError

sf = pytest.importorskip("soundfile")

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng not installed (apt-get install espeak-ng)")
needs_flite = pytest.mark.skipif(shutil.which("flite") is None,
                                 reason="flite not installed (apt-get install flite)")
needs_asterisk = pytest.mark.skipif(
    not speech_corpus.ASTERISK_TRANSCRIPTS.is_file(),
    reason="Asterisk prompts not installed (apt-get install asterisk-core-sounds-en-wav)")


# --------------------------------------------------------------------------- transcripts

@pytest.mark.parametrize("raw, expected", [
    ("Call-Forward on No Answer.", "call forward on no answer"),
    ("  YES,   no;\tstop!\n", "yes no stop"),
    ("Don\u2019t go 'left'", "don't go left"),       # curly apostrophe kept inside a word only
    ("Café ÉTÉ", "cafe ete"),                        # accents dropped
    ("press 1 now", "press now"),                    # digits are not spelled out
    ("...", ""),
])
def test_normalize_transcript(raw, expected):
    text = normalize_transcript(raw)
    assert text == expected
    assert set(text) <= set(ALPHABET)


def test_normalize_transcript_refuses_non_str():
    with pytest.raises(InputTypeError, match="transcript must be a str, got bytes"):
        normalize_transcript(b"yes")


def test_random_transcripts_mix_and_lengths():
    texts = random_transcripts(3000, np.random.default_rng(0))
    assert texts == random_transcripts(3000, np.random.default_rng(0))     # seeded
    digits = [t.split() for t in texts if t.split()[0] in DIGIT_WORDS]
    commands = [t.split() for t in texts if t.split()[0] in COMMAND_WORDS]
    assert len(digits) + len(commands) == 3000
    assert 0.63 < len(digits) / 3000 < 0.70                                # about 2/3
    assert sorted(Counter(map(len, digits))) == list(range(1, 8))
    assert sorted(Counter(map(len, commands))) == [1, 2, 3]
    assert all(set(w) <= set(DIGIT_WORDS) for w in digits)
    assert all(set(w) <= set(COMMAND_WORDS) for w in commands)
    assert all(t == " ".join(t.split()) for t in texts)                    # single spaces
    counts = Counter(w for words in digits for w in words)
    assert counts["oh"] > 0 and counts["zero"] > 0
    assert counts["oh"] + counts["zero"] == pytest.approx(counts["five"], rel=0.2)


def test_random_transcripts_wants_a_generator():
    with pytest.raises(InputTypeError, match="rng must be a numpy.random.Generator"):
        random_transcripts(3, 0)


# --------------------------------------------------------------------------- synthesis

@pytest.mark.parametrize("voice", [
    pytest.param(Voice("espeak-ng", "en-us+f3", 160, 40), marks=needs_espeak),
    pytest.param(Voice("espeak-ng", "en-gb"), marks=needs_espeak),
    pytest.param(Voice("flite", "slt", 1.2, 60), marks=needs_flite),
    pytest.param(Voice("flite", "kal"), marks=needs_flite),
])
def test_synthesize_speech_at_8khz(voice):
    signal = synthesize("one two three", voice)
    assert signal.dtype == np.float32 and signal.ndim == 1
    assert 0.5 < len(signal) / SAMPLE_RATE < 4.0                           # seconds
    assert np.sqrt(np.mean(signal ** 2)) > 0.01 and np.abs(signal).max() <= 1.0


@needs_espeak
def test_synthesize_speed_changes_duration():
    slow = synthesize("one two three four", Voice("espeak-ng", "en-us", 100))
    fast = synthesize("one two three four", Voice("espeak-ng", "en-us", 250))
    assert len(slow) > 1.5 * len(fast)


@needs_espeak
@pytest.mark.parametrize("text, voice, error, message", [
    ("  ", Voice("espeak-ng", "en-us"), InputError, "text to synthesize is empty"),
    (3, Voice("espeak-ng", "en-us"), InputTypeError, "text must be a str, got int"),
    ("yes", Voice("espeak-ng", "en-xx"), InputError, "espeak-ng has no voice 'en-xx'"),
    ("yes", Voice("espeak-ng", "en-us+nosuch"), InputError,
     "espeak-ng has no variant 'nosuch'"),
    ("yes", Voice("espeak-ng", "-w/tmp/x"), InputError, "espeak-ng has no voice"),
    ("...", Voice("espeak-ng", "en-us"), InputError, "produced silence"),
])
def test_synthesize_refuses(text, voice, error, message):
    with pytest.raises(error, match=message):
        synthesize(text, voice)


@needs_flite
def test_flite_refuses_unknown_and_path_voices():
    for name in ("nosuch", "/tmp/voice.flitevox", "http://example.com/x.flitevox"):
        with pytest.raises(InputError, match="flite voice must be one of"):
            synthesize("yes", Voice("flite", name))


@pytest.mark.parametrize("kwargs, message", [
    (dict(engine="festival", name="x"), "Voice engine must be one of"),
    (dict(engine="espeak-ng", name="en-us", speed=20), r"words/min in \[80, 450\]"),
    (dict(engine="flite", name="slt", speed=150), r"duration stretch in \[0.25, 4.0\]"),
    (dict(engine="flite", name="slt", pitch=120), r"pitch must be an int in \[0, 99\]"),
])
def test_voice_validates(kwargs, message):
    with pytest.raises(InputError, match=message):
        Voice(**kwargs)


def test_voice_description():
    assert Voice("espeak-ng", "en-us+f3", 160, 40).description == \
        "espeak-ng en-us+f3 speed=160 pitch=40"
    assert Voice("flite", "slt").description == "flite slt speed=default pitch=50"


def test_missing_engine_says_how_to_install(monkeypatch):
    monkeypatch.setattr(tts.shutil, "which", lambda name: None)
    assert tts.available_engines() == ()
    with pytest.raises(MissingFileError,
                       match=r"^espeak-ng is not installed: apt-get install espeak-ng$"):
        synthesize("yes", Voice("espeak-ng", "en-us"))
    with pytest.raises(MissingFileError, match=r"^flite is not installed: apt-get install flite$"):
        synthesize("yes", Voice("flite", "slt"))


@needs_espeak
def test_espeak_voices_are_english_bases_and_variants_without_mbrola():
    voices = tts.espeak_voices()
    assert {"en-us", "en-gb", "en-us+f3", "en-029+m6"} <= set(voices)
    assert all(v.startswith("en") and "mb-" not in v for v in voices)
    assert not any(v.endswith(("+whisper", "+Demonic")) for v in voices)


@needs_flite
def test_flite_voices():
    assert tts.flite_voices() == ("kal", "kal16", "awb", "rms", "slt")


# --------------------------------------------------------------------------- synthetic corpus

@needs_espeak
def test_voice_partition_keeps_test_voices_out_of_train_and_valid():
    train, valid, test = (set(split_voices(s)) for s in ("train", "valid", "test"))
    assert train == valid and not train & test
    test_names = {name for _, name in test}
    assert "en-029" in test_names                                       # a held-out base
    assert "en-us+f4" in test_names                                     # a held-out variant
    assert ("espeak-ng", "en-us") in train and ("espeak-ng", "en-us+f3") in train
    for _, name in train:
        base, _, variant = name.partition("+")
        assert base not in speech_corpus.TEST_ESPEAK_BASES
        assert variant not in speech_corpus.TEST_ESPEAK_VARIANTS
    if shutil.which("flite"):
        assert ("flite", "rms") in test and ("flite", "slt") in train


@needs_espeak
def test_synthetic_corpus_is_reproducible_and_split_seeded():
    first = synthetic_corpus("train", 6, seed=3, cache=False)
    second = synthetic_corpus("train", 6, seed=3, cache=False)
    assert [u.text for u in first] == [u.text for u in second]
    assert [u.source for u in first] == [u.source for u in second]
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(first, second))
    texts = random_transcripts(6, np.random.default_rng([3, 0]))          # train is split 0
    assert [u.text for u in first] == texts
    valid = synthetic_corpus("valid", 6, seed=3, cache=False)
    assert [u.text for u in valid] != texts
    for u in first:
        assert isinstance(u, Utterance) and u.audio.dtype == np.float32 and u.audio.ndim == 1
        assert u.source.startswith(("espeak-ng ", "flite "))


@needs_espeak
def test_test_split_speaks_only_test_voices():
    corpus = synthetic_corpus("test", 8, seed=1, cache=False)
    test_names = {name for _, name in split_voices("test")}
    assert {u.source.split()[1] for u in corpus} <= test_names


@needs_espeak
def test_synthetic_corpus_cache_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    fresh = synthetic_corpus("valid", 5, seed=2)
    files = os.listdir(tmp_path / "speech")
    assert len(files) == 1 and files[0].startswith("valid-n5-seed2-") and files[0].endswith(".npz")
    with np.load(tmp_path / "speech" / files[0], allow_pickle=False) as data:
        assert data["texts"].dtype.kind == "U" and data["offsets"].shape == (6,)

    def no_synthesis(*args):
        raise AssertionError("the cache should have been read")

    monkeypatch.setattr(speech_corpus, "synthesize", no_synthesis)
    cached = synthetic_corpus("valid", 5, seed=2)
    assert [u.text for u in cached] == [u.text for u in fresh]
    assert [u.source for u in cached] == [u.source for u in fresh]
    assert all(np.array_equal(a.audio, b.audio) and b.audio.dtype == np.float32
               for a, b in zip(fresh, cached))


@needs_espeak
def test_unreadable_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    fresh = synthetic_corpus("train", 3, seed=4)
    path = tmp_path / "speech" / os.listdir(tmp_path / "speech")[0]
    path.write_bytes(b"not a zip file")
    rebuilt = synthetic_corpus("train", 3, seed=4)
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(fresh, rebuilt))
    assert os.listdir(tmp_path / "speech") == [path.name]                 # no temp files left


@pytest.mark.parametrize("kwargs, message", [
    (dict(split="dev", size=3), r"split must be one of \('train', 'valid', 'test'\), got 'dev'"),
    (dict(split="train", size=0), "size"),
])
def test_synthetic_corpus_validates(kwargs, message):
    with pytest.raises(InputError, match=message):
        synthetic_corpus(**kwargs, cache=False)


# --------------------------------------------------------------------------- Asterisk

@needs_asterisk
def test_asterisk_digits():
    digits = asterisk_digits()
    assert [u.text for u in digits] == ["zero", "one", "two", "three", "four", "five", "six",
                                        "seven", "eight", "nine", "oh"]
    assert digits[10].source.endswith(os.path.join("digits", "oh.wav"))
    for u in digits:
        assert u.audio.dtype == np.float32 and 0.3 < len(u.audio) / SAMPLE_RATE < 2.0


@needs_asterisk
def test_asterisk_corpus_default_vocabulary():
    names = [os.path.relpath(u.source, speech_corpus.ASTERISK_ROOT) for u in asterisk_corpus()]
    assert names == [os.path.join("digits", f"{d}.wav") for d in list(range(10)) + ["oh"]] \
        + ["vm-no.wav"]
    assert [u.text for u in asterisk_corpus(words=["No"])] == ["no"]


def test_asterisk_missing_says_how_to_install(tmp_path):
    message = r"^Asterisk recordings not installed \(no .*\): apt-get install " \
              r"asterisk-core-sounds-en-wav$"
    with pytest.raises(MissingFileError, match=message):
        asterisk_corpus(root=tmp_path / "absent")
    with pytest.raises(MissingFileError, match=message):
        asterisk_digits(root=tmp_path, transcripts=tmp_path / "absent.txt.gz")


# --------------------------------------------------------------------------- user folder

def _tone(rate, seconds=1.0, channels=1):
    t = np.arange(int(rate * seconds)) / rate
    signal = 0.3 * np.sin(2 * np.pi * 440 * t)
    return signal if channels == 1 else np.stack([signal] * channels, axis=1)


def _folder(tmp_path, listing: str, bom=False, newline="\n"):
    """A speech folder with a.wav (16 kHz stereo), sub/b.wav (8-bit) and c.wav (float)."""
    (tmp_path / "sub").mkdir(exist_ok=True)
    sf.write(tmp_path / "a.wav", _tone(16000, channels=2), 16000, subtype="PCM_16")
    sf.write(tmp_path / "sub" / "b.wav", _tone(11025), 11025, subtype="PCM_U8")
    sf.write(tmp_path / "c.wav", _tone(44100, 0.5), 44100, subtype="FLOAT")
    data = listing.replace("\n", newline).encode("utf-8")
    (tmp_path / "transcripts.tsv").write_bytes(("\ufeff".encode() if bom else b"") + data)
    return tmp_path


def test_read_transcribed_folder(tmp_path):
    folder = _folder(tmp_path, "file\ttext\n# a comment\n\na.wav\tYes, stop!\n"
                               "sub/b.wav\tone  two\n\nc.wav\tDon't go\n", bom=True,
                     newline="\r\n")
    utterances = read_transcribed_folder(folder)
    assert [u.text for u in utterances] == ["yes stop", "one two", "don't go"]
    assert [u.source for u in utterances] == [str(folder / "a.wav"), str(folder / "sub/b.wav"),
                                             str(folder / "c.wav")]
    assert [len(u.audio) for u in utterances] == [8000, 8000, 4000]     # resampled to 8 kHz
    assert all(u.audio.dtype == np.float32 for u in utterances)
    assert np.abs(utterances[1].audio).max() == pytest.approx(0.3, abs=0.02)


@pytest.mark.parametrize("listing, error, message", [
    ("a.wav yes\n", InputError, r"line 1: expected 'file<TAB>text' with exactly one tab, found 0"),
    ("a.wav\tyes\tno\n", InputError, r"line 1: expected .* exactly one tab, found 2"),
    ("a.wav\tyes\n\nc.wav\t?!\n", InputError,
     r"line 3: text '\?!' is empty after normalisation"),
    ("a.wav\tpress 1\n", InputError, r"line 1: text 'press 1' contains digits; write numbers"),
    ("\tyes\n", InputError, r"line 1: the file name is empty"),
    ("/tmp/a.wav\tyes\n", InputError, r"line 1: file '/tmp/a.wav' must be relative"),
    ("a.wav\tyes\nc.wav\tno\n./a.wav\tgo\n", InputError,
     r"line 3: file './a.wav' is listed twice \(first on line 1\)"),
    ("file\ttext\nmissing.wav\tyes\n", MissingFileError,
     r"line 2: audio file '.*missing\.wav' does not exist"),
    ("notes.wav\tyes\n", InputError, r"line 1: '.*notes\.wav' is not a readable WAV file"),
    ("empty.wav\tyes\n", InputError, r"line 1: '.*empty\.wav' is not a readable WAV file"),
    ("silent.wav\tyes\n", InputError, r"line 1: '.*silent\.wav' holds no audio samples"),
    ("file\ttext\n# nothing else\n\n", InputError, r"transcripts\.tsv' lists no utterances$"),
])
def test_read_transcribed_folder_errors(tmp_path, listing, error, message):
    folder = _folder(tmp_path, listing)
    (folder / "notes.wav").write_text("these are my notes\n")
    (folder / "empty.wav").write_bytes(b"")
    sf.write(folder / "silent.wav", np.zeros(0), 8000)
    with pytest.raises(error, match=message) as caught:
        read_transcribed_folder(folder)
    assert "\n" not in str(caught.value)
    assert "transcripts.tsv" in str(caught.value)


def test_read_transcribed_folder_missing_folder_or_listing(tmp_path):
    with pytest.raises(MissingFileError, match=r"speech folder '.*absent' does not exist"):
        read_transcribed_folder(tmp_path / "absent")
    with pytest.raises(MissingFileError,
                       match=r"'.*transcripts\.tsv' does not exist; a speech folder lists"):
        read_transcribed_folder(tmp_path)


def test_read_transcribed_folder_refuses_non_utf8(tmp_path):
    (tmp_path / "transcripts.tsv").write_bytes("a.wav\tcaf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"transcript list '.*transcripts\.tsv' is not UTF-8"):
        read_transcribed_folder(tmp_path)
