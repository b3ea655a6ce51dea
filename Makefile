# carepulse: the few commands a newcomer needs.
#   make demo        set up, start the local stack, run a simulated station end to end
#   make test        set up, start the local stack, run lint, types and every test
#   make check       ruff (lint + format) and mypy --strict
#   make stack-up / stack-down / stack-status
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.8
CACHE := $(or $(CAREPULSE_CACHE_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/carepulse)
UV_HOME := $(CACHE)/tools/uv-$(UV_VERSION)
UV := $(UV_HOME)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help setup demo test unit check format stack-up stack-down stack-status compose-client

help:
	@sed -n '2,6s/^# \{0,1\}//p' Makefile

# uv itself is installed once, from PyPI, into the cache (outside the checkout).
$(UV):
	@command -v python3 >/dev/null || { echo "make: python3 (3.11 or newer) is needed" >&2; exit 1; }
	python3 -m venv "$(UV_HOME)"
	"$(UV_HOME)/bin/pip" install --quiet "uv==$(UV_VERSION)"

# The project's environment, exactly as locked in uv.lock.
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	"$(UV)" sync --frozen
	@touch $@

setup: $(VENV)/.synced

stack-up:
	scripts/stack up

stack-down:
	scripts/stack down

stack-status:
	scripts/stack status

# The main job: a simulated station (the default scenario, about 50 residents over
# several simulated days) through gateway, Kafka, worker, InfluxDB and the alert queue,
# compared with the scenario's ground truth. DEMO_ARGS="--serve" keeps the dashboard up.
DEMO_ARGS ?=
demo: setup stack-up
	$(BIN)/carepulse --log-level WARNING demo $(DEMO_ARGS)

check: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Unit tests only: no servers needed.
unit: setup
	$(BIN)/pytest -m "not (mosquitto or kafka or influxdb or compose)"

# The Docker Compose client (no engine) validates deploy/compose.yaml in the tests.
compose-client:
	@scripts/compose-client >/dev/null

test: setup check stack-up compose-client
	CAREPULSE_REQUIRE_STACK=1 CAREPULSE_COMPOSE="$$(scripts/compose-client)" $(BIN)/pytest
