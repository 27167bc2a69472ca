# Firebreak. `make up` runs everything on the embedded default; `make test` builds the environment and tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Node 22 and promptfoo for the regression gate (the machine's Node may be older; promptfoo needs >= 22.22).
PROMPTFOO_DIR := tools/promptfoo
PROMPTFOO := $(PROMPTFOO_DIR)/node_modules/.installed
# The real Unleash server for the feature-flag test (tests/servers/unleash.py), run on promptfoo's Node 22.
UNLEASH_DIR := tools/unleash
UNLEASH := $(UNLEASH_DIR)/node_modules/.installed
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver
REDIS_SERVER := /usr/bin/redis-server
POSTGRES_BIN := /usr/lib/postgresql/*/bin

.PHONY: up test lint bench clean browser postgresql redis unleash

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

test: $(VENV)/.dev $(PROMPTFOO) browser postgresql redis unleash
	$(BIN)/ruff check .
	$(BIN)/pytest -q -n 3 --dist loadfile

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

# From the committed lock file, at setup time only (about 200 MB); its install scripts are not needed.
$(UNLEASH): $(UNLEASH_DIR)/package.json $(UNLEASH_DIR)/package-lock.json
	npm ci --prefix $(UNLEASH_DIR) --omit=optional --ignore-scripts --engine-strict=false --no-audit --no-fund \
		--loglevel=error
	touch $@

unleash: $(UNLEASH) $(PROMPTFOO)

# tests/servers/redis.py starts Debian's redis-server for the cache purge tests. Install it when missing and we are
# root (as in CI); otherwise say that those tests will be skipped.
redis:
	@if [ -x $(REDIS_SERVER) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's redis-server for the cache purge tests"; \
	  apt-get update -q -o DPkg::Lock::Timeout=300 && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
	    redis-server; \
	else \
	  echo "note: $(REDIS_SERVER) is missing and only root can install it (apt-get install redis-server);" \
	       "the cache purge tests will be skipped" >&2; \
	fi

# The shared-store tests (tests/test_store.py, tests/test_stateless_workers.py) start a real PostgreSQL from
# Debian's `postgresql` (tests/servers/postgres.py runs initdb/pg_ctl as a non-root user). Install it when missing
# and we are root; otherwise say that those tests will be skipped.
postgresql:
	@if ls $(POSTGRES_BIN)/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's postgresql for the shared-store tests"; \
	  apt-get update -q -o DPkg::Lock::Timeout=300 && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
	    postgresql; \
	else \
	  echo "note: PostgreSQL's server binaries are missing and only root can install them" \
	       "(apt-get install postgresql); the shared-store tests will be skipped" >&2; \
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
	rm -rf $(VENV) .firebreak build *.egg-info $(PROMPTFOO_DIR)/node_modules $(UNLEASH_DIR)/node_modules
