"""`rnnkit translate` and rnnkit.translation: a tiny translator trained from a TSV, then
scored, used from the command line (arguments and stdin, beam search, an attention plot),
resumed, and refused bad input in one line."""

import io

import numpy as np
import pytest
from helpers import run_cli

from rnnkit.apps import translate
from rnnkit.translation import TranslateConfig, Translator, train_translator

WORDS = {"un": "one", "deux": "two", "trois": "three", "quatre": "four", "cinq": "five"}
TINY = ["--hidden-size", "16", "--embed-size", "8", "--batch-size", "16", "--quiet"]


def pairs(n=400, seed=0):
    """Sequences of 1-3 French number words -> their English words, in order."""
    rng = np.random.default_rng(seed)
    keys = list(WORDS)
    out = []
    for _ in range(n):
        words = [keys[i] for i in rng.integers(0, len(keys), size=rng.integers(1, 4))]
        out.append((" ".join(words), " ".join(WORDS[w] for w in words)))
    return out


@pytest.fixture(scope="module")
def translator():
    config = TranslateConfig(level="word", embed_size=8, hidden_size=16, batch_size=16,
                             epochs=25, patience=None, lr=1e-2, seed=0)
    model, summary = train_translator(pairs(), pairs(40, seed=1), config, progress=False)
    return model, summary


def test_a_small_translator_learns_word_for_word_translation(translator):
    model, summary = translator
    test = pairs(60, seed=2)
    scores = model.evaluate(test)
    assert scores["exact_match"] > 0.9 and scores["chrf"] > 90, scores     # BLEU-4: 0 on <4 words
    assert summary["best_val_loss"] < 0.2
    result = model.translate("trois un deux")[0]
    assert result.text == "three one two" and result.tokens == ("three", "one", "two")
    assert result.source_tokens == ("trois", "un", "deux")
    assert result.attention.shape == (4, 3)                    # three words and <eos>
    np.testing.assert_allclose(result.attention.sum(1), 1.0, rtol=1e-6)     # float32 rows
    assert result.attention[0].argmax() == 0 and result.attention[2].argmax() == 2


def test_beam_one_is_greedy_and_a_wider_beam_agrees_on_an_easy_task(translator):
    model, _ = translator
    texts = [source for source, _ in pairs(30, seed=3)]
    greedy = [t.text for t in model.translate(texts, beam=1)]
    beam = [t.text for t in model.translate(texts, beam=4)]
    assert greedy == [t.text for t in model.translate(texts, beam=1, batch_size=7)]
    assert sum(g == b for g, b in zip(greedy, beam)) >= 28


def test_unknown_words_and_empty_input(translator):
    model, _ = translator
    assert model.translate("zebra un")[0].source_tokens == ("<unk>", "un")
    with pytest.raises(TypeError, match="texts must be a str or a non-empty list of str"):
        model.translate([])


@pytest.fixture
def tsv(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"{s}\t{t}\n" for s, t in pairs(300)), encoding="utf-8")
    return path


def test_train_eval_translate_resume_on_the_command_line(tsv, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    argv = ["translate", "train", "--out", str(out), "--data", str(tsv), "--epochs", "2", *TINY]
    status, stdout, err = run_cli(argv, capsys)
    assert status == 0, err
    assert "trained" in stdout and "test: BLEU" in stdout and "exact match" in stdout
    assert translate.load(out).extra["settings"]["level"] == "word"        # a TSV: words
    status, stdout, _ = run_cli(["translate", "eval", "--model", str(out), "--json"], capsys)
    assert status == 0 and '"bleu"' in stdout and '"chrf"' in stdout
    plot = tmp_path / "attention.png"
    status, stdout, err = run_cli(["translate", "translate", "--model", str(out), "--beam", "3",
                                   "un deux", "cinq", "--plot-attention", str(plot)], capsys)
    assert status == 0 and len(stdout.splitlines()) == 2, err        # one line a text
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("deux\n\ntrois quatre\n"))
    status, stdout, _ = run_cli(["translate", "translate", "--model", str(out)], capsys)
    assert status == 0 and len(stdout.splitlines()) == 2
    status, _, err = run_cli(argv, capsys)
    assert status == 2 and "already holds a model (trained by `rnnkit translate`)" in err
    status, _, err = run_cli(["translate", "train", "--out", str(out), "--resume", "--epochs",
                              "3", "--quiet"], capsys)
    assert status == 0 and "resuming with epochs 2 -> 3" in err
    status, _, err = run_cli(["translate", "train", "--out", str(out), "--resume",
                              "--hidden-size", "32"], capsys)
    assert status == 2 and "cannot change --hidden-size 32 (the run used 16)" in err


@pytest.mark.parametrize("content, message", [
    ("un\tone\ndeux two\n", "line 2"),
    ("un\tone\t1\n", "line 1"),
    ("\tone\n", "line 1"),
])
def test_a_malformed_tsv_is_one_line_naming_the_line(tmp_path, capsys, content, message):
    path = tmp_path / "bad.tsv"
    path.write_text(content, encoding="utf-8")
    status, _, err = run_cli(["translate", "train", "--out", str(tmp_path / "m"), "--data",
                              str(path), *TINY], capsys)
    assert status == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "m" / "checkpoint.npz").exists()


def test_bad_arguments(tsv, tmp_path, capsys):
    cases = [
        (["translate", "train", "--out", str(tmp_path / "m"), "--dataset", "numbers", "--data",
          str(tsv)], "give --dataset or --data, not both"),
        (["translate", "train", "--out", str(tmp_path / "m"), "--data", str(tsv),
          "--hidden-size", "15"], "give an even --hidden-size"),
        (["translate", "translate", "--model", str(tmp_path / "none"), "x"], "no model at"),
        (["translate", "train", "--out", str(tmp_path / "m"), "--beam", "2"], "unrecognized"),
    ]
    for argv, message in cases:
        status, _, err = run_cli(argv, capsys)
        assert status == 2 and message in err and err.count("\n") == 1, (argv, err)


def test_the_default_data_is_numbers_in_words():
    train = translate.load_pairs(split="train")
    assert ("vingt et un", "twenty-one") in train or ("vingt et un", "twenty-one") in \
        translate.load_pairs(split="val") + translate.load_pairs(split="test")
    assert len(train) > 8000
    assert isinstance(Translator, type)


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path):
    import dataclasses

    config = TranslateConfig(level="word", embed_size=8, hidden_size=8, batch_size=32, epochs=2,
                             patience=None, schedule="cosine", warmup_steps=3, seed=0)
    data, val = pairs(96), pairs(16, seed=1)
    straight, _ = train_translator(data, val, config, tmp_path / "a", progress=False)
    train_translator(data, val, config, tmp_path / "b", progress=False)        # both lr paths
    first, _ = train_translator(data, val, dataclasses.replace(config, epochs=1),
                                tmp_path / "c", progress=False)
    vocabularies = (first.source_vocab, first.target_vocab)
    resumed, summary = train_translator(data, val, config, tmp_path / "c", progress=False,
                                        vocabularies=vocabularies, resume=True)
    assert summary["step"] == 2 * 3
    for name, value in straight.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[name], value, err_msg=name)


def test_bad_settings_are_refused_before_any_data_is_read():
    from rnnkit.translation import check_config

    with pytest.raises(ValueError, match=r"schedule must be one of \('constant', 'cosine'\)"):
        check_config(TranslateConfig(schedule="linear"))
    with pytest.raises(ValueError, match="level must be 'char' or 'word'"):
        check_config(TranslateConfig(level="bpe"))
