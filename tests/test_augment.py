"""rnnkit/augment.py: noise at an exact SNR, speed perturbation (length and pitch), reverberation
(its impulse response's decay), band limits (gain at and beyond the corners), silence trimming
and padding, the vocal-tract-length warp of
power spectra, SpecAugment's masks (bounds, determinism, purity), and the argument errors."""

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pytest

from rnnkit.augment import (
    SpecAugment, add_noise, pad_silence, reverberate, spec_augment, speed_fraction, speed_perturb,
    trim_silence, vtlp_warp, band_limit,
)

SR = 8000


def _snr_db(signal, noisy):
    signal = signal.astype(np.float64)
    return 10 * math.log10(np.mean(signal ** 2) / np.mean((noisy.astype(np.float64) - signal) ** 2))


def _tone(freq, seconds=1.0, dtype=np.float64):
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(dtype)


# ------------------------------------------------------------------ add_noise


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 10.0, 30.0])
def test_white_noise_has_the_requested_snr(snr_db, dtype):
    signal = _tone(300, 0.5, dtype)
    before = signal.copy()
    noisy = add_noise(signal, snr_db, np.random.default_rng(0))
    assert noisy.dtype == dtype and noisy.shape == signal.shape
    assert abs(_snr_db(signal, noisy) - snr_db) < 0.01
    np.testing.assert_array_equal(signal, before)                       # pure
    np.testing.assert_array_equal(noisy, add_noise(signal, snr_db, np.random.default_rng(0)))
    assert not np.array_equal(noisy, add_noise(signal, snr_db, np.random.default_rng(1)))


@pytest.mark.parametrize("noise_length", [1000, 3001, 20000])            # tiled, tiled, cropped
def test_given_noise_is_a_window_of_it_scaled_to_the_snr(noise_length):
    signal = _tone(440, 0.5)                                            # 4000 samples
    noise = np.random.default_rng(5).standard_normal(noise_length)
    noisy = add_noise(signal, 6.0, np.random.default_rng(2), noise=noise)
    assert abs(_snr_db(signal, noisy) - 6.0) < 0.01
    added = noisy - signal
    # the added noise is gain * noise[(offset + i) % M] for one offset: find it by the ratios
    o, M = np.arange(noise_length), noise_length
    same_ratio = (np.isclose(added[0] * noise[(o + 1) % M], added[1] * noise[o], rtol=1e-9, atol=0)
                  & np.isclose(added[0] * noise[(o + 2) % M], added[2] * noise[o], rtol=1e-9, atol=0))
    assert same_ratio.sum() == 1
    offset = int(np.flatnonzero(same_ratio)[0])
    gain = added[0] / noise[offset]
    window = np.take(noise, np.arange(offset, offset + signal.size), mode="wrap")
    np.testing.assert_allclose(added, gain * window, rtol=1e-9, atol=1e-12)
    if noise_length >= signal.size:
        assert offset + signal.size <= noise_length                     # a plain crop, no seam


def test_add_noise_errors():
    rng = np.random.default_rng(0)
    signal = _tone(200, 0.1)
    with pytest.raises(ValueError, match=r"signal must be a non-empty 1-D float array \(N,\), got shape \(2, 3\)"):
        add_noise(np.zeros((2, 3)), 10.0, rng)
    with pytest.raises(ValueError, match="signal must be a non-empty 1-D float array.*dtype int64"):
        add_noise(np.arange(5), 10.0, rng)
    with pytest.raises(ValueError, match="signal contains NaN or inf"):
        add_noise(np.array([0.1, np.nan]), 10.0, rng)
    with pytest.raises(ValueError, match="signal is silent"):
        add_noise(np.zeros(100), 10.0, rng)
    with pytest.raises(ValueError, match="snr_db must be a finite number, got inf"):
        add_noise(signal, float("inf"), rng)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        add_noise(signal, 10.0, 0)
    with pytest.raises(ValueError, match="noise must be a non-empty 1-D float array"):
        add_noise(signal, 10.0, rng, noise=np.zeros(0))
    with pytest.raises(ValueError, match="noise is silent where it was cropped"):
        add_noise(signal, 10.0, rng, noise=np.zeros(50))


# ------------------------------------------------------------------ speed_perturb


@pytest.mark.parametrize("factor", [0.5, 0.9, 1.1, 1.25, 2.0, 0.93])
def test_speed_perturb_scales_length_and_pitch(factor):
    signal = _tone(440.0)                                               # 1 s, 8000 samples
    speed = speed_fraction(factor)
    assert speed == Fraction(factor).limit_denominator(100) and float(speed) == pytest.approx(factor)
    out = speed_perturb(signal, factor)
    assert out.dtype == signal.dtype
    assert len(out) == math.ceil(len(signal) * speed.denominator / speed.numerator)
    assert abs(len(out) / len(signal) - 1 / factor) <= 1 / len(signal)
    core = out[50:-50] * np.hanning(len(out) - 100)                      # away from the filter's edges
    spectrum = np.abs(np.fft.rfft(core, 16 * len(core)))                # zero-padded: fine bins
    peak = np.argmax(spectrum) * SR / (16 * len(core))
    assert abs(peak - 440.0 * factor) < 0.5, peak


def test_speed_fraction_is_exact_for_the_usual_factors_and_one_is_a_copy():
    assert speed_fraction(0.9) == Fraction(9, 10) and speed_fraction(1.1) == Fraction(11, 10)
    signal = _tone(100, 0.1, np.float32)
    same = speed_perturb(signal, 1.0)
    assert same is not signal and same.dtype == np.float32
    np.testing.assert_array_equal(same, signal)


def test_speed_perturb_errors():
    with pytest.raises(ValueError, match=r"factor must be a float in \[0.5, 2\], got 2.5"):
        speed_perturb(_tone(100, 0.1), 2.5)
    with pytest.raises(ValueError, match=r"factor must be a float in \[0.5, 2\], got True"):
        speed_perturb(_tone(100, 0.1), True)
    with pytest.raises(ValueError, match="signal must be a non-empty 1-D float array"):
        speed_perturb(np.zeros((10, 2)), 1.1)


# ------------------------------------------------------------------ reverberate


@pytest.mark.parametrize("rt60", [0.2, 0.5])
def test_reverberation_of_an_impulse_is_a_tail_decaying_60_db_in_rt60(rt60):
    length = int(rt60 * SR)
    impulse = np.zeros(2 * length)
    impulse[0] = 1.0
    h = reverberate(impulse, rt60, np.random.default_rng(0), SR, reverb_ratio=0.5)
    h = h / h[0]                                              # undo the power normalisation
    assert np.abs(h[length:]).max() < 1e-12                   # the response ends at RT60
    window = length // 10

    def level_db(start):                                      # RMS of the tail from start, dB
        return 10 * np.log10(np.mean(h[start:start + window] ** 2))

    def envelope_db(start):                                   # what exp(-6.91 k / L) 0.5 gives
        k = np.arange(start, start + window)
        return 10 * np.log10(np.mean((0.5 * np.exp(-6.91 * k / length)) ** 2))

    for start in (1, 4 * window, 8 * window):
        assert abs(level_db(start) - envelope_db(start)) < 1.0
    assert envelope_db(1) - envelope_db(length - window) > 50   # about 60 dB over RT60


def test_reverberate_keeps_length_power_and_dtype_and_is_seeded():
    signal = _tone(440, 0.5, np.float32)
    wet = reverberate(signal, 0.3, np.random.default_rng(1), SR)
    assert wet.shape == signal.shape and wet.dtype == np.float32
    assert np.mean(wet.astype(np.float64) ** 2) == pytest.approx(np.mean(signal.astype(np.float64) ** 2), rel=1e-5)
    np.testing.assert_array_equal(wet, reverberate(signal, 0.3, np.random.default_rng(1), SR))
    dry = reverberate(signal, 0.3, np.random.default_rng(1), SR, reverb_ratio=0.0)
    np.testing.assert_allclose(dry, signal, atol=1e-6)        # no tail: the signal itself


def test_reverberate_errors():
    with pytest.raises(ValueError, match="rt60 must be a positive number, got 0.0"):
        reverberate(_tone(100, 0.1), 0.0, np.random.default_rng(0), SR)
    with pytest.raises(ValueError, match="signal is silent"):
        reverberate(np.zeros(100), 0.1, np.random.default_rng(0), SR)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        reverberate(_tone(100, 0.1), 0.1, 0, SR)


# ------------------------------------------------------------------ silence


def test_trim_silence_cuts_quiet_ends_to_the_frame():
    tone = _tone(300, 0.5)                                   # 4000 samples, 50 frames of 80
    quiet = 1e-3 * np.random.default_rng(0).standard_normal(800)      # about -57 dB below it
    signal = np.concatenate([quiet, tone, quiet[:400]])
    np.testing.assert_array_equal(trim_silence(signal, SR, top_db=40), tone)
    kept = trim_silence(signal, SR, top_db=80)               # the noise is within 80 dB: kept
    np.testing.assert_array_equal(kept, signal)
    assert trim_silence(np.zeros(160), SR).size == 160       # all equally quiet: kept whole


def test_pad_silence_adds_zeros_at_each_end():
    signal = _tone(100, 0.01, np.float32)
    padded = pad_silence(signal, 3, 5)
    assert padded.dtype == np.float32 and padded.shape == (signal.size + 8,)
    assert np.all(padded[:3] == 0) and np.all(padded[-5:] == 0)
    np.testing.assert_array_equal(padded[3:-5], signal)
    with pytest.raises(ValueError, match="before must be a non-negative integer"):
        pad_silence(signal, -1, 0)


# ------------------------------------------------------------------ spec_augment


def _runs(flags):
    """Lengths of the runs of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], flags.astype(int), [0]]))
    return np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)


def test_spec_augment_frequency_masks_stay_within_their_bounds():
    features = np.ones((30, 20))
    widest = 0
    for seed in range(200):
        out = spec_augment(features, np.random.default_rng(seed), freq_masks=2, freq_width=6,
                           time_masks=0, time_width=10)
        masked = out == 0
        assert np.all(masked == masked[0])                               # whole columns
        runs = _runs(masked[0])
        assert len(runs) <= 2 and all(r <= 12 for r in runs)             # two masks, may touch
        assert np.all(out[~masked] == 1)
        widest = max(widest, masked[0].sum())
    assert widest >= 9                                                   # not always narrow


def test_spec_augment_time_masks_respect_width_and_fraction():
    T = 50
    features = np.full((T, 4), 2.0, np.float32)
    seen = set()
    for seed in range(200):
        out = spec_augment(features, np.random.default_rng(seed), freq_masks=0, freq_width=4,
                           time_masks=1, time_width=20, value=-1.0, max_time_fraction=0.1)
        masked = out == -1.0
        assert out.dtype == np.float32 and np.all(masked == masked[:, :1])   # whole rows
        runs = _runs(masked[:, 0])
        assert len(runs) <= 1 and all(r <= 5 for r in runs)              # floor(0.1 * 50) = 5 < 20
        seen.add(int(masked[:, 0].sum()))
    assert seen == {0, 1, 2, 3, 4, 5}                                    # every width in U{0..5}
    for seed in range(50):                                               # time_width is the bound here
        out = spec_augment(features, np.random.default_rng(seed), 0, 0, 3, 2)
        assert all(r <= 6 for r in _runs(out[:, 0] == 0))


def test_spec_augment_is_deterministic_under_a_seed_and_pure():
    features = np.random.default_rng(0).standard_normal((40, 10))
    before = features.copy()
    args = dict(freq_masks=2, freq_width=4, time_masks=2, time_width=8)
    a = spec_augment(features, np.random.default_rng(3), **args)
    b = spec_augment(features, np.random.default_rng(3), **args)
    c = spec_augment(features, np.random.default_rng(4), **args)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(features, before)
    settings = SpecAugment(2, 4, 2, 8, 1.0)
    np.testing.assert_array_equal(settings.apply(features, np.random.default_rng(3)), a)


def test_spec_augment_settings():
    default = SpecAugment()
    assert (default.freq_masks, default.freq_width, default.time_masks, default.time_width,
            default.max_time_fraction) == (2, 13, 2, 100, 0.2)
    assert SpecAugment(**default.to_dict()) == default
    assert type(SpecAugment(freq_width=np.int64(3)).freq_width) is int
    with pytest.raises(dataclasses.FrozenInstanceError):
        default.freq_width = 3
    with pytest.raises(ValueError, match="time_masks must be a non-negative integer, got -1"):
        SpecAugment(time_masks=-1)
    with pytest.raises(ValueError, match=r"max_time_fraction must be a float in \[0, 1\], got 1.5"):
        SpecAugment(max_time_fraction=1.5)


def test_spec_augment_errors():
    rng, features = np.random.default_rng(0), np.zeros((10, 8))
    with pytest.raises(ValueError, match=r"features must be a float array of shape \(T, F\).*got shape \(10,\)"):
        spec_augment(np.zeros(10), rng, 1, 2, 1, 2)
    with pytest.raises(ValueError, match="features must be a float array.*dtype int64"):
        spec_augment(np.zeros((3, 3), int), rng, 1, 2, 1, 2)
    with pytest.raises(ValueError, match=r"freq_width must be an integer in \[0, 8\] \(the features have F=8 bins\), got 9"):
        spec_augment(features, rng, 1, 9, 1, 2)
    with pytest.raises(ValueError, match="freq_masks must be a non-negative integer, got 1.5"):
        spec_augment(features, rng, 1.5, 2, 1, 2)
    with pytest.raises(ValueError, match=r"max_time_fraction must be a float in \[0, 1\], got -0.1"):
        spec_augment(features, rng, 1, 2, 1, 2, max_time_fraction=-0.1)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        spec_augment(features, np.random.RandomState(0), 1, 2, 1, 2)


# ------------------------------------------------------------------ vtlp_warp

def test_vtlp_moves_a_peak_by_the_factor_below_the_cutoff():
    power = np.zeros((2, 129), np.float32)               # n_fft 256 at 8 kHz: 31.25 Hz bins
    power[:, 32] = 1.0                                   # 1000 Hz
    for alpha, centre in ((0.9, 900.0), (1.1, 1100.0)):
        warped = vtlp_warp(power, alpha, SR, 3400.0)
        assert warped.shape == (2, 129) and warped.dtype == np.float32
        hz = (warped[0] * np.arange(129)).sum() / warped[0].sum() * SR / 256
        assert abs(hz - centre) < 3.0
    np.testing.assert_array_equal(vtlp_warp(power, 1.0, SR, 3400.0), power)


def test_vtlp_keeps_the_band_ends_and_is_piecewise_linear():
    ramp = np.tile(np.linspace(0.0, 4000.0, 129), (1, 1))  # each bin holds its own frequency
    for alpha in (0.9, 1.1):
        source = vtlp_warp(ramp, alpha, SR, 3400.0)[0]     # = w^-1(f_k), the frequency read
        f = np.linspace(0.0, 4000.0, 129)
        f0 = 3400.0 * min(alpha, 1.0) / alpha
        below = f <= alpha * f0
        np.testing.assert_allclose(source[below], f[below] / alpha, atol=1e-9)
        expected = 4000 - (4000 - f[~below]) * (4000 - f0) / (4000 - alpha * f0)
        np.testing.assert_allclose(source[~below], expected, atol=1e-9)
        assert source[0] == 0.0 and source[-1] == 4000.0


def test_vtlp_errors():
    power = np.ones((3, 129))
    with pytest.raises(ValueError, match=r"power must be a float array of shape \(T, K\) with K >= 2"):
        vtlp_warp(np.ones(129), 1.1, SR, 3400.0)
    with pytest.raises(ValueError, match=r"alpha must be a float in \[0.5, 2\]"):
        vtlp_warp(power, 2.5, SR, 3400.0)
    with pytest.raises(ValueError, match=r"high_hz must be a float in \(0, 4000"):
        vtlp_warp(power, 1.1, SR, 4000.0)


# ------------------------------------------------------------------ band_limit

@pytest.mark.parametrize("freq, gain_db", [(100, -76.6), (300, -6.02), (1000, 0.0),
                                           (3000, -0.11), (3400, -6.02), (3800, -77.5)])
def test_band_limit_gain_at_and_beyond_the_corners(freq, gain_db):
    x = _tone(freq)
    y = band_limit(x, SR, 300.0, 3400.0)
    assert y.shape == x.shape and y.dtype == x.dtype
    measured = 10 * math.log10(np.mean(y[1000:-1000] ** 2) / np.mean(x[1000:-1000] ** 2))
    assert measured == pytest.approx(gain_db, abs=0.1)


def test_band_limit_without_corners_is_a_copy_and_errors():
    x = _tone(440, dtype=np.float32)
    y = band_limit(x, SR, 0.0, 4000.0)
    np.testing.assert_array_equal(y, x)
    assert y is not x and y.dtype == np.float32
    with pytest.raises(ValueError, match=r"high_hz must be a float in \(0, 4000"):
        band_limit(x, SR, 0.0, 5000.0)
    with pytest.raises(ValueError, match=r"low_hz must be a float in \[0, 3000.* \(below high_hz=3000\)"):
        band_limit(x, SR, 3000.0, 3000.0)
    with pytest.raises(ValueError, match="signal must be a non-empty 1-D float array"):
        band_limit(np.zeros((2, 2)), SR, 0.0, 3000.0)
