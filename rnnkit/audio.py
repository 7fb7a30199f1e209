"""Speech audio in, acoustic features out: WAV reading, log-mel filterbanks and MFCCs.

``read_wav`` turns a WAV file of any common layout into one mono float32 signal at the
rate the features expect; ``log_mel`` and ``mfcc`` turn that signal into frame-major
features ``(frames, n_features)`` (one row per 10 ms hop); ``normalize`` removes the
per-utterance mean and variance of each coefficient, ``normalize_speech`` those of the
speech frames only, after flooring the log energies (silence-independent; see there).

Feature extraction, in the order the code computes it (signal ``x``, rate ``sr``)::

    y[n]    = x[n] - a x[n-1]                        pre-emphasis, y[0] = x[0]
    F       = 1 + ceil((N - W) / H)                  frames; the last one is zero-padded
    f_t[n]  = y[t H + n] w[n],      n < W            framing and window (Hamming or ones)
    P_t[k]  = |rfft(f_t, n_fft)[k]|^2 / n_fft        power spectrum, k <= n_fft / 2
    P_t     = vtlp_warp(P_t, a)                      log_mel with vtlp=a != 1 only
    M_t[j]  = sum_k B[j, k] P_t[k]                   triangular mel filterbank B
    L_t[j]  = log(max(M_t[j], eps))                  log_mel output
    c_t[i]  = sum_j D[i, j] L_t[j],  i < n_mfcc      orthonormal DCT-II
    c_t[i] *= 1 + (Q / 2) sin(pi i / Q)              sinusoidal lifter, Q = ceplifter
    c_t[0]  = log(max(sum_k P_t[k], eps))            frame energy replaces c_0
    d_t     = sum_{m=1}^{2} m (c_{t+m} - c_{t-m}) / (2 sum m^2)   deltas, edges repeated

with ``W = round(win_ms sr / 1000)``, ``H = round(hop_ms sr / 1000)`` (half up), and
``mel(f) = 2595 log10(1 + f / 700)``. The filterbank places ``n_mels + 2`` points evenly
on the mel scale between ``low_freq`` and ``high_freq`` and snaps them to FFT bins
``floor((n_fft + 1) f / sr)``. These are the definitions of ``python_speech_features``
(its ``logfbank`` / ``mfcc`` / ``delta``), against which the tests check this module.

Where the defaults differ from ``python_speech_features`` and why:

* ``window="hamming"`` (theirs: rectangular): a rectangular window leaks a tone's energy
  into every mel band; Hamming is what HTK and Kaldi use. Pass ``window="rectangular"``
  to reproduce theirs.
* ``n_mels=40`` (theirs: 26): 40 log-mel bands is the usual input of neural acoustic
  models. Pass ``n_mels=26`` for their MFCCs.
* ``mfcc`` appends deltas and delta-deltas (``deltas=True``): 13 -> 39 columns.

Dependencies: ``soundfile`` (bundles libsndfile) and ``scipy`` (``resample_poly``) are in
the ``apps`` extra and imported inside ``read_wav`` only; the features are plain NumPy.
"""

from __future__ import annotations

import math
import os
import struct
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from rnnkit._validation import check_scalar
from rnnkit.errors import InputError, InputTypeError, MissingFileError

__all__ = ["read_wav", "log_mel", "mfcc", "normalize", "normalize_speech", "mel_filterbank",
           "delta"]

_EPS = np.finfo(np.float64).eps   # floor before log: silence gives log(eps), not -inf
VTLP_HIGH = 0.85                  # log_mel's VTLP scales frequencies up to this share of
                                  # Nyquist (3,400 Hz at 8 kHz: the telephone band's top)
_WAV_FORMATS = ("WAV", "WAVEX", "RF64", "W64")


# --------------------------------------------------------------------------- reading

def read_wav(path, sample_rate: int = 16000) -> np.ndarray:
    """Read a WAV file as one mono float32 signal at ``sample_rate``.

    Any sample rate, channel count and sample format libsndfile reads from WAV (8/16/24/32-bit
    integer, 32/64-bit float) is accepted. Channels are averaged to mono, then the signal is
    resampled by the rational ratio ``up / down = sample_rate / file_rate`` (both divided by
    their gcd) with ``scipy.signal.resample_poly`` (polyphase FIR, Kaiser window), and
    clipped to ``[-1, 1]`` (resampling can overshoot full-scale by a little).

    Parameters
    ----------
    path : str or os.PathLike
        The WAV file.
    sample_rate : int
        Rate of the returned signal in Hz.

    Returns
    -------
    signal : ndarray of float32, shape (N,)
        ``N = ceil(frames * up / down)``, values in ``[-1, 1]``.

    Raises
    ------
    MissingFileError
        ``path`` does not exist.
    InputError
        The file is not a WAV file, or is truncated (shorter than its header says).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputTypeError(f"path must be a str or os.PathLike naming a WAV file, "
                             f"got {type(path).__name__}")
    sample_rate = check_scalar(sample_rate, "sample_rate", int, low=1)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MissingFileError(f"WAV file {path!r} does not exist")

    import soundfile                      # apps extra; kept out of `import rnnkit`
    from scipy.signal import resample_poly

    try:
        info = soundfile.info(path)
    except (soundfile.SoundFileError, RuntimeError) as err:
        raise InputError(f"{path!r} is not a readable WAV file ({_one_line(err)})") from None
    if info.format not in _WAV_FORMATS:
        raise InputError(f"{path!r} is a {info.format} file, expected WAV")
    _check_not_truncated(path)
    try:
        data, file_rate = soundfile.read(path, dtype="float64", always_2d=True)  # (N, C)
    except (soundfile.SoundFileError, RuntimeError) as err:
        raise InputError(f"{path!r} could not be read as WAV ({_one_line(err)})") from None
    if data.shape[0] == 0:
        raise InputError(f"{path!r} holds no audio samples")

    signal = data.mean(axis=1)                                                 # (N,)
    if file_rate != sample_rate:
        g = math.gcd(file_rate, sample_rate)
        signal = resample_poly(signal, sample_rate // g, file_rate // g)      # (N*up/down,)
    return np.clip(signal, -1.0, 1.0).astype(np.float32)


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())


def _check_not_truncated(path: str) -> None:
    """Refuse a RIFF/WAVE file whose ``data`` chunk claims more bytes than the file has.

    libsndfile reads such a file silently, returning only the samples present, so a copy
    cut short would otherwise pass as a shorter recording.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        riff = f.read(12)
        if len(riff) < 12 or riff[:4] not in (b"RIFF", b"RIFX") or riff[8:12] != b"WAVE":
            return                            # RF64 / W64: sizes live elsewhere; trust libsndfile
        endian = "<" if riff[:4] == b"RIFF" else ">"
        offset = 12
        while offset + 8 <= size:
            f.seek(offset)
            chunk_id, chunk_size = struct.unpack(endian + "4sI", f.read(8))
            if chunk_id == b"data":
                available = size - offset - 8
                if chunk_size > available and chunk_size != 0xFFFFFFFF:
                    raise InputError(
                        f"{path!r} is truncated: its data chunk declares {chunk_size} bytes "
                        f"but only {available} are present")
                return
            offset += 8 + chunk_size + (chunk_size & 1)   # chunks are padded to even size


# --------------------------------------------------------------------------- features

def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, low_freq: float = 0.0,
                   high_freq: float | None = None) -> np.ndarray:
    """Triangular filters ``B`` of shape ``(n_mels, n_fft // 2 + 1)``, peak 1, on FFT bins.

    Filter ``j`` rises linearly from bin ``b[j]`` to 1 at ``b[j+1]`` and falls back to 0 at
    ``b[j+2]``, where ``b = floor((n_fft + 1) mel^-1(m) / sample_rate)`` for ``n_mels + 2``
    mel points ``m`` evenly spaced from ``mel(low_freq)`` to ``mel(high_freq)``.
    """
    high_freq = sample_rate / 2 if high_freq is None else high_freq
    mels = np.linspace(_hz_to_mel(low_freq), _hz_to_mel(high_freq), n_mels + 2)
    bins = np.floor((n_fft + 1) * _mel_to_hz(mels) / sample_rate).astype(int)   # (n_mels+2,)
    k = np.arange(n_fft // 2 + 1)[None, :]                                      # (1, K)
    left, centre, right = bins[:-2, None], bins[1:-1, None], bins[2:, None]     # (n_mels, 1)
    with np.errstate(divide="ignore", invalid="ignore"):    # empty slopes when bins coincide
        rise = np.where((k >= left) & (k < centre), (k - left) / (centre - left), 0.0)
        fall = np.where((k >= centre) & (k < right), (right - k) / (right - centre), 0.0)
    return rise + fall                                                          # (n_mels, K)


def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def _round_half_up(x: float) -> int:
    return int(Decimal(x).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _power_frames(signal, sample_rate, win_ms, hop_ms, n_fft, preemphasis, window):
    """Validate the shared arguments; return the power spectra ``P`` of shape (F, K)."""
    if not isinstance(signal, np.ndarray):
        raise InputTypeError(f"signal must be a numpy.ndarray of shape (N,), "
                             f"got {type(signal).__name__}")
    if signal.ndim != 1 or signal.size == 0 or signal.dtype.kind not in "fiu":
        raise InputError(f"signal must be a non-empty real array of shape (N,), "
                         f"got shape {signal.shape} and dtype {signal.dtype}")
    if not np.isfinite(signal).all():
        raise InputError("signal contains NaN or inf values")
    sample_rate = check_scalar(sample_rate, "sample_rate", int, low=1)
    win_ms = check_scalar(win_ms, "win_ms", float, low=0.0, include_low=False)
    hop_ms = check_scalar(hop_ms, "hop_ms", float, low=0.0, include_low=False)
    n_fft = check_scalar(n_fft, "n_fft", int, low=1)
    preemphasis = check_scalar(preemphasis, "preemphasis", float, low=0.0, high=1.0)
    if window not in ("hamming", "rectangular"):
        raise InputError(f"window must be 'hamming' or 'rectangular', got {window!r}")
    win = _round_half_up(win_ms * sample_rate / 1000)
    hop = _round_half_up(hop_ms * sample_rate / 1000)
    if win < 1 or hop < 1:
        raise InputError(f"win_ms={win_ms} and hop_ms={hop_ms} must each span at least one "
                         f"sample at sample_rate={sample_rate}")
    if n_fft < win:
        raise InputError(f"n_fft must be >= the window length in samples "
                         f"(win_ms={win_ms} at {sample_rate} Hz = {win}), got {n_fft}")

    x = signal.astype(np.float64)
    y = np.concatenate([x[:1], x[1:] - preemphasis * x[:-1]])                  # (N,)
    n_frames = 1 if len(y) <= win else 1 + math.ceil((len(y) - win) / hop)
    y = np.concatenate([y, np.zeros((n_frames - 1) * hop + win - len(y))])      # zero-pad the end
    starts = hop * np.arange(n_frames)[:, None]                                 # (F, 1)
    frames = y[starts + np.arange(win)[None, :]]                                # (F, W)
    if window == "hamming":
        frames = frames * np.hamming(win)[None, :]
    return np.abs(np.fft.rfft(frames, n_fft, axis=1)) ** 2 / n_fft              # (F, K)


def log_mel(signal: np.ndarray, sample_rate: int = 16000, n_mels: int = 40,
            win_ms: float = 25, hop_ms: float = 10, n_fft: int = 512,
            preemphasis: float = 0.97, low_freq: float = 0.0,
            high_freq: float | None = None, window: str = "hamming",
            vtlp: float = 1.0) -> np.ndarray:
    """Log mel filterbank energies ``L`` of shape ``(frames, n_mels)``, float32.

    ``signal`` is a real array of shape ``(N,)`` sampled at ``sample_rate``; ``frames =
    1 + ceil((N - W) / H)``. ``high_freq=None`` means ``sample_rate / 2``. See the module
    docstring for the equations and for how the defaults differ from
    ``python_speech_features.logfbank``. ``vtlp`` != 1 warps the power spectra's frequency
    axis first (vocal-tract-length perturbation, :func:`rnnkit.augment.vtlp_warp`, scaling
    up to ``VTLP_HIGH`` of the Nyquist frequency), for training copies.
    """
    power = _power_frames(signal, sample_rate, win_ms, hop_ms, n_fft, preemphasis, window)
    vtlp = check_scalar(vtlp, "vtlp", float, low=0.5, high=2.0)
    if vtlp != 1.0:
        from rnnkit.augment import vtlp_warp

        power = vtlp_warp(power, vtlp, sample_rate, VTLP_HIGH * sample_rate / 2)  # (F, K)
    bank = _checked_filterbank(n_mels, n_fft, sample_rate, low_freq, high_freq)
    return np.log(np.maximum(power @ bank.T, _EPS)).astype(np.float32)           # (F, n_mels)


def _checked_filterbank(n_mels, n_fft, sample_rate, low_freq, high_freq):
    n_mels = check_scalar(n_mels, "n_mels", int, low=1)
    nyquist = sample_rate / 2
    low_freq = check_scalar(low_freq, "low_freq", float, low=0.0, high=nyquist)
    high_freq = check_scalar(high_freq, "high_freq", float, low=low_freq, high=nyquist,
                             include_low=False, none_ok=True)
    return mel_filterbank(n_mels, n_fft, sample_rate, low_freq, high_freq)


def mfcc(signal: np.ndarray, sample_rate: int = 16000, n_mfcc: int = 13,
         deltas: bool = True, n_mels: int = 40, win_ms: float = 25, hop_ms: float = 10,
         n_fft: int = 512, preemphasis: float = 0.97, low_freq: float = 0.0,
         high_freq: float | None = None, window: str = "hamming", ceplifter: int = 22,
         append_energy: bool = True) -> np.ndarray:
    """Mel-frequency cepstral coefficients, float32.

    Returns shape ``(frames, 3 * n_mfcc)`` — cepstra, deltas, delta-deltas — when
    ``deltas`` is True, else ``(frames, n_mfcc)``. ``ceplifter=0`` turns the lifter off;
    ``append_energy`` replaces ``c_0`` by the log frame energy. The other arguments are
    those of :func:`log_mel`.
    """
    n_mfcc = check_scalar(n_mfcc, "n_mfcc", int, low=1)
    ceplifter = check_scalar(ceplifter, "ceplifter", int, low=0)
    power = _power_frames(signal, sample_rate, win_ms, hop_ms, n_fft, preemphasis, window)
    bank = _checked_filterbank(n_mels, n_fft, sample_rate, low_freq, high_freq)
    if n_mfcc > n_mels:
        raise InputError(f"n_mfcc must be <= n_mels={n_mels}, got {n_mfcc}")

    log_bands = np.log(np.maximum(power @ bank.T, _EPS))                        # (F, n_mels)
    ceps = log_bands @ _dct_matrix(n_mels)[:n_mfcc].T                           # (F, n_mfcc)
    if ceplifter > 0:
        i = np.arange(n_mfcc)
        ceps = ceps * (1 + ceplifter / 2 * np.sin(np.pi * i / ceplifter))[None, :]
    if append_energy:
        ceps[:, 0] = np.log(np.maximum(power.sum(axis=1), _EPS))
    if deltas:
        d1 = delta(ceps)
        ceps = np.concatenate([ceps, d1, delta(d1)], axis=1)                    # (F, 3 n_mfcc)
    return ceps.astype(np.float32)


def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II: ``D[i, j] = s_i cos(pi i (2 j + 1) / (2 n))``, ``s_0 = sqrt(1/n)``,
    ``s_i = sqrt(2/n)`` otherwise (scipy's ``dct(type=2, norm='ortho')``)."""
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    scale = np.where(i == 0, np.sqrt(1.0 / n), np.sqrt(2.0 / n))
    return scale * np.cos(np.pi * i * (2 * j + 1) / (2 * n))                   # (n, n)


def delta(features: np.ndarray, width: int = 2) -> np.ndarray:
    """Regression deltas over time of ``features`` ``(frames, D)``, edges repeated.

    ``d_t = sum_{m=1}^{width} m (x_{t+m} - x_{t-m}) / (2 sum_{m=1}^{width} m^2)``.
    """
    width = check_scalar(width, "width", int, low=1)
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise InputError(f"features must have shape (frames, D), got {x.shape}")
    padded = np.pad(x, ((width, width), (0, 0)), mode="edge")                  # (F+2w, D)
    n = len(x)
    out = sum(m * (padded[width + m:width + m + n] - padded[width - m:width - m + n])
              for m in range(1, width + 1))
    return out / (2 * sum(m * m for m in range(1, width + 1)))                  # (F, D)


def normalize(features: np.ndarray, eps: float = 1e-10) -> np.ndarray:
    """Per-utterance mean and variance normalisation of ``features`` ``(frames, D)``.

    ``(x - mean_t x) / max(std_t x, eps)`` per column, so each coefficient has mean 0 and
    standard deviation 1 over the utterance (a constant column becomes 0). Keeps the dtype
    of a float input.
    """
    if not isinstance(features, np.ndarray):
        raise InputTypeError(f"features must be a numpy.ndarray of shape (frames, D), "
                             f"got {type(features).__name__}")
    if features.ndim != 2 or features.shape[0] == 0 or features.dtype.kind not in "fiu":
        raise InputError(f"features must be a non-empty real array of shape (frames, D), "
                         f"got shape {features.shape} and dtype {features.dtype}")
    if not np.isfinite(features).all():
        raise InputError("features contains NaN or inf values")
    eps = check_scalar(eps, "eps", float, low=0.0, include_low=False)
    x = features.astype(np.float64)
    out = (x - x.mean(axis=0)) / np.maximum(x.std(axis=0), eps)                 # (F, D)
    return out.astype(features.dtype if features.dtype.kind == "f" else np.float64)


def normalize_speech(log_features: np.ndarray, floor_db: float = 50.0, active_db: float = 30.0,
                     eps: float = 1e-10) -> np.ndarray:
    """Mean and variance normalisation of log energies ``L (frames, D)`` that does not depend
    on how much silence surrounds the speech, nor on how quiet that silence is.

    ``L`` holds natural logs of power (``log_mel``'s output); ``c = ln(10) / 10`` turns dB
    into its units::

        m      = max_{t,j} L[t, j]                     # the utterance's loudest band-frame
        L'     = max(L, m - c floor_db)                # a noise floor below floor_db looks alike
        e_t    = log sum_j exp(L'[t, j])               # frame energy
        S      = {t : e_t >= max_t e_t - c active_db}  # the speech frames
        X      = (L' - mean_{t in S} L') / max(std_{t in S} L', eps)   per column

    :func:`normalize` averages over every frame instead, so padding a word with silence
    shifts and scales every one of its frames; here the speech frames stay as they were.
    Returns float32 ``(frames, D)``.
    """
    if not isinstance(log_features, np.ndarray):
        raise InputTypeError(f"log_features must be a numpy.ndarray of shape (frames, D), "
                             f"got {type(log_features).__name__}")
    if log_features.ndim != 2 or 0 in log_features.shape or log_features.dtype.kind != "f":
        raise InputError(f"log_features must be a non-empty float array of shape (frames, D), "
                         f"got shape {log_features.shape} and dtype {log_features.dtype}")
    if not np.isfinite(log_features).all():
        raise InputError("log_features contains NaN or inf values")
    floor_db = check_scalar(floor_db, "floor_db", float, low=0.0, include_low=False)
    active_db = check_scalar(active_db, "active_db", float, low=0.0)
    eps = check_scalar(eps, "eps", float, low=0.0, include_low=False)
    c = math.log(10) / 10
    L = log_features.astype(np.float64)
    L = np.maximum(L, L.max() - c * floor_db)                                   # (F, D)
    top = L.max(axis=1, keepdims=True)
    energy = top[:, 0] + np.log(np.exp(L - top).sum(axis=1))                    # (F,)
    speech = L[energy >= energy.max() - c * active_db]                          # (|S|, D)
    return ((L - speech.mean(axis=0)) / np.maximum(speech.std(axis=0), eps)).astype(np.float32)
