# make demo: install into .venv, start the emulator, fetch tokens for config/demo.yaml.
# make test: install into .venv and run every check CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp

.PHONY: install demo test lint typecheck imports unit docs schema bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstalled whenever pyproject.toml changes; editable, so code edits need no reinstall.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The peers benchmarks/compare.py measures tokenrack against (Authlib, requests-auth, MSAL).
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

demo: install
	$(BIN)/python scripts/demo.py config/demo.yaml

lint: install
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks

typecheck: install
	$(BIN)/mypy --strict src

imports: install
	$(BIN)/lint-imports --no-cache

unit: install
	$(BIN)/pytest

docs: install
	$(BIN)/mkdocs build --strict --quiet --site-dir $(VENV)/site

test: lint typecheck imports unit docs

schema: install
	$(BIN)/tokenrack-schema > config/tokenrack.schema.json

# Needs Redis on 127.0.0.1:6379 (benchmarks/fleet.py starts it when it is down).
bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/core.py
	$(BIN)/python benchmarks/fleet.py
	$(BIN)/python benchmarks/compare.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
