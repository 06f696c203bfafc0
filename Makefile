# Two commands for a fresh machine: `make demo` and `make test`. Each bootstraps .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: demo test lint typecheck imports pytest pg bench clean chromium campaign

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,spark,unlearn,ner]'
	@$(MAKE) --no-print-directory chromium
	touch $(STAMP)

# Debian's Chromium for the browser tests (tests/browser/): installed when missing and we are
# root, quietly (running apt-get update first only if the install needs it). Playwright never
# downloads a browser.
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ]; then \
	  echo "Installing Debian's chromium for the browser tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; \
	fi

demo: $(STAMP)
	rm -rf demo-workspace
	$(BIN)/consentgate demo --dir demo-workspace

test: lint typecheck imports pytest

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

# PostgreSQL: start the local cluster if it is down, then run the whole suite with the
# store tests parametrised over SQLite and PostgreSQL.
pg:
	@pg_isready -h 127.0.0.1 -p 5432 -q || (pg_ctlcluster --skip-systemctl-redirect 15 main start && sleep 2)
	@pg_isready -h 127.0.0.1 -p 5432

pytest: $(STAMP) pg chromium
	CONSENTGATE_TEST_DATABASE_URL=$(PG_URL) $(BIN)/pytest -q

# The reliability campaign's long run (docs/reliability.md): the hostile inputs, faults and
# tampering cases with CONSENTGATE_CAMPAIGN=long (many more generated inputs, kills and
# writers than the short run inside `make test`, and 4 and 8 writers for 60 s), on SQLite and
# PostgreSQL. Sizes: CONSENTGATE_CAMPAIGN_EXAMPLES (50 per property and database),
# CONSENTGATE_CAMPAIGN_KILLS (8 rounds per database), CONSENTGATE_CAMPAIGN_SECONDS (60).
CAMPAIGN_DIRS := $(wildcard tests/hostile tests/faults tests/tamper)
campaign: $(STAMP) pg
	CONSENTGATE_CAMPAIGN=long CONSENTGATE_TEST_DATABASE_URL=$(PG_URL) $(BIN)/pytest -q $(CAMPAIGN_DIRS)

bench: $(STAMP)
	$(BIN)/python bench/bench_ledger.py

clean:
	rm -rf $(VENV) demo-workspace .pytest_cache .mypy_cache .ruff_cache
