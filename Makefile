# Two commands matter: `make run` (the demo on the embedded default) and `make test` (lint + all tests
# against a real Kafka broker). Both create the virtualenv and install the pinned set first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench soak chaos kafka-up kafka-down clean browser

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# `make run ACCOUNTS=2` demos two simulated VTEX accounts (`vtex-bridge dev --accounts 2`). ACCOUNTS and
# STORE are set on the make command line only (an environment variable of that name is ignored).
ACCOUNTS = 1
run: $(STAMP)
	$(BIN)/vtex-bridge dev --accounts $(ACCOUNTS)

test: $(STAMP) lint typecheck browser
	$(BIN)/pytest

# The console's browser test drives Debian's Chromium (Playwright never downloads a browser here).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium; }
	@/usr/bin/chromium --headless --no-sandbox --disable-gpu --dump-dom about:blank >/dev/null 2>&1 || \
		{ echo "make browser: /usr/bin/chromium does not start headless" >&2; exit 1; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -m 'not integration and not chaos'

bench: $(STAMP)
	$(BIN)/python -m bench.all

# Soak: every service its own process under steady load for SOAK_MINUTES (default 20), loopback only;
# the last line is JSON (RSS slopes, CPU-per-event drift, lag and feed backlog trends, accounting).
# STORE=memory soaks the in-memory store (its growth against the sizing rule) instead of RocksDB.
SOAK_MINUTES ?= 20
STORE = rocksdict://
soak: $(STAMP)
	env -u KAFKA_BOOTSTRAP_SERVERS SOAK_MINUTES=$(SOAK_MINUTES) $(BIN)/python -m bench.soak --store $(STORE)

chaos: $(STAMP)
	$(BIN)/pytest -m 'chaos' -o addopts='-ra --strict-markers' tests/chaos

kafka-up: $(STAMP)
	$(BIN)/vtex-bridge kafka up

kafka-down: $(STAMP)
	$(BIN)/vtex-bridge kafka down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
