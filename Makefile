# Two commands from a clean clone: `make demo` and `make test`. Each creates the virtualenv
# (.venv) and installs what it needs first; nothing else is required but Python 3.11.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev

.PHONY: install demo test test-fast lint format bench bench-quick clean

KERNELS := build/.kernels-built

$(STAMP): setup.cfg setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The compiled modules (the core's _kernels.pyx, the KCL child's _framing.pyx), rebuilt in place
# whenever their source changes (the editable install builds them once).
$(KERNELS): $(STAMP) pipeline/core/_kernels.pyx consumers/kcl/_framing.pyx setup.py
	$(PY) setup.py --quiet build_ext --inplace
	mkdir -p build && touch $(KERNELS)

install: $(STAMP) $(KERNELS)

## The whole pipeline end to end on the embedded emulator; outputs in demo-out/.
demo: $(STAMP) $(KERNELS)
	$(VENV)/bin/pipeline demo --out demo-out

## The whole test suite (unit, emulator-backed, end to end), the linter and the type checker.
test: $(STAMP) $(KERNELS)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest

## Without the slow end-to-end tests.
test-fast: $(STAMP) $(KERNELS)
	$(PY) -m pytest -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## Every benchmark at full size (figures for BENCHMARKS.md); bench-quick: CI-sized.
bench: $(STAMP) $(KERNELS)
	$(PY) -m bench.run_all

bench-quick: $(STAMP) $(KERNELS)
	$(PY) -m bench.run_all --quick

clean:
	rm -rf $(VENV) demo-out build *.egg-info .pytest_cache .ruff_cache .hypothesis
