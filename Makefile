# Every target sets itself up: a fresh machine needs nothing but Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench system-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ukscp run $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	# No hard-coded credentials (Schedule 1): bandit's hard-coded password checks...
	$(BIN)/bandit -q -r src -t B105,B106,B107
	# ...and no secret of any kind anywhere in the repository (detect-secrets).
	BIN=$(BIN) ./scripts/check-secrets.sh

system-deps:
	./scripts/install-test-deps.sh

test: lint system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/footprint.py
