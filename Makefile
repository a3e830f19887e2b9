# Quick start: `make run` (engine on embedded defaults) and `make test` (every test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DB := var/demo-directory.db

.PHONY: run test lint unit bench setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(DEMO_DB): $(STAMP) config/demo-customers.csv
	mkdir -p var
	$(BIN)/ivr customers import config/demo-customers.csv --db $(DEMO_DB)

run: $(STAMP) $(DEMO_DB)
	$(BIN)/ivr simulate flows/idv.yaml --db $(DEMO_DB) --ani +447700900123 --dnis +441134960000

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

test: lint unit

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
