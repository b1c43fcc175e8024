# Two entry points for a fresh machine: `make serve` and `make test`.
# `make serve` creates .venv-serve with what serving needs (CPU-only torch, no test or lint tools);
# `make test` and the other targets use the development venv .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SERVE_VENV ?= .venv-serve
SPY := $(SERVE_VENV)/bin/python
# The image's torch too. CPU-only wheels: pip's own configuration first (a local wheel directory),
# then PyTorch's CPU index, then the default index (CPU-only anyway on macOS and Windows).
SERVE_TORCH ?= 2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install serve test test-slow lint format bench-train bench-latency bench-throughput bench-replicas bench-framing

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# [project.dependencies] from pyproject.toml (the one list, as in the Dockerfile) with the pins of
# constraints.txt, except the development torch (CUDA-capable) and torchvision.
$(SERVE_VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(SERVE_VENV)
	$(PYTHON) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' \
		> $(SERVE_VENV)/requirements.txt
	grep -v -E '^(torch|torchvision)==' constraints.txt > $(SERVE_VENV)/constraints.txt
	$(SPY) -m pip install --quiet --no-deps "torch==$(SERVE_TORCH)+cpu" 2>/dev/null \
		|| $(SPY) -m pip install --quiet --no-deps --index-url $(TORCH_CPU_INDEX) "torch==$(SERVE_TORCH)+cpu" \
		|| $(SPY) -m pip install --quiet --no-deps "torch==$(SERVE_TORCH)"
	$(SPY) -m pip install --quiet -c $(SERVE_VENV)/constraints.txt -r $(SERVE_VENV)/requirements.txt
	# The project itself, so that .venv-serve/bin/digits (the client command) is there too.
	$(SPY) -m pip install --quiet --no-deps -e .
	$(SPY) -m pip check
	touch $@

serve: $(SERVE_VENV)/.installed
	DIGITS_HOST=$(HOST) DIGITS_PORT=$(PORT) $(SPY) -m app

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

bench-framing: install
	$(PY) -m bench.framing_speed

bench-latency: install
	$(PY) -m bench.latency_during_training

bench-throughput: install
	$(PY) -m bench.throughput

bench-replicas: install
	$(PY) -m bench.replicas

format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .
