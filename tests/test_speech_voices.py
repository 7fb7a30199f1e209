"""Speakers beyond espeak-ng and flite: festival's voices (rnnkit.data.tts, engine
``text2wave``) in the synthetic corpus, and saytime's human digits (the development set).

Tests needing festival or saytime are skipped (with the reason) where they are not installed.
"""

from __future__ import annotations

import shutil
from collections import Counter

import numpy as np
import pytest

from rnnkit.data import speech_corpus, tts
from rnnkit.data.speech_corpus import DIGIT_WORDS, saytime_digits, split_voices
from rnnkit.data.tts import SAMPLE_RATE, Voice, synthesize
from rnnkit.errors import InputError, InputTypeError, MissingFileError

needs_festival = pytest.mark.skipif(
    shutil.which("text2wave") is None or shutil.which("espeak-ng") is None,
    reason="festival or espeak-ng not installed "
           "(apt-get install festival festvox-kdlpc16k festvox-us-slt-hts espeak-ng)")
needs_saytime = pytest.mark.skipif(
    not (speech_corpus.SAYTIME_ROOT / "oh.au").is_file(),
    reason="saytime not installed (apt-get install saytime)")


def _f0(signal):
    """Median pitch (Hz) of the voiced 40 ms frames, by autocorrelation (60-400 Hz)."""
    n = int(0.04 * SAMPLE_RATE)
    frames = signal[:len(signal) // n * n].reshape(-1, n).astype(np.float64)
    loud = frames[np.sum(frames ** 2, 1) > 0.3 * np.max(np.sum(frames ** 2, 1))]
    lags = []
    for frame in loud:
        ac = np.correlate(frame, frame, "full")[n - 1:]
        lo, hi = SAMPLE_RATE // 400, SAMPLE_RATE // 60
        lags.append(lo + np.argmax(ac[lo:hi]))
    return SAMPLE_RATE / np.median(lags)


# --------------------------------------------------------------------------- festival

def test_festival_setup_sets_voice_speed_and_pitch():
    ked = tts._festival_setup(Voice("text2wave", "ked", 0.8, 70))
    assert ked.splitlines()[0] == "(voice_ked_diphone)"
    assert "(* (Parameter.get 'Duration_Stretch) 0.8000)" in ked
    assert "(target_f0_mean 120.61) (target_f0_std 17.23)" in ked        # 105, 15 x 2^0.2
    hts = tts._festival_setup(Voice("text2wave", "slt-hts", 1.25, 10))
    assert hts.splitlines()[0] == "(voice_cmu_us_slt_arctic_hts)"
    assert '(list "-r" 0.8000)' in hts and "f0" not in hts                # rate 1 / stretch
    assert Voice("text2wave", "ked", 1.2, 40).description == "text2wave ked speed=1.2 pitch=40"


def test_festival_missing_says_how_to_install(monkeypatch):
    monkeypatch.setattr(tts.shutil, "which", lambda name: None)
    with pytest.raises(MissingFileError, match=r"^text2wave is not installed: apt-get install "
                                               r"festival festvox-kdlpc16k festvox-us-slt-hts$"):
        synthesize("yes", Voice("text2wave", "ked"))


@needs_festival
def test_festival_voices_speak_at_8khz_with_speed_and_pitch():
    assert tts.festival_voices() == ("ked", "slt-hts")
    slow = synthesize("one two three", Voice("text2wave", "slt-hts", 1.6))
    fast = synthesize("one two three", Voice("text2wave", "slt-hts", 0.8))
    assert slow.dtype == np.float32 and slow.ndim == 1 and np.abs(slow).max() <= 1.0
    assert 1.6 < len(slow) / len(fast) < 2.2                               # stretch 2 (silences kept)
    low = synthesize("nine", Voice("text2wave", "ked", 1.0, 20))
    high = synthesize("nine", Voice("text2wave", "ked", 1.0, 80))
    assert 1.25 < _f0(high) / _f0(low) < 1.9                               # 2^0.6 = 1.52
    assert 0.3 < len(low) / SAMPLE_RATE < 1.5


@needs_festival
def test_festival_refuses_unknown_voices():
    for name in ("nosuch", "kal", "/tmp/voice"):
        with pytest.raises(InputError, match="festival voice must be one of"):
            synthesize("yes", Voice("text2wave", name))


@needs_festival
def test_festival_voices_join_train_and_valid_only_when_asked():
    fest = {("text2wave", "ked"), ("text2wave", "slt-hts")}
    assert fest <= set(split_voices("train", festival=True))
    assert set(split_voices("train", festival=True)) == set(split_voices("valid", festival=True))
    assert not fest & set(split_voices("test", festival=True))
    assert not fest & set(split_voices("train"))
    assert split_voices("test", festival=True) == split_voices("test")


@needs_festival
def test_festival_speaks_a_quarter_and_leaves_the_other_utterances_alone():
    plain = speech_corpus._plan("train", 4000, 0, split_voices("train"))
    mixed = speech_corpus._plan("train", 4000, 0, split_voices("train", festival=True))
    engines = Counter(voice.engine for _, voice in mixed)
    assert abs(engines["text2wave"] / 4000 - speech_corpus.FESTIVAL_SHARE) < 0.03
    assert [t for t, _ in plain] == [t for t, _ in mixed]
    kept = [(a, b) for (_, a), (_, b) in zip(plain, mixed) if b.engine != "text2wave"]
    assert len(kept) == 4000 - engines["text2wave"] and all(a == b for a, b in kept)
    speeds = [v.speed for _, v in mixed if v.engine == "text2wave"]
    assert 175 / 220 - 1e-3 <= min(speeds) and max(speeds) <= 175 / 120 + 1e-3


def test_synthetic_corpus_refuses_a_festival_that_is_not_a_bool():
    with pytest.raises(InputTypeError, match="festival must be True or False, got 'yes'"):
        speech_corpus.synthetic_corpus("train", 3, festival="yes")


# --------------------------------------------------------------------------- saytime

@needs_saytime
def test_saytime_digits():
    digits = saytime_digits()
    assert [u.text for u in digits] == list(DIGIT_WORDS)
    for u in digits:
        size = (speech_corpus.SAYTIME_ROOT / u.source.split("/")[-1]).stat().st_size
        assert u.audio.dtype == np.float32 and u.audio.shape == (size,)   # one byte a sample
        assert 0.1 < size / SAMPLE_RATE < 1.0 and 0.01 < np.sqrt(np.mean(u.audio ** 2)) < 0.3
    assert digits[0].source.endswith("/0.au") and digits[-1].source.endswith("/oh.au")


def test_saytime_files_are_decoded_as_mu_law(tmp_path):
    for name in speech_corpus.SAYTIME_DIGITS:
        (tmp_path / name).write_bytes(bytes([0xFF, 0x7F, 0x80, 0x00, 0xEF, 0x6F]))
    audio = saytime_digits(tmp_path)[3].audio
    expected = np.array([0, 0, 32124, -32124, 132, -132]) / 32768    # G.711 mu-law table
    np.testing.assert_allclose(audio, expected, atol=1e-7)


def test_saytime_missing_says_how_to_install(tmp_path):
    with pytest.raises(MissingFileError, match=r"saytime recordings not installed \(no .*0\.au\)"
                                               r": apt-get install saytime"):
        saytime_digits(tmp_path)


@needs_saytime
def test_the_app_offers_saytime_as_the_development_set():
    from rnnkit.apps import speech as app

    splits = app.load_splits("saytime-digits", splits=("test",))
    assert [u.text for u in splits["test"]] == list(DIGIT_WORDS)
    assert [u.text for u in app._dev_sets()["saytime-digits"]] == list(DIGIT_WORDS)
