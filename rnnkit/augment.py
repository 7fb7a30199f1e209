"""Data augmentation for speech: additive noise, speed perturbation, reverberation, a
telephone channel's band limits, silent ends, vocal-tract-length perturbation and SpecAugment.

Each augmentation is a pure function: it returns a new array and leaves its input alone;
what it draws comes from the ``rng`` (a ``numpy.random.Generator``) the caller passes,
so a seeded generator makes every copy reproducible.

Additive noise at a signal-to-noise ratio ``s`` dB (:func:`add_noise`), signal ``x (N,)``::

    n      = white Gaussian noise (N,), or the given noise cropped to N samples
             at a random offset (tiled first when it is shorter than x)
    P_x    = mean(x^2),   P_n = mean(n^2)
    g      = sqrt(P_x / (P_n 10^(s / 10)))
    y      = x + g n                       # so 10 log10(P_x / mean((g n)^2)) = s exactly

Speed perturbation by a factor ``f`` (:func:`speed_perturb`), as Kaldi's (sox ``speed``)::

    p / q  = f as a fraction, denominator <= 100 (0.9 = 9/10, 1.1 = 11/10 exactly)
    y      = resample_poly(x, up=q, down=p)        # (ceil(N q / p),)

Played at the original rate, ``y`` lasts ``1 / f`` as long and every frequency is ``f``
times higher: tempo and pitch change together.

Reverberation with a decay time ``RT60`` seconds (:func:`reverberate`), a synthetic room: the
impulse response is a direct path plus exponentially decaying Gaussian noise, the usual
statistical model of late reverberation (Schroeder)::

    h[0]   = 1,   h[k] = w_k exp(-6.91 k / (RT60 sr)) r     k = 1 .. ceil(RT60 sr) - 1
             w_k ~ N(0, 1);  r = reverb-to-direct amplitude ratio  # -60 dB at k = RT60 sr
    y      = (x * h)[:N] sqrt(P_x / P_(x*h))                       # same length and power as x

Band limits (:func:`band_limit`), a channel that passes ``f_lo`` .. ``f_hi`` Hz, as telephone
lines and their recordings do (300-3400 Hz), with Butterworth filters of order ``n`` run
forwards and backwards (zero phase, so the gain is squared)::

    |H(f)|^2 ~ 1 / (1 + (f_lo / f)^(2n))^2  1 / (1 + (f / f_hi)^(2n))^2  # power gain
    y        = sosfiltfilt(high-pass f_lo, sosfiltfilt(low-pass f_hi, x))    # (N,)

Silence at the ends (:func:`trim_silence`, :func:`pad_silence`), frames of ``L`` samples::

    e_j    = 10 log10(mean(x[jL:(j+1)L]^2))                        # frame energy, dB
    keep   = first .. last frame with e_j >= max_j e_j - top_db    # trim_silence
    y      = [0]*a ++ x ++ [0]*b                                   # pad_silence

Vocal-tract-length perturbation (Jaitly & Hinton 2013; :func:`vtlp_warp`) by a factor ``a``
on power spectra ``P (T, K)`` of FFT bins ``f_k = k sr / n_fft`` up to the Nyquist
frequency ``S = sr / 2``: the frequency axis is warped piecewise linearly, every frequency
below ``f_0`` scaled by ``a`` and the rest mapped linearly onto the remaining band, so the
band's ends stay put (``f_hi`` is where the scaling stops, ``high_hz``)::

    f_0    = f_hi min(a, 1) / a
    w(f)   = a f                                           f <= f_0
           = S - (S - f_hi min(a, 1)) (S - f) / (S - f_0)    f > f_0
    P'[:, k] = P(w^-1(f_k))             # linear interpolation between bins

``a > 1`` moves every formant up by ``a`` (a shorter vocal tract), ``a < 1`` down; pitch
and tempo stay as they were (unlike speed perturbation, which moves all three).

SpecAugment (Park et al. 2019) on features ``X (T, F)`` (:func:`spec_augment`), frequency
masks first, then time masks; ``U{a..b}`` is uniform over the integers, both ends included::

    repeat freq_masks times:  f ~ U{0..freq_width},  f0 ~ U{0..F - f};   X[:, f0:f0 + f] = value
    repeat time_masks times:  t ~ U{0..min(time_width, floor(p T))},  t0 ~ U{0..T - t};
                              X[t0:t0 + t, :] = value                  # p = max_time_fraction

Masks may overlap. The paper's time warping is left out (its ablation found it the least
useful of the three). :class:`SpecAugment` holds these settings for a model
(``rnnkit.models.AcousticModel`` masks each utterance within its length).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction

import numpy as np

from rnnkit._validation import check_scalar
from rnnkit.errors import InputError, InputTypeError

__all__ = ["add_noise", "speed_perturb", "reverberate", "band_limit", "trim_silence",
           "pad_silence", "vtlp_warp", "spec_augment", "SpecAugment", "speed_fraction"]

MIN_SPEED, MAX_SPEED = 0.5, 2.0
MAX_DENOMINATOR = 100       # of the speed fraction: keeps resample_poly's filter short


# --------------------------------------------------------------------------- waveform

def add_noise(signal, snr_db, rng, noise=None) -> np.ndarray:
    """``signal`` plus noise scaled to a signal-to-noise ratio of ``snr_db`` (see module doc).

    Parameters
    ----------
    signal : float ndarray (N,)
        Not silent (its power must be positive).
    snr_db : float
        The target SNR in dB; the measured ``10 log10(P_signal / P_noise)`` equals it.
    rng : numpy.random.Generator
        Draws the white noise, or the offset into ``noise``.
    noise : float ndarray (M,) or None
        A noise recording (any length; tiled when ``M < N``); None: white Gaussian noise.

    Returns
    -------
    float ndarray (N,), the dtype of ``signal``.
    """
    x = _check_signal(signal, "signal")
    snr_db = check_scalar(snr_db, "snr_db", float)
    _check_rng(rng)
    if noise is None:
        n = rng.standard_normal(x.size)                                     # (N,)
    else:
        n = _noise_segment(_check_signal(noise, "noise").astype(np.float64), x.size, rng)
    x64 = x.astype(np.float64)
    power_signal, power_noise = np.mean(x64 ** 2), np.mean(n ** 2)
    if power_signal == 0:
        raise InputError("signal is silent (zero power): no noise level gives an SNR")
    if power_noise == 0:
        raise InputError("noise is silent where it was cropped (zero power); give a noise signal "
                         "that is not zero over any stretch as long as the signal")
    gain = math.sqrt(power_signal / (power_noise * 10.0 ** (snr_db / 10.0)))
    return (x64 + gain * n).astype(x.dtype)


def _noise_segment(noise, length, rng) -> np.ndarray:
    """``length`` samples of ``noise`` from a random offset: a plain crop when the noise is
    long enough, else the noise tiled (wrapping round) from an offset in ``[0, M)``."""
    M = noise.size
    if M >= length:
        offset = int(rng.integers(0, M - length + 1))
        return noise[offset:offset + length]
    offset = int(rng.integers(0, M))
    return np.take(noise, np.arange(offset, offset + length), mode="wrap")


def speed_fraction(factor) -> Fraction:
    """The speed :func:`speed_perturb` applies for ``factor``: ``p / q``, ``q <= 100``."""
    factor = check_scalar(factor, "factor", float, low=MIN_SPEED, high=MAX_SPEED)
    return Fraction(factor).limit_denominator(MAX_DENOMINATOR)


def speed_perturb(signal, factor) -> np.ndarray:
    """Play ``signal`` ``factor`` times faster: resampled by ``q / p ~ 1 / factor`` (module doc).

    Parameters
    ----------
    signal : float ndarray (N,)
    factor : float in [0.5, 2]
        Speed; > 1 is shorter and higher. Applied as :func:`speed_fraction` ``(factor)``.

    Returns
    -------
    float ndarray (ceil(N q / p),), the dtype of ``signal``.
    """
    x = _check_signal(signal, "signal")
    speed = speed_fraction(factor)
    if speed == 1:
        return x.copy()
    from scipy.signal import resample_poly     # the apps extra; kept out of `import rnnkit`

    y = resample_poly(x.astype(np.float64), speed.denominator, speed.numerator)  # (ceil(N q / p),)
    return y.astype(x.dtype)


def reverberate(signal, rt60, rng, sample_rate, reverb_ratio=0.3) -> np.ndarray:
    """``signal`` in a synthetic room with decay time ``rt60`` seconds (see module doc).

    Parameters
    ----------
    signal : float ndarray (N,), not silent
    rt60 : float > 0
        Seconds for the reverberant tail to decay by 60 dB.
    rng : numpy.random.Generator
        Draws the tail's noise.
    sample_rate : int
    reverb_ratio : float >= 0
        Amplitude of the tail's first sample relative to the direct path.

    Returns
    -------
    float ndarray (N,), the dtype of ``signal``, with the power of ``signal``.
    """
    x = _check_signal(signal, "signal")
    rt60 = check_scalar(rt60, "rt60", float, low=0.0, include_low=False)
    sample_rate = check_scalar(sample_rate, "sample_rate", int, low=1)
    reverb_ratio = check_scalar(reverb_ratio, "reverb_ratio", float, low=0.0)
    _check_rng(rng)
    length = max(int(math.ceil(rt60 * sample_rate)), 2)
    k = np.arange(1, length)
    h = np.empty(length)
    h[0] = 1.0
    h[1:] = rng.standard_normal(length - 1) * np.exp(-6.91 * k / (rt60 * sample_rate)) * reverb_ratio
    from scipy.signal import fftconvolve       # the apps extra; kept out of `import rnnkit`

    x64 = x.astype(np.float64)
    y = fftconvolve(x64, h)[:x.size]                                           # (N,)
    power_x, power_y = np.mean(x64 ** 2), np.mean(y ** 2)
    if power_x == 0:
        raise InputError("signal is silent (zero power): nothing to reverberate")
    return (y * math.sqrt(power_x / power_y)).astype(x.dtype)


def band_limit(signal, sample_rate, low_hz, high_hz, order=4) -> np.ndarray:
    """``signal`` through a channel passing ``low_hz`` .. ``high_hz`` (see module doc).

    Parameters
    ----------
    signal : float ndarray (N,)
    sample_rate : int
    low_hz : float in [0, high_hz)
        High-pass corner; 0: none.
    high_hz : float in (low_hz, sample_rate / 2]
        Low-pass corner; ``sample_rate / 2``: none.
    order : int >= 1
        Of each Butterworth filter (the gain falls ``2 order`` x 6 dB an octave beyond a
        corner, run twice).

    Returns
    -------
    float ndarray (N,), the dtype of ``signal``.
    """
    x = _check_signal(signal, "signal")
    sample_rate = check_scalar(sample_rate, "sample_rate", int, low=1)
    nyquist = sample_rate / 2
    high_hz = check_scalar(high_hz, "high_hz", float, low=0.0, high=nyquist, include_low=False)
    low_hz = check_scalar(low_hz, "low_hz", float, low=0.0, high=high_hz, include_high=False,
                          note=f" (below high_hz={high_hz:g})")
    order = check_scalar(order, "order", int, low=1)
    from scipy.signal import butter, sosfiltfilt  # the apps extra; kept out of `import rnnkit`

    y = x.astype(np.float64)
    if high_hz < nyquist:
        y = sosfiltfilt(butter(order, high_hz, "lowpass", fs=sample_rate, output="sos"), y)
    if low_hz > 0:
        y = sosfiltfilt(butter(order, low_hz, "highpass", fs=sample_rate, output="sos"), y)
    return y.astype(x.dtype)


def trim_silence(signal, sample_rate, top_db=40.0, frame_ms=10.0) -> np.ndarray:
    """``signal`` without its leading and trailing frames quieter than the loudest frame
    by more than ``top_db`` (see module doc); a signal with no such frames is returned whole.

    Returns a copy, float ndarray ``(M,)``, ``M <= N``, the dtype of ``signal``.
    """
    x = _check_signal(signal, "signal")
    sample_rate = check_scalar(sample_rate, "sample_rate", int, low=1)
    top_db = check_scalar(top_db, "top_db", float, low=0.0)
    frame_ms = check_scalar(frame_ms, "frame_ms", float, low=0.0, include_low=False)
    L = max(int(round(sample_rate * frame_ms / 1000)), 1)
    frames = -(-x.size // L)
    padded = np.zeros(frames * L)
    padded[:x.size] = x
    energy = 10 * np.log10(np.mean(padded.reshape(frames, L) ** 2, axis=1) + 1e-30)  # (frames,)
    loud = np.flatnonzero(energy >= energy.max() - top_db)
    return x[loud[0] * L:min((loud[-1] + 1) * L, x.size)].copy()


def pad_silence(signal, before, after) -> np.ndarray:
    """``before`` zeros, then ``signal``, then ``after`` zeros: float ndarray
    ``(before + N + after,)``, the dtype of ``signal``."""
    x = _check_signal(signal, "signal")
    before = check_scalar(before, "before", int, low=0)
    after = check_scalar(after, "after", int, low=0)
    return np.pad(x, (before, after))


def _check_signal(signal, name) -> np.ndarray:
    x = np.asarray(signal)
    if x.ndim != 1 or x.size == 0 or x.dtype.kind != "f":
        raise InputError(f"{name} must be a non-empty 1-D float array (N,), got shape {x.shape} "
                         f"and dtype {x.dtype}")
    if not np.isfinite(x).all():
        raise InputError(f"{name} contains NaN or inf values")
    return x


def _check_rng(rng) -> None:
    if not isinstance(rng, np.random.Generator):
        raise InputTypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                             f"got {type(rng).__name__}")


# --------------------------------------------------------------------------- features

def vtlp_warp(power, alpha, sample_rate, high_hz) -> np.ndarray:
    """Power spectra ``power (T, K)`` with the frequency axis warped by ``alpha`` (module doc).

    Parameters
    ----------
    power : float ndarray (T, K)
        Power spectra of ``K = n_fft / 2 + 1`` bins from 0 Hz to ``sample_rate / 2``.
    alpha : float in [0.5, 2]
        The warp factor; 1 returns a copy.
    sample_rate : int
    high_hz : float in (0, sample_rate / 2)
        ``f_hi``: frequencies up to ``f_hi min(alpha, 1) / alpha`` are scaled by ``alpha``.

    Returns
    -------
    float ndarray (T, K), the dtype of ``power``.
    """
    P = np.asarray(power)
    if P.ndim != 2 or P.shape[1] < 2 or P.dtype.kind != "f":
        raise InputError(f"power must be a float array of shape (T, K) with K >= 2 bins, "
                         f"got shape {P.shape} and dtype {P.dtype}")
    alpha = check_scalar(alpha, "alpha", float, low=0.5, high=2.0)
    sample_rate = check_scalar(sample_rate, "sample_rate", int, low=1)
    nyquist = sample_rate / 2
    high_hz = check_scalar(high_hz, "high_hz", float, low=0.0, high=nyquist, include_low=False,
                           include_high=False)
    K = P.shape[1]
    f = np.linspace(0.0, nyquist, K)                                           # (K,) bin Hz
    f0 = high_hz * min(alpha, 1.0) / alpha
    source = np.interp(f, [0.0, alpha * f0, nyquist], [0.0, f0, nyquist])      # w^-1(f_k)
    position = source / (nyquist / (K - 1))                                    # (K,) in bins
    left = np.minimum(np.floor(position).astype(int), K - 2)
    frac = position - left
    return (P[:, left] * (1 - frac) + P[:, left + 1] * frac).astype(P.dtype)  # (T, K)


def spec_augment(features, rng, freq_masks, freq_width, time_masks, time_width, value=0.0,
                 max_time_fraction=1.0) -> np.ndarray:
    """A copy of ``features (T, F)`` with SpecAugment's masks set to ``value`` (module doc).

    Parameters
    ----------
    features : float ndarray (T, F)
    rng : numpy.random.Generator
    freq_masks, time_masks : int >= 0
        How many masks of each kind.
    freq_width : int in [0, F]
        Widest frequency mask, in bins (Park et al.'s ``F``).
    time_width : int >= 0
        Widest time mask, in frames (Park et al.'s ``T``).
    value : float
        What masked entries become (0 is the mean of per-utterance normalised features).
    max_time_fraction : float in [0, 1]
        A time mask is also at most this fraction of the ``T`` frames (Park et al.'s ``p``).
    """
    X = np.asarray(features)
    if X.ndim != 2 or 0 in X.shape or X.dtype.kind != "f":
        raise InputError(f"features must be a float array of shape (T, F) with T, F >= 1, "
                         f"got shape {X.shape} and dtype {X.dtype}")
    _check_rng(rng)
    T, F = X.shape
    freq_masks = check_scalar(freq_masks, "freq_masks", int, low=0)
    freq_width = check_scalar(freq_width, "freq_width", int, low=0, high=F,
                              note=f" (the features have F={F} bins)")
    time_masks = check_scalar(time_masks, "time_masks", int, low=0)
    time_width = check_scalar(time_width, "time_width", int, low=0)
    value = check_scalar(value, "value", float)
    max_time_fraction = check_scalar(max_time_fraction, "max_time_fraction", float, low=0.0, high=1.0)
    out = X.copy()
    for _ in range(freq_masks):
        f = int(rng.integers(0, freq_width + 1))
        f0 = int(rng.integers(0, F - f + 1))
        out[:, f0:f0 + f] = value
    widest = min(time_width, math.floor(max_time_fraction * T))
    for _ in range(time_masks):
        t = int(rng.integers(0, widest + 1))
        t0 = int(rng.integers(0, T - t + 1))
        out[t0:t0 + t, :] = value
    return out


@dataclass(frozen=True)
class SpecAugment:
    """SpecAugment settings (arguments of :func:`spec_augment`; masked values are 0).

    The defaults are Park et al.'s LD policy (two masks of each kind, ``T = 100`` frames,
    ``p = 0.2``) with ``F = 27`` of their 80 mel bins scaled to the 40 bins of
    ``rnnkit.audio.log_mel``: ``freq_width = 13``.
    """

    freq_masks: int = 2
    freq_width: int = 13
    time_masks: int = 2
    time_width: int = 100
    max_time_fraction: float = 0.2

    def __post_init__(self):
        for name in ("freq_masks", "freq_width", "time_masks", "time_width"):
            object.__setattr__(self, name, check_scalar(getattr(self, name), name, int, low=0))
        object.__setattr__(self, "max_time_fraction", check_scalar(
            self.max_time_fraction, "max_time_fraction", float, low=0.0, high=1.0))

    def apply(self, features, rng) -> np.ndarray:
        """:func:`spec_augment` of ``features (T, F)`` with these settings."""
        return spec_augment(features, rng, self.freq_masks, self.freq_width, self.time_masks,
                            self.time_width, 0.0, self.max_time_fraction)

    def to_dict(self) -> dict:
        """JSON-able fields: ``SpecAugment(**s.to_dict()) == s``."""
        return asdict(self)
