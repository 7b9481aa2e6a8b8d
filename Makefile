# make demo: install into .venv, start the emulator, fetch tokens for config/demo.yaml.
# make test: install into .venv and run every check CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LINTED := src providers/src tests scripts benchmarks docs/examples docs/_hooks
BENCH_STAMP := $(VENV)/.bench-stamp
# node oidc-provider for tests/interop: installed when node and npm are on this machine.
NODE_PROJECT := tests/interop/node
NODE_STAMP := $(NODE_PROJECT)/node_modules/.installed-stamp
HAVE_NODE := $(shell command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && echo yes)

.PHONY: install demo test test-fast lint typecheck imports unit unit-fast docs docs-serve docs-check schema bench charts clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstalled whenever pyproject.toml changes; editable, so code edits need no reinstall.
# The vendor pack (providers/) is a distribution of its own, installed editable beside the core
# (not through the `vendors` extra, which would look for it on an index).
$(STAMP): $(BIN)/python pyproject.toml providers/pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e ./providers
	touch $(STAMP)

# npm ci installs exactly package-lock.json; again only when the lock file changes.
$(NODE_STAMP): $(NODE_PROJECT)/package.json $(NODE_PROJECT)/package-lock.json
	npm ci --prefix $(NODE_PROJECT) --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

install: $(STAMP) $(if $(HAVE_NODE),$(NODE_STAMP))

# The peers benchmarks/compare.py measures tokenrack against (Authlib, requests-auth, MSAL).
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

demo: install
	$(BIN)/python scripts/demo.py config/demo.yaml

lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: install
	$(BIN)/mypy --strict src providers/src

imports: install
	$(BIN)/lint-imports --no-cache

# Branch coverage of the core and of the vendor pack, reported (not gated) on every run.
# `coverage run` starts before pytest loads its plugins, tokenrack's pytest11 plugin among
# them, so modules imported that early are measured too. The CLI tests run the console
# script in subprocesses; [tool.coverage.run] patch = ["subprocess"] measures those, and
# `coverage combine` adds them up.
unit: install
	rm -f .coverage .coverage.*
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report

# The suite without the tests marked slow (real fleets of processes, wheel builds, long
# property runs): for the edit-test loop. CI runs `make test`, which runs everything.
unit-fast: install
	$(BIN)/pytest -q -m "not slow" -p no:cacheprovider

test-fast: lint typecheck imports unit-fast

# The site (mkdocs-material): the API and CLI references are generated at build time
# (mkdocstrings, docs/_hooks/reference.py). NO_MKDOCS_2_WARNING silences material's banner.
# Mermaid for the diagrams, served with the site so they draw without the internet
# (material would otherwise load it from unpkg.com in the reader's browser). Fetched with
# npm, which checks the registry's integrity hash; without npm the site still builds and
# the diagrams fall back to the CDN (docs/_hooks/mermaid.py).
MERMAID_VERSION := 11.12.0
MERMAID := $(VENV)/share/mermaid/$(MERMAID_VERSION)/mermaid.min.js

$(MERMAID): $(STAMP)
	@if command -v npm >/dev/null 2>&1; then \
		tmp=$$(mktemp -d) && \
		(cd $$tmp && npm pack --silent mermaid@$(MERMAID_VERSION) >/dev/null && \
			tar -xzf mermaid-$(MERMAID_VERSION).tgz package/dist/mermaid.min.js) && \
		mkdir -p $(dir $(MERMAID)) && mv $$tmp/package/dist/mermaid.min.js $(MERMAID); \
		rm -rf $$tmp; \
	else echo "npm not found: the site's diagrams will load Mermaid from its CDN"; fi

docs: install $(MERMAID)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir $(VENV)/site

# The same site, rebuilt on every edit, on http://127.0.0.1:8000 (loopback only).
docs-serve: install $(MERMAID)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict -a 127.0.0.1:8000

test: lint typecheck imports unit docs

schema: install
	$(BIN)/tokenrack-schema > config/tokenrack.schema.json

# Needs Redis on 127.0.0.1:6379 (benchmarks/fleet.py starts it when it is down).
bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/core.py
	$(BIN)/python benchmarks/fleet.py
	$(BIN)/python benchmarks/compare.py
	$(BIN)/python benchmarks/cli.py
	$(BIN)/python benchmarks/coldstart.py
	$(BIN)/python benchmarks/redaction.py
	$(BIN)/python benchmarks/agent.py
	$(BIN)/python benchmarks/dpop.py
	$(BIN)/python benchmarks/charts.py

# Redraws the SVG charts from benchmarks/results/*.json without running any benchmark.
charts: install
	$(BIN)/python benchmarks/charts.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
