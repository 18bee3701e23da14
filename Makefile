# The two commands of the README. Each sets up its own virtual environment.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config.example.toml

.PHONY: run test lint typecheck unit clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,postgres]'
	touch $@

## run: start the daemon on the embedded default (state under ./var), seeded with sample feedback
run: $(VENV)/.installed
	$(BIN)/mailloop run --config $(CONFIG) --seed

## test: lint, type-check and run the whole test suite (installs Dovecot and PostgreSQL when root)
test: $(VENV)/.installed
	./scripts/install-system-deps dovecot postgres
	$(BIN)/ruff check mailloop tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: $(VENV)/.installed
	$(BIN)/ruff check mailloop tests bench

typecheck: $(VENV)/.installed
	$(BIN)/mypy

## unit: only the tests that need no server
unit: $(VENV)/.installed
	$(BIN)/pytest -q -m "not dovecot and not smtp and not postgres"

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
