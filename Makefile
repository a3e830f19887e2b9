# Quick start: `make run` (engine on embedded defaults) and `make test` (every test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DB := var/demo-directory.db

NODE_TOOLS := tests/adapters/node/node_modules/.package-lock.json
AXE := tests/web/node/node_modules/.package-lock.json
DEBIAN_PACKAGES := ffmpeg espeak-ng sox chromium chromium-driver prometheus e2fsprogs redis-server redis-sentinel

.PHONY: run call test lint unit lowest bench setup system-packages clean

setup: $(STAMP)

# Debian packages the audio and dashboard tests and tools need; installed when missing and run as root.
system-packages:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing$$missing"; export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "please install:$$missing (apt-get install$$missing)"; exit 1; fi; \
	fi

# jambonz's own verb validator (npm, pinned by package-lock.json) for the adapter tests
$(NODE_TOOLS): tests/adapters/node/package.json tests/adapters/node/package-lock.json
	cd tests/adapters/node && npm ci --no-audit --no-fund --loglevel=error

# axe-core (npm, pinned by package-lock.json): the dashboard's accessibility check
$(AXE): tests/web/node/package.json tests/web/node/package-lock.json
	cd tests/web/node && npm ci --no-audit --no-fund --loglevel=error

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
# Development-only key for the dashboard and reports (basic auth: any user, this as password).
DEV_REPORTS_KEY ?= dev-only-reports-key
DEV_AGENT_KEY ?= dev-only-agent-key
HOST ?= 127.0.0.1
PORT ?= 8080

run: $(STAMP) system-packages $(DEMO_DB)
	$(BIN)/ivr prompts build
	IVR_WEBHOOK_SECRET=$${IVR_WEBHOOK_SECRET:-$(DEV_WEBHOOK_SECRET)} \
	IVR_REPORTS_KEY=$${IVR_REPORTS_KEY:-$(DEV_REPORTS_KEY)} \
	IVR_AGENT_KEY=$${IVR_AGENT_KEY:-$(DEV_AGENT_KEY)} \
	  $(BIN)/ivr serve --db $(DEMO_DB) --host $(HOST) --port $(PORT)

# `make call ANI=+447700900456 DNIS=+441134960002`: another caller, another service line.
ANI ?= +447700900123
DNIS ?= +441134960000
call: $(STAMP)
	IVR_WEBHOOK_SECRET=$${IVR_WEBHOOK_SECRET:-$(DEV_WEBHOOK_SECRET)} \
	  $(BIN)/ivr simulate --url http://$(HOST):$(PORT) --protocol json \
	  --ani '$(ANI)' --dnis '$(DNIS)'

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

unit: $(STAMP) system-packages $(NODE_TOOLS) $(AXE)
	$(BIN)/pytest

test: lint unit

# The tests once more with every direct dependency at its lowest allowed version (pyproject's
# `>=` bounds, pinned by .ci/lowest_constraints.py) in a venv of its own: the bounds are true.
LOWEST := .venv-lowest
LOWEST_STAMP := $(LOWEST)/.installed-stamp

$(LOWEST_STAMP): $(STAMP) pyproject.toml .ci/lowest_constraints.py
	test -x $(LOWEST)/bin/python || $(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/pip install --quiet --upgrade pip
	$(BIN)/python .ci/lowest_constraints.py > $(LOWEST)/constraints.txt
	$(LOWEST)/bin/pip install --quiet -c $(LOWEST)/constraints.txt -e '.[dev]'
	touch $@

lowest: $(LOWEST_STAMP) system-packages $(NODE_TOOLS)
	$(LOWEST)/bin/pytest -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(LOWEST) var .pytest_cache .mypy_cache .ruff_cache
