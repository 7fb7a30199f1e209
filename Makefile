# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs rnnkit, runs the main job
#   make test   installs the dev extras, runs the whole suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test install dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.core

install: $(VENV)/.core
dev: $(VENV)/.dev

demo: $(VENV)/.core
	$(BIN)/python -m rnnkit.demo

test: $(VENV)/.dev
	$(BIN)/python -m pytest -n 2

clean:
	rm -rf $(VENV) build *.egg-info
