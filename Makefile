# MigraDesk — `make run` starts everything, `make test` runs every test against real Kafka and a real store.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
TOOLS := .local/tools
UV := $(TOOLS)/bin/uv
PY := .venv/bin/python
PYTEST_ARGS ?=
export UV_PYTHON_DOWNLOADS := never

.PHONY: help bootstrap prepare run up test test-unit test-e2e lint typecheck schemas bench clean

help:
	@echo "make run        set up and start Kafka, the store, the three services and demo data"
	@echo "make test       run the whole test suite against a real Kafka broker and store"
	@echo "make test-unit  only the pure domain tests (no infrastructure)"
	@echo "make lint       ruff and mypy"
	@echo "make schemas    regenerate docs/contracts (JSON Schema, AsyncAPI)"
	@echo "make bench      benchmarks: ratios against baselines measured in the same run"
	@echo "make up         only Kafka and the store"
	@echo "make clean      remove the local environment, downloads, builds and data"

$(UV):
	@command -v python3 >/dev/null || { echo "python3 (3.11) is required"; exit 1; }
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

# The lock file pins every Python dependency; --frozen refuses to run if it is out of date.
.venv/.synced: $(UV) uv.lock pyproject.toml shared/pyproject.toml services/*/pyproject.toml
	$(UV) sync --frozen --all-groups --python python3.11
	@touch $@

bootstrap: .venv/.synced

prepare: bootstrap
	$(PY) -m infra.launcher prepare

run: prepare
	$(PY) -m infra.launcher run

up: prepare
	$(PY) -m infra.launcher up

test: prepare lint
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: bootstrap
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-e2e: prepare
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

lint: bootstrap
	.venv/bin/ruff check .
	.venv/bin/mypy shared services infra scripts bench

schemas: bootstrap
	$(PY) -m scripts.contract_docs

clean:
	rm -rf .venv .local

bench: prepare
	$(PY) -m bench.run
