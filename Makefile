# Firebreak. `make up` runs everything on the embedded default; `make test` builds the environment and tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: up test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.runtime
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

up: $(VENV)/.runtime
	$(BIN)/firebreak up

test: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/mypy .

# Intake vs raw Temporal calls on one embedded dev server, then 1,000 incidents waiting on their cadence timers
# against one worker process (memory and idle CPU); each prints ratios (not part of `make test`). Both always run;
# the target fails when either missed a target.
bench: $(VENV)/.runtime
	$(BIN)/python -m bench.intake; intake=$$?; $(BIN)/python -m bench.fleet && exit $$intake

clean:
	rm -rf $(VENV) .firebreak build *.egg-info
