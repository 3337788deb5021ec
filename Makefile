# Two commands from a clean clone: `make demo` and `make test`. Each creates the virtualenv
# (.venv) and installs what it needs first; nothing else is required but Python 3.11.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev

.PHONY: install demo test test-fast lint format bench bench-quick clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## The whole pipeline end to end on the embedded emulator; outputs in demo-out/.
demo: $(STAMP)
	$(VENV)/bin/pipeline demo --out demo-out

## The whole test suite (unit, emulator-backed, end to end), the linter and the type checker.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest

## Without the slow end-to-end tests.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## Every benchmark at full size (figures for BENCHMARKS.md); bench-quick: CI-sized.
bench: $(STAMP)
	$(PY) -m bench.run_all

bench-quick: $(STAMP)
	$(PY) -m bench.run_all --quick

clean:
	rm -rf $(VENV) demo-out build *.egg-info .pytest_cache .ruff_cache .hypothesis
