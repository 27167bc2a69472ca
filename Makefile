# Firebreak. `make up` runs everything on the embedded default; `make test` builds the environment and tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Node 22 and promptfoo for the regression gate (the machine's Node may be older; promptfoo needs >= 22.22).
PROMPTFOO_DIR := tools/promptfoo
PROMPTFOO := $(PROMPTFOO_DIR)/node_modules/.installed
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver

.PHONY: up test lint bench clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.runtime
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# From the committed lock file, at setup time only: nothing is downloaded when tests or incidents run.
# Optional dependencies (cloud SDKs, browsers, ML runtimes) are left out; libsql's Linux binding is pinned instead.
$(PROMPTFOO): $(PROMPTFOO_DIR)/package.json $(PROMPTFOO_DIR)/package-lock.json
	npm ci --prefix $(PROMPTFOO_DIR) --omit=optional --ignore-scripts --engine-strict=false --no-audit --no-fund \
		--loglevel=error
	touch $@

up: $(VENV)/.runtime $(PROMPTFOO)
	$(BIN)/firebreak up

test: $(VENV)/.dev $(PROMPTFOO) browser
	$(BIN)/ruff check .
	$(BIN)/pytest -q

# tests/test_ui.py drives Debian's Chromium headless through chromedriver. Install both when missing and we are
# root (as in CI); otherwise say that the browser test will be skipped.
browser:
	@if [ -x $(CHROMIUM) ] && [ -x $(CHROMEDRIVER) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium and chromium-driver for the browser test"; \
	  apt-get update -q -o DPkg::Lock::Timeout=300 && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
	    chromium chromium-driver; \
	else \
	  echo "note: $(CHROMIUM) or $(CHROMEDRIVER) is missing and only root can install them" \
	       "(apt-get install chromium chromium-driver); the browser test will be skipped" >&2; \
	fi

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/mypy .

# Intake vs raw Temporal calls on one embedded dev server, then 1,000 incidents waiting on their cadence timers
# against one worker process (memory and idle CPU); each prints ratios (not part of `make test`). Then how long the
# pending lists take with 2,000 open incidents (docs/operations.md). All always run; the target fails when one
# missed a target or failed.
bench: $(VENV)/.dev
	$(BIN)/python -m bench.intake --memory; intake=$$?; $(BIN)/python -m bench.fleet; fleet=$$?; \
	$(BIN)/python -m bench.history; history=$$?; \
	$(BIN)/python -m bench.pending && exit $$(( intake || fleet || history ))

clean:
	rm -rf $(VENV) .firebreak build *.egg-info $(PROMPTFOO_DIR)/node_modules
