# Two entry points for a fresh machine: `make serve` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install serve test test-slow lint format bench-train bench-latency bench-throughput bench-replicas

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed

serve: install
	DIGITS_HOST=$(HOST) DIGITS_PORT=$(PORT) $(PY) -m app

test: install
	$(PY) -m pytest

test-slow: install
	$(PY) -m pytest -m slow

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/hadolint Dockerfile

bench-train: install
	$(PY) -m bench.train_speed

bench-latency: install
	$(PY) -m bench.latency_during_training

bench-throughput: install
	$(PY) -m bench.throughput

bench-replicas: install
	$(PY) -m bench.replicas

format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .
