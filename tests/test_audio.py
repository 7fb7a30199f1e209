"""rnnkit.audio: WAV reading (formats, mono mix, resampling, bad files) and features
checked against python_speech_features."""

from __future__ import annotations

import math
import subprocess
import sys
import wave

import numpy as np
import pytest

from rnnkit import audio
from rnnkit.errors import InputError, InputTypeError, MissingFileError

sf = pytest.importorskip("soundfile")

# Largest |rnnkit - python_speech_features| on log energies / cepstra (values up to ~30):
# both compute in float64, rnnkit rounds its output to float32 (measured: 2e-6).
FEATURE_ATOL = 1e-5
FEATURE_RTOL = 1e-6


def _tone(freq, rate, seconds=1.0, amplitude=0.5):
    t = np.arange(int(round(seconds * rate))) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def _amplitude_at(signal, rate, freq):
    """Sine amplitude at ``freq`` from the FFT magnitude (1 s of signal: 1 Hz bins)."""
    spectrum = np.abs(np.fft.rfft(signal)) * 2 / len(signal)
    k = int(round(freq * len(signal) / rate))
    return spectrum[k - 1:k + 2].max()


def _peak_hz(signal, rate):
    spectrum = np.abs(np.fft.rfft(signal))
    return np.argmax(spectrum) * rate / len(signal)


# --------------------------------------------------------------------------- reading

@pytest.mark.parametrize("rate", [8000, 22050, 44100])
@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_read_wav_mono_resampled_to_16k(tmp_path, rate, subtype):
    path = tmp_path / "tone.wav"
    sf.write(path, _tone(440, rate), rate, subtype=subtype)
    x = audio.read_wav(path)
    assert x.dtype == np.float32 and x.ndim == 1
    assert len(x) == math.ceil(rate * 16000 / rate)     # 1 s in, 1 s out
    assert np.abs(x).max() <= 1.0
    assert _peak_hz(x, 16000) == pytest.approx(440, abs=1)
    assert _amplitude_at(x, 16000, 440) == pytest.approx(0.5, rel=0.02)


@pytest.mark.parametrize("rate", [8000, 22050, 44100])
@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_read_wav_stereo_is_averaged(tmp_path, rate, subtype):
    # Left holds 440 Hz, right 1000 Hz: the mean keeps both at half amplitude; taking one
    # channel (or summing) would not.
    stereo = np.stack([_tone(440, rate, amplitude=0.6), _tone(1000, rate, amplitude=0.6)], 1)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, rate, subtype=subtype)
    x = audio.read_wav(path)
    assert x.shape == (16000,) and x.dtype == np.float32
    assert _amplitude_at(x, 16000, 440) == pytest.approx(0.3, rel=0.02)
    assert _amplitude_at(x, 16000, 1000) == pytest.approx(0.3, rel=0.02)


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_32", "DOUBLE"])
def test_read_wav_other_bit_depths(tmp_path, subtype):
    path = tmp_path / "tone.wav"
    sf.write(path, _tone(440, 16000, seconds=0.5), 16000, subtype=subtype)
    x = audio.read_wav(path)
    assert x.shape == (8000,)
    np.testing.assert_allclose(x, _tone(440, 16000, seconds=0.5), atol=1e-2)


def test_read_wav_written_by_wave_module(tmp_path):
    rate, n = 22050, 11025          # 0.5 s: 16000 / 22050 = 320 / 441, length ceil(n*320/441)
    pcm = np.round(_tone(1000, rate, seconds=n / rate, amplitude=0.25) * 32767).astype("<i2")
    path = tmp_path / "wave16.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    x = audio.read_wav(path)
    assert len(x) == math.ceil(n * 320 / 441) == 8000
    assert _peak_hz(x, 16000) == pytest.approx(1000, abs=2)


def test_read_wav_other_target_rate_and_exact_passthrough(tmp_path):
    path = tmp_path / "tone.wav"
    tone = _tone(440, 16000)
    sf.write(path, tone, 16000, subtype="FLOAT")
    np.testing.assert_array_equal(audio.read_wav(path), tone.astype(np.float32))
    assert audio.read_wav(path, sample_rate=8000).shape == (8000,)


def _assert_one_line(excinfo, *fragments):
    message = str(excinfo.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_read_wav_refuses_bad_files(tmp_path):
    missing = tmp_path / "nope.wav"
    with pytest.raises(MissingFileError) as excinfo:
        audio.read_wav(missing)
    _assert_one_line(excinfo, "nope.wav")

    text = tmp_path / "text.wav"
    text.write_text("not audio at all\nsecond line\n")
    with pytest.raises(InputError) as excinfo:
        audio.read_wav(text)
    _assert_one_line(excinfo, "text.wav", "WAV")

    flac = tmp_path / "tone.flac"
    sf.write(flac, _tone(440, 16000), 16000)
    with pytest.raises(InputError) as excinfo:
        audio.read_wav(flac)
    _assert_one_line(excinfo, "tone.flac", "expected WAV")

    good = tmp_path / "good.wav"
    sf.write(good, _tone(440, 16000), 16000, subtype="PCM_16")
    data = good.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(InputError) as excinfo:
        audio.read_wav(cut)
    _assert_one_line(excinfo, "cut.wav", "truncated")

    header_only = tmp_path / "header.wav"
    header_only.write_bytes(data[:30])
    with pytest.raises(InputError) as excinfo:
        audio.read_wav(header_only)
    _assert_one_line(excinfo, "header.wav")


def test_read_wav_refuses_bad_arguments(tmp_path):
    with pytest.raises(InputTypeError, match="path"):
        audio.read_wav(123)
    path = tmp_path / "tone.wav"
    sf.write(path, _tone(440, 16000), 16000)
    with pytest.raises(InputError, match="sample_rate"):
        audio.read_wav(path, sample_rate=0)


def test_import_rnnkit_does_not_load_audio_libraries():
    code = "import sys, rnnkit, rnnkit.audio; print('soundfile' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- features

@pytest.fixture
def speechlike():
    """1.234 s at 16 kHz: two tones plus seeded noise."""
    rng = np.random.default_rng(0)
    t = np.arange(int(1.234 * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1800 * t)
            + 0.05 * rng.standard_normal(t.size))


def _psf_logfbank(psf, signal, rate, **kwargs):
    """python_speech_features 0.6's logfbank takes no window; its fbank does."""
    return np.log(psf.fbank(signal, rate, **kwargs)[0])


def test_log_mel_matches_python_speech_features(speechlike):
    psf = pytest.importorskip("python_speech_features")
    ours = audio.log_mel(speechlike, n_mels=26, window="rectangular")
    np.testing.assert_allclose(ours, psf.logfbank(speechlike, 16000),
                               rtol=FEATURE_RTOL, atol=FEATURE_ATOL)
    ours = audio.log_mel(speechlike)                            # our defaults: 40, Hamming
    theirs = _psf_logfbank(psf, speechlike, 16000, nfilt=40, winfunc=np.hamming)
    np.testing.assert_allclose(ours, theirs, rtol=FEATURE_RTOL, atol=FEATURE_ATOL)


def test_log_mel_matches_with_non_default_parameters(speechlike):
    psf = pytest.importorskip("python_speech_features")
    x = speechlike[::2]                                         # treat as 8 kHz
    ours = audio.log_mel(x, sample_rate=8000, n_mels=20, win_ms=32, hop_ms=16, n_fft=256,
                         preemphasis=0.9, low_freq=100, high_freq=3800, window="hamming")
    theirs = _psf_logfbank(psf, x, 8000, winlen=0.032, winstep=0.016, nfilt=20, nfft=256,
                          lowfreq=100, highfreq=3800, preemph=0.9, winfunc=np.hamming)
    np.testing.assert_allclose(ours, theirs, rtol=FEATURE_RTOL, atol=FEATURE_ATOL)


def test_mfcc_with_deltas_matches_python_speech_features(speechlike):
    psf = pytest.importorskip("python_speech_features")
    ceps = psf.mfcc(speechlike, 16000)
    d1 = psf.delta(ceps, 2)
    expected = np.hstack([ceps, d1, psf.delta(d1, 2)])                       # (F, 39)
    ours = audio.mfcc(speechlike, n_mels=26, window="rectangular")
    assert ours.shape == expected.shape == (122, 39)
    np.testing.assert_allclose(ours, expected, rtol=FEATURE_RTOL, atol=FEATURE_ATOL)


def test_mfcc_without_lifter_or_energy_matches(speechlike):
    psf = pytest.importorskip("python_speech_features")
    theirs = psf.mfcc(speechlike, 16000, numcep=20, nfilt=40, ceplifter=0,
                      appendEnergy=False, winfunc=np.hamming)
    ours = audio.mfcc(speechlike, n_mfcc=20, deltas=False, ceplifter=0, append_energy=False)
    np.testing.assert_allclose(ours, theirs, rtol=FEATURE_RTOL, atol=FEATURE_ATOL)


@pytest.mark.parametrize("n, frames", [(100, 1), (400, 1), (401, 2), (560, 2), (561, 3), (16000, 99)])
def test_feature_shapes(n, frames):
    x = np.random.default_rng(1).standard_normal(n)
    assert audio.log_mel(x).shape == (frames, 40)
    assert audio.log_mel(x).dtype == np.float32
    assert audio.mfcc(x).shape == (frames, 39)
    assert audio.mfcc(x, n_mfcc=12, deltas=False).shape == (frames, 12)


def test_silence_gives_finite_features():
    assert np.isfinite(audio.log_mel(np.zeros(1600))).all()
    assert np.isfinite(audio.mfcc(np.zeros(1600))).all()


def test_features_refuse_bad_inputs(speechlike):
    with pytest.raises(InputTypeError, match="signal"):
        audio.log_mel(list(speechlike))
    with pytest.raises(InputError, match=r"signal must .* \(N,\)"):
        audio.log_mel(speechlike[None, :])
    with pytest.raises(InputError, match="NaN"):
        audio.mfcc(np.full(1000, np.nan))
    with pytest.raises(InputError, match="n_fft"):
        audio.log_mel(speechlike, n_fft=256)                  # 25 ms at 16 kHz is 400 samples
    with pytest.raises(InputError, match="window"):
        audio.log_mel(speechlike, window="hann")
    with pytest.raises(InputError, match="high_freq"):
        audio.log_mel(speechlike, high_freq=9000)
    with pytest.raises(InputError, match="n_mfcc"):
        audio.mfcc(speechlike, n_mfcc=41)


def test_normalize_gives_zero_mean_unit_std(speechlike):
    feats = audio.mfcc(speechlike)
    out = audio.normalize(feats)
    assert out.shape == feats.shape and out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-4)
    constant = np.hstack([feats[:, :2], np.full((len(feats), 1), 3.0, np.float32)])
    np.testing.assert_array_equal(audio.normalize(constant)[:, 2], 0)


def test_normalize_refuses_bad_inputs():
    with pytest.raises(InputTypeError, match="features"):
        audio.normalize([[1.0, 2.0]])
    with pytest.raises(InputError, match=r"\(frames, D\)"):
        audio.normalize(np.ones(5))
    with pytest.raises(InputError, match="NaN"):
        audio.normalize(np.array([[np.inf, 1.0]]))


def test_log_mel_vtlp_moves_a_tone_up_or_down_a_band_and_one_changes_nothing(speechlike):
    x = speechlike[::2]                                         # treat as 8 kHz
    plain = audio.log_mel(x, 8000, n_mels=40, n_fft=256)
    np.testing.assert_array_equal(audio.log_mel(x, 8000, n_mels=40, n_fft=256, vtlp=1.0), plain)
    t = np.arange(8000) / 8000
    tone = np.sin(2 * np.pi * 1500 * t)
    peak = {a: int(np.argmax(audio.log_mel(tone, 8000, n_fft=256, vtlp=a).mean(0)))
            for a in (0.9, 1.0, 1.1)}
    assert peak[0.9] < peak[1.0] < peak[1.1]                    # 1350, 1500, 1650 Hz
    with pytest.raises(ValueError, match=r"vtlp must be a float in \[0.5, 2\], got 3"):
        audio.log_mel(x, 8000, vtlp=3)


def test_normalize_speech_ignores_the_silence_around_the_speech(speechlike):
    x = speechlike[::2] * np.abs(np.sin(np.pi * 3 * np.arange(9872) / 8000))  # 3 syllables/s
    floor = 1e-5 * np.random.default_rng(1).standard_normal(4000)
    alone = audio.normalize_speech(audio.log_mel(x, 8000, n_fft=256))
    padded = audio.normalize_speech(audio.log_mel(np.concatenate([floor, x, floor]), 8000,
                                                  n_fft=256))
    assert alone.dtype == np.float32 and padded.shape == (alone.shape[0] + 100, 40)   # 0.5 s
    change = np.abs(padded[50:50 + alone.shape[0] - 2] - alone[:-2])
    assert change.mean() < 0.05 and change.max() < 0.5         # frames at the ends join S
    old = audio.normalize(audio.log_mel(np.concatenate([floor, x, floor]), 8000, n_fft=256))
    assert np.abs(old[50:50 + alone.shape[0] - 2] - alone[:-2]).mean() > 0.5


def test_normalize_speech_floors_and_selects_frames_by_hand():
    c = np.log(10) / 10
    L = np.array([[0.0, -1.0], [-2.0, -80 * c], [-100 * c, -100 * c]])   # speech, weak, silence
    X = audio.normalize_speech(L, floor_db=50.0, active_db=15.0)
    Lf = np.maximum(L, -50 * c)                                           # floored at m - 50 dB
    speech = Lf[:2]                          # e = log(1 + e^-1) and about -2: within 15 dB
    np.testing.assert_allclose(X, (Lf - speech.mean(0)) / speech.std(0), rtol=1e-6)
    with pytest.raises(ValueError, match=r"log_features must be a non-empty float array"):
        audio.normalize_speech(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="floor_db must be"):
        audio.normalize_speech(L, floor_db=0.0)
    with pytest.raises(TypeError, match="log_features must be a numpy.ndarray"):
        audio.normalize_speech([[0.0]])
