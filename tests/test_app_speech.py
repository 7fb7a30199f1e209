"""rnnkit speech: labels, features, a tiny end-to-end overfit, the command's files and errors."""

import json
import os
import re
import shutil

import numpy as np
import pytest
import soundfile

from rnnkit.data.speech_corpus import Utterance
from rnnkit.data.tts import SAMPLE_RATE
from rnnkit.speech import (
    BLANK, EnsembleRecognizer, Recognizer, SpeechConfig, characters, decode_labels, encode_text,
    featurize, load_recognizer, train_recognizer,
)

from helpers import run_cli

TINY = dict(hidden_size=24, num_layers=1, subsample=2, dropout=0.0, spec_augment=False,
            augment_copies=0, batch_size=4, lr=1e-2, epochs=150, patience=None, n_mels=20)


def _tone_word(text, rng):
    """Audio in which every character is a 60 ms tone of its own pitch, with 20 ms gaps:
    a stand-in for speech that a model can learn in seconds."""
    pieces = []
    for c in text:
        freq = 300 + 110 * (ord(c) % 27)
        t = np.arange(int(0.06 * SAMPLE_RATE)) / SAMPLE_RATE
        pieces += [0.5 * np.sin(2 * np.pi * freq * t), np.zeros(int(0.02 * SAMPLE_RATE))]
    audio = np.concatenate([np.zeros(800)] + pieces + [np.zeros(800)])
    return (audio + 0.01 * rng.standard_normal(audio.size)).astype(np.float32)


def _tone_set(texts, seed=0):
    rng = np.random.default_rng(seed)
    return [Utterance(_tone_word(t, rng), t, f"tone:{t}") for t in texts]


TEXTS = ["yes", "no", "go on", "stop"]


def test_labels_round_trip():
    ids = encode_text("Go  LEFT!")
    assert ids.dtype == np.int64 and ids.min() >= 1
    assert decode_labels(ids) == "go left"
    with pytest.raises(ValueError, match="no letters left"):
        encode_text("!!")


def test_features_shape_and_errors():
    audio = _tone_set(["yes"])[0].audio
    x = featurize(audio, n_mels=20)
    frames = 1 + int(np.ceil((audio.size - 200) / 80))             # 25 ms windows, 10 ms hop
    assert x.shape == (frames, 20) and x.dtype == np.float32
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-5)       # normalised per utterance
    with pytest.raises(ValueError, match="audio must be a 1-D signal of at least 25 ms"):
        featurize(np.zeros(10))


def test_features_treat_digital_silence_like_a_quiet_room():
    """Dither: zeros and a 16-bit-quiet room give the same silence features, not log(eps)."""
    from rnnkit.audio import log_mel

    speech = _tone_set(["yes"])[0].audio.astype(np.float64)
    room = 1 / 32768 * np.random.default_rng(5).standard_normal(2000)
    x_zeros = featurize(np.concatenate([np.zeros(2000), speech]), n_mels=20)
    x_room = featurize(np.concatenate([room, speech]), n_mels=20)
    silence = slice(2, 20)                                          # frames of the pause only
    assert np.abs(x_zeros[silence] - x_room[silence]).mean() < 0.15
    undithered = log_mel(np.concatenate([np.zeros(2000), speech]), SAMPLE_RATE, n_mels=20,
                         n_fft=256)
    assert undithered[silence].max() < -30                          # what dither replaces


def test_perturbed_copies_are_seeded_and_change_speed_ends_and_noise(monkeypatch):
    from rnnkit import speech
    from rnnkit.speech import PAD_S, SPEED, perturbed_copies

    tone = np.sin(np.arange(1600) * 0.3)                           # 0.2 s, silent ends of 0.1 s
    utterances = [Utterance(np.pad(tone * (i + 1) / 4, 800).astype(np.float32), t, t)
                  for i, t in enumerate(TEXTS)]
    copies = perturbed_copies(utterances, 2, seed=3)
    again = perturbed_copies(utterances, 2, seed=3)
    assert [c.text for c in copies] == TEXTS * 2
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(copies, again))
    assert all(c.audio.dtype == np.float32 and c.source.endswith("(perturbed)") for c in copies)
    assert len({c.audio.size for c in copies}) == len(copies)       # each drawn on its own

    monkeypatch.setattr(speech, "REVERB_P", 0.0)                    # now the ends can be seen
    monkeypatch.setattr(speech, "BAND_P", 0.0)                      # (filters ring a little)
    monkeypatch.setattr(speech, "SNR_DB", (200.0, 200.0))
    uneven = 0
    for c in perturbed_copies(utterances, 2, seed=3):
        loud = np.flatnonzero(np.abs(c.audio) > 1e-3)
        before, after = loud[0], c.audio.size - 1 - loud[-1]
        assert 1600 / SPEED[1] - 80 <= loud[-1] - loud[0] <= 1600 / SPEED[0] + 80
        assert max(before, after) <= PAD_S * SAMPLE_RATE + 80      # old pauses trimmed first
        uneven += abs(int(before) - int(after)) > 160               # each end drawn on its own
    assert uneven >= 4


def test_vtlp_factors_are_seeded_uniform_and_warp_the_features():
    from rnnkit.speech import VTLP, vtlp_factors

    factors = vtlp_factors(2000, seed=3)
    np.testing.assert_array_equal(factors, vtlp_factors(2000, seed=3))
    assert not np.array_equal(factors, vtlp_factors(2000, seed=4))
    assert VTLP[0] <= factors.min() and factors.max() <= VTLP[1]
    assert abs(factors.mean() - 1.0) < 0.005 and vtlp_factors(0, 3).shape == (0,)
    audio = _tone_set(["yes"])[0].audio
    plain = featurize(audio, n_mels=20)
    np.testing.assert_array_equal(featurize(audio, n_mels=20, vtlp=1.0), plain)
    warped = featurize(audio, n_mels=20, vtlp=1.1)
    assert warped.shape == plain.shape and np.abs(warped - plain).mean() > 0.05


def test_speech_normalization_leaves_a_padded_word_alone_and_old_checkpoints_keep_theirs(
        tmp_path, monkeypatch):
    from rnnkit.speech import check_config

    audio = _tone_set(["yes"])[0].audio
    padded = np.pad(audio, 2400)                                   # 0.3 s of silence each end
    for normalization, most in (("speech", 0.15), ("utterance", None)):
        a = featurize(audio, n_mels=20, normalization=normalization)
        b = featurize(padded, n_mels=20, normalization=normalization)[30:30 + len(a)]
        change = np.abs(a[2:-2] - b[2:-2]).max()
        assert change < most if most else change > 1.0
    assert SpeechConfig().normalization == "utterance"
    with pytest.raises(ValueError, match=r"normalization must be one of \('utterance', 'speech'\)"):
        check_config(SpeechConfig(normalization="global"))
    with pytest.raises(ValueError, match="normalization must be one of"):
        featurize(audio, normalization="global")
    config = SpeechConfig(**dict(TINY, epochs=1, normalization="utterance"))
    train_recognizer(_tone_set(TEXTS), [], config, tmp_path, progress=False)
    import rnnkit.training as training
    model, meta = training.load_model(tmp_path / "checkpoint.npz")
    assert load_recognizer(tmp_path / "checkpoint.npz").config.normalization == "utterance"
    for name in ("normalization", "festival_voices", "vtlp", "band_limit"):
        del meta["extra"]["settings"][name]                        # as saved before they existed
    monkeypatch.setattr(training, "load_model", lambda path: (model, meta))
    again = load_recognizer(tmp_path / "checkpoint.npz").config
    assert (again.normalization, again.vtlp, again.band_limit) == ("utterance", False, False)
    levers = SpeechConfig(**dict(TINY, epochs=1, augment_copies=1, normalization="speech",
                                 vtlp=True, band_limit=True))
    recognizer, _ = train_recognizer(_tone_set(TEXTS), [], levers, progress=False)
    assert recognizer.config.vtlp and len(recognizer.transcribe([audio])) == 1


def test_perturbed_copies_band_limit_a_share_from_their_own_generator(monkeypatch):
    from rnnkit import speech
    from rnnkit.speech import perturbed_copies

    rng = np.random.default_rng(0)
    utterances = [Utterance((0.1 * rng.standard_normal(4000)).astype(np.float32), t, t)
                  for t in TEXTS * 4]                               # white: every band full
    monkeypatch.setattr(speech, "SNR_DB", (200.0, 200.0))
    monkeypatch.setattr(speech, "REVERB_P", 0.0)
    monkeypatch.setattr(speech, "SPEED", (1.0, 1.0))                # keeps the band full

    def top_band_share(audio):                                      # power above 3.9 kHz
        power = np.abs(np.fft.rfft(audio.astype(np.float64))) ** 2
        return power[int(0.975 * power.size):].sum() / power.sum()

    plain = perturbed_copies(utterances, 1, seed=5)                 # off by default
    monkeypatch.setattr(speech, "BAND_P", 1.0)
    assert all(np.array_equal(a.audio, b.audio)
               for a, b in zip(plain, perturbed_copies(utterances, 1, seed=5)))
    limited = perturbed_copies(utterances, 1, seed=5, band_limits=True)
    assert all(a.audio.size == b.audio.size for a, b in zip(plain, limited))   # same draws
    assert all(top_band_share(a.audio) > 0.015 for a in plain)      # white: 2.5%
    assert all(top_band_share(b.audio) < 0.3 * top_band_share(a.audio)
               for a, b in zip(plain, limited))
    monkeypatch.setattr(speech, "BAND_P", 0.5)
    half = [top_band_share(c.audio) < 0.01
            for c in perturbed_copies(utterances * 8, 1, seed=5, band_limits=True)]
    assert 0.3 < np.mean(half) < 0.7


def test_tiny_end_to_end_overfit(tmp_path):
    """A few utterances, overfit, transcribed exactly — and the same after loading."""
    train = _tone_set(TEXTS)
    config = SpeechConfig(**TINY)
    recognizer, summary = train_recognizer(train, [], config, tmp_path, progress=False)
    assert recognizer.transcribe([u.audio for u in train]) == TEXTS
    assert recognizer.transcribe([u.audio for u in train], beam=4) == TEXTS
    assert recognizer.transcribe([u.audio for u in train], beam=4, lm="word") == TEXTS
    scores = recognizer.evaluate(train)
    assert scores["wer"] == 0.0 and scores["cer"] == 0.0 and scores["word_accuracy"] == 1.0
    again = load_recognizer(tmp_path / "checkpoint.npz")
    assert again.transcribe([u.audio for u in train]) == TEXTS
    for kind in ("char", "word"):
        assert (again.lms[kind].log_prob(encode_text("yes"))
                == recognizer.lms[kind].log_prob(encode_text("yes")))
    assert again.transcribe([u.audio for u in train], beam=4, lm="word") == TEXTS


def test_an_ensemble_of_overfit_models_transcribes_exactly(tmp_path):
    """Two seeds, each exact on its own; together (n-best rescoring) too, best path and
    beam, from objects and from checkpoints."""
    train = _tone_set(TEXTS)
    members = [train_recognizer(train, [], SpeechConfig(**dict(TINY, seed=seed)),
                                tmp_path / f"seed{seed}", progress=False)[0] for seed in (0, 1)]
    audios = [u.audio for u in train]
    assert all(m.transcribe(audios) == TEXTS for m in members)
    ensemble = EnsembleRecognizer(members)
    assert ensemble.transcribe(audios) == TEXTS
    assert ensemble.transcribe(audios, beam=4, lm="word") == TEXTS
    assert ensemble.evaluate(train, beam=4)["wer"] == 0.0
    loaded = load_recognizer([tmp_path / "seed0" / "checkpoint.npz",
                              tmp_path / "seed1" / "checkpoint.npz"])
    assert isinstance(loaded, EnsembleRecognizer) and len(loaded.members) == 2
    assert loaded.transcribe(audios, beam=4, lm="char") == TEXTS
    assert isinstance(load_recognizer([tmp_path / "seed0" / "checkpoint.npz"]), Recognizer)
    with pytest.raises(TypeError, match="at least two Recognizer"):
        EnsembleRecognizer(members[:1])
    with pytest.raises(ValueError, match="lm must be one of"):
        ensemble.transcribe(audios, beam=4, lm="words")


class _FixedFrames(Recognizer):
    """A recogniser whose acoustic model always says ``frames``."""

    def __init__(self, frames):
        super().__init__(None, SpeechConfig())
        self.frames = frames

    def frame_log_probs(self, audios, batch_size=32, names=None):
        return [self.frames for _ in audios]


def _frames(*columns):
    """(T, C) log probabilities: each column a dict {character or "-": probability},
    the rest spread evenly over the other labels."""
    C = len(characters()) + 1
    rows = []
    for column in columns:
        row = np.full(C, (1 - sum(column.values())) / (C - len(column)))
        for char, p in column.items():
            row[BLANK if char == "-" else encode_text(char)[0]] = p
        rows.append(row)
    return np.log(np.array(rows))


def test_an_ensemble_lets_a_sure_member_outvote_an_unsure_one():
    sure = _FixedFrames(_frames({"n": 0.9}, {"-": 0.9}, {"o": 0.9}))
    unsure = _FixedFrames(_frames({"g": 0.4, "n": 0.3}, {"-": 0.9}, {"o": 0.9}))
    audio = np.zeros(800, np.float32)
    assert sure.transcribe([audio]) == ["no"] and unsure.transcribe([audio]) == ["go"]
    # the unsure member's own best ("go") is a candidate, and loses on the mean likelihood
    assert EnsembleRecognizer([unsure, sure]).transcribe([audio]) == ["no"]
    assert EnsembleRecognizer([sure, unsure]).transcribe([audio], beam=3, lm_weight=0) == ["no"]


def test_evaluate_counts_errors():
    train = _tone_set(TEXTS)
    recognizer, _ = train_recognizer(train, [], SpeechConfig(**dict(TINY, epochs=1)),
                                     progress=False)
    scores = recognizer.evaluate(train)
    assert scores["n"] == 4 and 0 <= scores["cer"] and scores["wer"] > 0
    assert scores["word_accuracy"] == pytest.approx(1 - scores["wer"])


def _write_folder(folder, utterances, rate=16000, lines=None):
    folder.mkdir()
    rows = []
    for n, u in enumerate(utterances):
        from scipy.signal import resample_poly
        audio = resample_poly(u.audio, rate, SAMPLE_RATE)
        soundfile.write(folder / f"u{n}.wav", np.stack([audio, audio], 1), rate)   # stereo
        rows.append(f"u{n}.wav\t{u.text}")
    (folder / "transcripts.tsv").write_text("\n".join(lines or rows) + "\n", encoding="utf-8")


def test_cli_on_a_folder(tmp_path, capsys):
    utterances = _tone_set(TEXTS * 6)
    _write_folder(tmp_path / "data", utterances)
    options = ["--hidden-size", "24", "--num-layers", "1", "--dropout", "0", "--no-spec-augment",
               "--augment-copies", "0", "--batch-size", "8", "--epochs", "2", "--n-mels", "20",
               "--quiet"]
    out = tmp_path / "run"
    code, printed, _ = run_cli(["speech", "train", "--out", str(out), "--data",
                                str(tmp_path / "data"), *options], capsys)
    assert code == 0 and printed.startswith("trained 6 steps (2 epochs")
    assert (out / "checkpoint.npz").exists() and (out / "metrics.jsonl").exists()
    # train again into the same directory: refused, nothing changed
    before = (out / "checkpoint.npz").read_bytes()
    code, _, err = run_cli(["speech", "train", "--out", str(out), "--data",
                            str(tmp_path / "data")], capsys)
    assert code == 2 and "--resume" in err and len(err.strip().splitlines()) == 1
    assert (out / "checkpoint.npz").read_bytes() == before
    # resume for one more epoch
    code, printed, _ = run_cli(["speech", "train", "--out", str(out), "--resume", "--epochs", "3",
                                "--quiet"], capsys)
    assert code == 0 and printed.startswith("trained 9 steps (3 epochs")
    wavs = [str(tmp_path / "data" / "u0.wav"), str(tmp_path / "data" / "u1.wav")]
    code, printed, _ = run_cli(["speech", "transcribe", "--model", str(out), *wavs], capsys)
    assert code == 0 and [line.split("\t")[0] for line in printed.splitlines()] == wavs
    code, printed, _ = run_cli(["speech", "transcribe", "--model", str(out), "--beam", "4",
                                "--lm", "word", *wavs], capsys)
    assert code == 0 and [line.split("\t")[0] for line in printed.splitlines()] == wavs
    code, printed, _ = run_cli(["speech", "eval", "--model", str(out), "--data",
                                str(tmp_path / "data"), "--json"], capsys)
    scores = json.loads(printed)
    assert code == 0 and scores["n"] == len(utterances) and 0 <= scores["cer"]
    # --model twice: the two decode together; one model with itself says what it says alone
    code, alone, _ = run_cli(["speech", "transcribe", "--model", str(out), "--beam", "4", *wavs],
                             capsys)
    code, together, _ = run_cli(["speech", "transcribe", "--model", str(out), "--model", str(out),
                                 "--beam", "4", *wavs], capsys)
    assert code == 0 and together == alone
    code, printed, _ = run_cli(["speech", "eval", "--model", str(out), "--model", str(out),
                                "--json"], capsys)
    assert code == 0 and json.loads(printed)["n"] >= 1           # the model's own test split
    code, _, err = run_cli(["speech", "eval", "--model", str(out), "--model",
                            str(tmp_path / "nowhere")], capsys)
    assert code == 2 and "nowhere" in err and len(err.strip().splitlines()) == 1


def test_folder_split_follows_file_names_not_where_the_folder_is(tmp_path):
    import shutil as sh

    from rnnkit.apps.speech import load_splits

    _write_folder(tmp_path / "data", _tone_set(TEXTS * 6))
    sh.copytree(tmp_path / "data", tmp_path / "elsewhere" / "deeper")
    names = {place: {s: sorted(os.path.basename(u.source) for u in us)
                     for s, us in load_splits(data=str(tmp_path / place)).items()}
             for place in ("data", "elsewhere/deeper")}
    assert names["data"] == names["elsewhere/deeper"]
    assert names["data"]["val"] == ["u15.wav", "u17.wav"] and names["data"]["test"] == ["u16.wav"]


@pytest.mark.parametrize("make, expected", [
    (lambda d: None, "does not exist|not found|no such"),
    (lambda d: (d.mkdir(), (d / "transcripts.tsv").write_text("x.wav\tyes\n")), "x.wav"),
    (lambda d: (d.mkdir(), (d / "a.wav").write_text("not audio"),
                (d / "transcripts.tsv").write_text("a.wav\tyes\n")), "a.wav"),
    (lambda d: (d.mkdir(), (d / "transcripts.tsv").write_text("no tab here\n")), "line 1"),
])
def test_cli_bad_folders_one_line(tmp_path, capsys, make, expected):
    folder = tmp_path / "data"
    make(folder)
    code, _, err = run_cli(["speech", "train", "--out", str(tmp_path / "run"), "--data",
                            str(folder)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert re.search(expected, err, re.IGNORECASE)
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_cli_transcribe_bad_files(tmp_path, capsys):
    utterances = _tone_set(TEXTS)
    train_recognizer(utterances, [], SpeechConfig(**dict(TINY, epochs=1)), tmp_path / "run",
                     extra={"app": "speech", "source": {"data": "x"}}, progress=False)
    (tmp_path / "bad.wav").write_bytes(b"RIFF0000WAVEjunk")
    soundfile.write(tmp_path / "short.wav", np.zeros(50), SAMPLE_RATE)       # 6 ms
    for path in (tmp_path / "bad.wav", tmp_path / "none.wav", tmp_path / "short.wav"):
        code, _, err = run_cli(["speech", "transcribe", "--model", str(tmp_path / "run"),
                                str(path)], capsys)
        assert code == 2 and path.name in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["speech", "transcribe", "--model", str(tmp_path / "run"), "--beam",
                            "0", str(tmp_path / "bad.wav")], capsys)
    assert code == 2 and "--beam" in err
    code, _, err = run_cli(["speech", "transcribe", "--model", str(tmp_path / "run"), "--lm",
                            "words", str(tmp_path / "bad.wav")], capsys)
    assert code == 2 and "--lm" in err and len(err.strip().splitlines()) == 1


def test_a_language_model_the_checkpoint_lacks_is_named(tmp_path):
    utterances = _tone_set(TEXTS)
    recognizer, _ = train_recognizer(utterances, [], SpeechConfig(**dict(TINY, epochs=1,
                                                                         word_lm_order=0)),
                                     tmp_path, progress=False)
    assert set(recognizer.lms) == {"char"}
    audio = [utterances[0].audio]
    with pytest.raises(ValueError, match="no word language model"):
        recognizer.transcribe(audio, beam=4, lm="word")
    assert recognizer.transcribe(audio, beam=4, lm="word", lm_weight=0.0) == \
        recognizer.transcribe(audio, beam=4, lm_weight=0.0)
    # without a word model the default is the character model
    assert recognizer.transcribe(audio, beam=4) == recognizer.transcribe(audio, beam=4, lm="char")
    with pytest.raises(ValueError, match="lm must be one of"):
        recognizer.transcribe(audio, beam=4, lm="trigram")


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_espeak_words_overfit():
    """Real synthesised speech: a few espeak-ng words, overfit, transcribed exactly."""
    from rnnkit.data.tts import Voice, synthesize

    voice = Voice("espeak-ng", "en-us", 160, 50)
    train = [Utterance(synthesize(t, voice), t, "espeak") for t in TEXTS]
    # 64 units learnt "gon" for "go on" once BLAS ran on one thread (its rounding differs
    # from two threads'; rnnkit/kernels/_products.py); 96 learn every word under either.
    recognizer, _ = train_recognizer(train, [], SpeechConfig(**dict(TINY, epochs=400, hidden_size=96)),
                                     progress=False)
    assert recognizer.transcribe([u.audio for u in train]) == TEXTS
