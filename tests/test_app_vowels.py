"""`rnnkit vowels`: the .ts and long-CSV readers, JapaneseVowels, and a small training run."""

import numpy as np
import pytest

from rnnkit.apps import vowels
from rnnkit.classification import TrainConfig
from rnnkit.cli import main
from rnnkit.data.speech import load_japanese_vowels, parse_long_csv, parse_ts, read_sequence_file
from rnnkit.datasets import DatasetNotInstalled

TS = """# a comment
@problemName tiny
@timeStamps false
@univariate false
@classLabel true a b
@data
1,2,3:4,5,6:a
7,8:9,10:b
"""


def _vowels_installed():
    try:
        load_japanese_vowels("train")
    except DatasetNotInstalled:
        return False
    return True


needs_data = pytest.mark.skipif(not _vowels_installed(), reason="sktime wheel not fetched")


# -- readers -------------------------------------------------------------------------------

def test_parse_ts_gives_time_by_feature_arrays_and_labels():
    seqs, labels = parse_ts(TS)
    assert labels == ["a", "b"]
    np.testing.assert_array_equal(seqs[0], [[1, 4], [2, 5], [3, 6]])      # (T=3, D=2)
    np.testing.assert_array_equal(seqs[1], [[7, 9], [8, 10]])


@pytest.mark.parametrize("text, message", [
    ("", "no @data"),
    ("@classLabel true a\n@data\n", "holds no sequences"),
    ("@classLabel true a\n@data\n1,2:3:a\n", "different lengths"),
    ("@classLabel true a\n@data\n:a\n", "length 0"),
    ("@classLabel true a\n@data\n1,?,3:a\n", "not a number"),
    ("@classLabel true a\n@data\n1,2,3:\n", "no label"),
    ("@classLabel false\n@data\n1,2,3\n", "@classLabel must be true"),
    ("@classLabel true a\n@data\n1,2:a\n1,2:3,4:a\n", "different numbers of features"),
    ("1,2,3:a\n", "header line before @data"),
])
def test_parse_ts_refuses_malformed_files_naming_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        parse_ts(text, source="f.ts")


def test_long_csv_groups_consecutive_rows_into_sequences():
    text = "id,f1,label,f2\ns1,1,x,2\ns1,3,x,4\ns2,5,y,6\n"
    seqs, labels = parse_long_csv(text, "f.csv")
    assert labels == ["x", "y"]
    np.testing.assert_array_equal(seqs[0], [[1, 2], [3, 4]])
    np.testing.assert_array_equal(seqs[1], [[5, 6]])


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("id,label,f\n", "header but no rows"),
    ("seq,label,f\n1,a,0\n", "no column named 'id'"),
    ("id,label\n1,a\n", "no feature columns"),
    ("id,label,f\n1,,0.5\n", "label .* is missing"),
    ("id,label,f\n1,a,0\n2,a,0\n1,a,0\n", "not consecutive"),
    ("id,label,f\n1,a,0\n1,b,0\n", "changes label"),
    ("id,label,f\n1,a,zero\n", "not a number"),
    ("id,label,f\n1,a\n", "expected 3 columns"),
])
def test_long_csv_refuses_malformed_input(text, message):
    with pytest.raises(ValueError, match=message):
        parse_long_csv(text, "f.csv")


def test_read_sequence_file_dispatches_on_suffix(tmp_path):
    (tmp_path / "d.ts").write_text(TS)
    (tmp_path / "d.tsv").write_text("id\tlabel\tf\n1\ta\t0.5\n")
    (tmp_path / "d.json").write_text("{}")
    assert read_sequence_file(tmp_path / "d.ts")[1] == ["a", "b"]
    assert read_sequence_file(tmp_path / "d.tsv")[1] == ["a"]
    with pytest.raises(ValueError, match="expected a .ts, .csv or .tsv"):
        read_sequence_file(tmp_path / "d.json")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_sequence_file(tmp_path / "missing.ts")


@needs_data
def test_japanese_vowels_has_the_published_shape():
    train, train_labels = load_japanese_vowels("train")
    test, test_labels = load_japanese_vowels("test")
    assert (len(train), len(test)) == (270, 370)
    lengths = [s.shape[0] for s in train + test]
    assert (min(lengths), max(lengths)) == (7, 29)
    assert {s.shape[1] for s in train + test} == {12}
    assert sorted(set(train_labels)) == [str(k) for k in range(1, 10)]
    assert [train_labels.count(str(k)) for k in range(1, 10)] == [30] * 9
    # the UCI test set: 24 to 88 utterances per speaker
    assert [test_labels.count(str(k)) for k in range(1, 10)] == [31, 35, 88, 44, 29, 24, 40, 50, 29]
    np.testing.assert_allclose(train[0][0, :3], [1.860936, -0.207383, 0.261557])


# -- training, eval, predict ----------------------------------------------------------------

@needs_data
def test_small_training_run_learns_the_speakers_and_the_cli_reads_it(tmp_path, capsys):
    config = TrainConfig(cell="lstm", hidden_size=16, bidirectional=True, pooling="mean",
                         dropout=0.0, epochs=4, batch_size=16, lr=1e-2, patience=None,
                         val_fraction=0.1, seed=0)
    out = tmp_path / "run"
    classifier, summary = vowels.train(out_dir=out, config=config, progress=False)
    assert summary["step"] == 4 * 16 and summary["stop_reason"] == "max_epochs"
    assert summary["test"]["n"] == 370
    assert summary["test"]["accuracy"] > 0.8          # 9 classes: chance is 0.24 at best
    assert np.sum(summary["test"]["confusion"]) == 370
    assert classifier.classes == tuple(str(k) for k in range(1, 10))

    # eval rebuilds the same model from the checkpoint alone
    again = vowels.evaluate(out)
    assert again["accuracy"] == pytest.approx(summary["test"]["accuracy"])

    test, labels = load_japanese_vowels("test")
    rows = ["id,label," + ",".join(f"c{k}" for k in range(12))]
    for n in (0, 100):
        rows += [f"s{n},?," + ",".join(map(str, frame)) for frame in test[n]]
    csv_file = tmp_path / "two.csv"
    csv_file.write_text("\n".join(rows) + "\n")
    assert main(["vowels", "predict", str(csv_file), "--model", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    expected = classifier.predict([test[0], test[100]])
    assert [line.split("\t")[1] for line in lines] == [label for label, _ in expected]


def test_cli_reports_a_malformed_user_file_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.ts"
    bad.write_text("@classLabel true a\n@data\n1,2:3:a\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["vowels", "train", "--data", str(bad), "--quiet"])
    assert exit_info.value.code == 2
    assert "different lengths" in capsys.readouterr().err


def test_predict_names_each_sequence_by_its_csv_id_or_its_ts_index(tmp_path, capsys):
    rows = ["label,id,f1,f2"]
    for n, (name, label) in enumerate([("utt-b", "x"), ("utt-a", "y"), ("z9", "x"), ("7", "y")]):
        rows += [f"{label},{name},{n + t},{-t}" for t in range(3)]
    data = tmp_path / "four.csv"
    data.write_text("\n".join(rows) + "\n")
    config = TrainConfig(hidden_size=4, epochs=1, batch_size=4, patience=None, val_fraction=0.0)
    out = tmp_path / "run"
    vowels.train(data, out_dir=out, config=config, progress=False)

    assert main(["vowels", "predict", str(data), "--model", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["utt-b", "utt-a", "z9", "7"]
    predicted = vowels.predict(out, data)
    assert [line.split("\t")[1] for line in lines] == [label for label, _ in predicted]

    (tmp_path / "two.ts").write_text(TS.replace("a b", "x y").replace(":a", ":x").replace(":b", ":y"))
    assert main(["vowels", "predict", str(tmp_path / "two.ts"), "--model", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["0", "1"]              # a .ts has no ids


def test_read_sequence_file_gives_the_csv_ids_on_request(tmp_path):
    (tmp_path / "d.tsv").write_text("id\tlabel\tf\ns2\ta\t0.5\ns1\tb\t1\n")
    (tmp_path / "d.ts").write_text(TS)
    sequences, labels, ids = read_sequence_file(tmp_path / "d.tsv", with_ids=True)
    assert ids == ["s2", "s1"] and labels == ["a", "b"] and len(sequences) == 2
    assert read_sequence_file(tmp_path / "d.ts", with_ids=True)[2] is None
