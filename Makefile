# Quick start: `make run` (engine on embedded defaults) and `make test` (every test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DB := var/demo-directory.db

.PHONY: run call test lint unit bench setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(DEMO_DB): $(STAMP) config/demo-customers.csv
	mkdir -p var
	$(BIN)/ivr customers import config/demo-customers.csv --db $(DEMO_DB)

# The demo server and console call share a development-only webhook secret; set your own.
DEV_WEBHOOK_SECRET ?= dev-only-webhook-secret-change-me
HOST ?= 127.0.0.1
PORT ?= 8080

run: $(STAMP) $(DEMO_DB)
	IVR_WEBHOOK_SECRET=$${IVR_WEBHOOK_SECRET:-$(DEV_WEBHOOK_SECRET)} \
	  $(BIN)/python -m ivr.cli.serve --db $(DEMO_DB) --host $(HOST) --port $(PORT)

call: $(STAMP)
	IVR_WEBHOOK_SECRET=$${IVR_WEBHOOK_SECRET:-$(DEV_WEBHOOK_SECRET)} \
	  $(BIN)/ivr simulate --url http://$(HOST):$(PORT) --protocol json \
	  --ani +447700900123 --dnis +441134960000

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
