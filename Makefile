# Strategy Execution Platform: the commands a user runs.
#   make up     install, start what is missing, Ray + Serve; the API on http://127.0.0.1:8000
#   make test   install, then the whole suite (Rust and Python)

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(abspath $(VENV)/bin/python)
STAMP := $(VENV)/.installed
RUST_SOURCES := $(shell find rust/src -name '*.rs') rust/Cargo.toml $(wildcard rust/Cargo.lock)

export RAY_AUTH_MODE := disabled
export RAY_USAGE_STATS_ENABLED := 0
export PYO3_PYTHON := $(PY)

.PHONY: install up down check test test-rust test-python lint bench model devnet devnet-down devnet-rebuild clean

install: $(STAMP) devnet/node_modules/.package-lock.json

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip

# The editable install compiles rust/ in release mode (maturin) and installs every
# dependency; it re-runs when the Rust sources or the project metadata change.
$(STAMP): $(VENV)/bin/python pyproject.toml $(RUST_SOURCES)
	$(VENV)/bin/pip install -q -e '.[dev,bench,services]'
	touch $@

devnet/node_modules/.package-lock.json: devnet/package.json devnet/package-lock.json
	npm ci --prefix devnet --no-audit --no-fund --loglevel=error

up: install
	$(VENV)/bin/sep up

down:
	@if [ -x $(VENV)/bin/sep ]; then $(VENV)/bin/sep down; else echo "nothing to stop"; fi

check: install
	$(VENV)/bin/sep check

test: install lint test-rust test-python

test-rust:
	cd rust && cargo test --quiet

# pytest exits 5 when it collects nothing: that fails the target, as it should.
test-python:
	$(VENV)/bin/sep services up
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install
	$(PY) -m benchmarks

# Retrain the prioritiser from its seeded script and rewrite models/priority.onnx.
model: $(STAMP)
	$(PY) models/train_priority_model.py

# The local chain: anvil from devnet/state.json.gz on 127.0.0.1:8545, in the background.
devnet: install
	$(PY) devnet/run.py up

devnet-down:
	@if [ -x $(PY) ]; then $(PY) devnet/run.py down; else echo "nothing to stop"; fi

# Redeploy everything into a fresh anvil and rewrite devnet/state.json.gz + deployment.json.
devnet-rebuild: install
	$(PY) devnet/deploy.py

clean:
	rm -rf $(VENV) rust/target devnet/node_modules .run
