# Kasparro — run `make help` for the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install Kasparro with dev dependencies

demo: install ## Offline demo: emulator + migrate + ETL of every source + API on :8000
	$(BIN)/kasparro demo

run: install ## ETL against the LIVE upstream APIs (needs internet), then print a summary
	$(BIN)/kasparro etl run

serve: install ## Serve the API and the scheduler (kasparro up) on KASPARRO_DATABASE_URL
	$(BIN)/kasparro up

test: install ## Run the whole test suite (SQLite always; PostgreSQL when reachable)
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

lint: install ## ruff lint + format check, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## Apply ruff formatting and autofixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install ## Full benchmark suite (writes bench/results/*.json)
	$(BIN)/python -m bench.run --full

bench-quick: install ## Quick benchmarks (under 2 minutes)
	$(BIN)/python -m bench.run --quick

clean: ## Remove the venv, caches and the demo database
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache kasparro.db kasparro.db-*

.PHONY: help install demo run serve test lint format bench bench-quick clean
