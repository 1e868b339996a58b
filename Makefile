# Strategy Execution Platform: the commands a user runs.
#   make up     install, start what is missing, Ray + Serve; the API on http://127.0.0.1:8000
#   make demo   submit the design document's example to it and print its lifecycle
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

.PHONY: install constraints up down demo check test test-rust test-python lint bench burst chaos backtest model devnet devnet-down devnet-rebuild clean

install: $(STAMP) devnet/node_modules/.package-lock.json

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip

# The editable install compiles rust/ in release mode (maturin) and installs every
# dependency at the version constraints.txt pins; it re-runs when the Rust sources, the
# project metadata or the pins change.
$(STAMP): $(VENV)/bin/python pyproject.toml constraints.txt $(RUST_SOURCES)
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[dev,bench,services]'
	touch $@

# Re-pin every installed version (after changing dependencies in pyproject.toml).
constraints:
	$(VENV)/bin/pip install -q -e '.[dev,bench,services]'
	{ echo "# Every dependency at the version the project is tested with: written by"; \
	  echo "# \`make constraints\`, read by \`make install\` (pip -c)."; \
	  $(VENV)/bin/pip freeze --exclude-editable; } > constraints.txt

devnet/node_modules/.package-lock.json: devnet/package.json devnet/package-lock.json
	npm ci --prefix devnet --no-audit --no-fund --loglevel=error

# On the devnet, unless the environment says otherwise (and for `make down`, which stops
# what they started): devnet/devnet.env's strategies,
# wallets and keys (anvil's public test accounts 1-3; never for a real chain). The keys only
# when no key of any kind is set, so that the devnet's never join a key of your own.
include devnet/devnet.env
up demo down: export SEP_STRATEGY_WALLETS ?= $(DEVNET_STRATEGY_WALLETS)
ifeq ($(SEP_SIGNING_KEY)$(SEP_SIGNING_KEYS)$(SEP_KEYSTORE_PATH)$(SEP_KEYSTORE_DIR),)
up demo down: export SEP_SIGNING_KEYS = $(DEVNET_SIGNING_KEYS)
endif

up: install
	$(VENV)/bin/sep up

demo: install
	$(PY) -m platform_core.demo

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

# Ruff; mypy (strict for platform_core/, actors/, serve_apps/: see pyproject.toml); stubtest,
# which proves platform_rust's stub matches the extension the stamp just built; clippy.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest platform_rust._platform_rust
	cd rust && cargo clippy --all-targets --quiet -- -D warnings

bench: install
	$(PY) -m benchmarks

# 500 small intents through the whole platform (its own devnet and ports), each followed to
# its verdict; prints the count per final status (SEP_BENCH_BURST_INTENTS, _IN_FLIGHT).
burst: install
	$(PY) -m benchmarks burst

# The long chaos run: a platform of its own (its own NATS, Redis, PostgreSQL, devnet, Ray),
# CHAOS_INTENTS intents while CHAOS_FAULTS faults of every kind land, then the history
# checker and the secret canaries; tables in .run/chaos/<run>/report.txt. Exit 1 on any
# violation. The bounded run of the same is part of `make test` (tests/chaos/).
CHAOS_INTENTS ?= 10000
CHAOS_FAULTS ?= 60
CHAOS_SEED ?= 1
chaos: install
	$(PY) -m platform_core.chaos --intents $(CHAOS_INTENTS) --faults $(CHAOS_FAULTS) --seed $(CHAOS_SEED)

# The backtest on real history, as a Ray job on the cluster `make up` runs (GRID=quick for a
# short one); the report lands in .run/backtest/<grid>/report.md.
GRID ?= full
backtest: install
	$(VENV)/bin/ray job submit --address http://127.0.0.1:$${SEP_RAY_DASHBOARD_PORT:-8265} -- \
		$(PY) -m ray_jobs.backtest --grid $(GRID) --out $(abspath .run/backtest)/$(GRID)

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
