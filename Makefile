# Two commands set everything up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
# uv comes from pip when the machine has none; everything else installs from uv.lock.
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(UV) run --frozen --no-sync
HOME_DIR := .stock-tracker

.PHONY: install demo test dev lint bench

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --compile-bytecode
	@# The project's own modules too: every Dagster run, CLI and test process imports them afresh,
	@# and a machine with PYTHONDONTWRITEBYTECODE=1 would otherwise compile them each time.
	@$(RUN) python -m compileall -q -j 0 -x '/(\.venv|\.stock-tracker|\.git)/' . >/dev/null

demo: install
	$(RUN) stock-tracker demo

test: install
	$(RUN) pytest

dev: install
	$(RUN) stock-tracker dev

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .

bench: install
	$(RUN) python bench/bench_scenario.py
