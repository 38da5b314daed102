# Kasparro — run `make help` for the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two install levels: the runtime (demo, run, serve) and the dev extras on top (test, lint,
# bench: pytest, mypy, Playwright...). The dev stamp implies the runtime one; `make test`
# after `make demo` adds the dev extras.
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUNTIME_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	@touch $(RUNTIME_STAMP)

$(DEV_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $(RUNTIME_STAMP) $(DEV_STAMP)

install-runtime: $(RUNTIME_STAMP) ## Create .venv with Kasparro's runtime dependencies only

install: $(DEV_STAMP) ## Create .venv and install Kasparro with dev dependencies

demo: $(RUNTIME_STAMP) ## Offline demo: emulator + ETL of every source + API on :8000 (./kasparro-demo.db)
	$(BIN)/kasparro demo

run: $(RUNTIME_STAMP) ## ETL against the LIVE upstream APIs (needs internet) into ./kasparro.db
	$(BIN)/kasparro etl run

serve: $(RUNTIME_STAMP) ## Serve the API and the scheduler (kasparro up) on KASPARRO_DATABASE_URL
	$(BIN)/kasparro up

test: install ## Run the whole test suite (SQLite always; PostgreSQL when reachable)
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

lint: install ## ruff lint + format check, mypy, the stage order (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install ## Apply ruff formatting and autofixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install ## Full benchmark suite (writes bench/results/*.json)
	$(BIN)/python -m bench.run --full

bench-quick: install ## Quick benchmarks (under 2 minutes)
	$(BIN)/python -m bench.run --quick

clean: ## Remove the venv, caches and the demo database (never ./kasparro.db: live data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache kasparro-demo.db kasparro-demo.db-* kasparro-demo.env

.PHONY: help install install-runtime demo run serve test lint format bench bench-quick clean
