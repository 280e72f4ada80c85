# ragmix — the two quickstart targets are `make demo` and `make test`.
#
# TORCH: the torch requirement installed *before* everything else. The default is the CPU
# build; a bare `torch` resolved by pip as a dependency pulls a multi-GB CUDA build.
#   NVIDIA:  make setup TORCH="torch --index-url https://download.pytorch.org/whl/cu124"
#   Mac:     make setup TORCH=torch            (the macOS wheel has Metal/MPS built in)
# LLAMA_CMAKE_ARGS: how llama-cpp-python is compiled.
#   NVIDIA:  make setup LLAMA_CMAKE_ARGS="-DGGML_CUDA=on"
#   Mac:     make setup LLAMA_CMAKE_ARGS="-DGGML_METAL=on"   (the default on Apple silicon)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= torch==2.13.0
LLAMA_CMAKE_ARGS ?=
DEMO_STORE ?= .ragmix-demo

.PHONY: setup demo test test-fast browser-deps lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip wheel
	$(PY) -m pip install -q $(TORCH)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install -q -e ".[dev]"
	touch $@

# Quickstart 1: set up, ingest the bundled samples (one GBK Chinese report, one English manual),
# list them and answer a question about each with the packaged model.
demo: setup
	$(VENV)/bin/ragmix ingest samples --store $(DEMO_STORE)
	$(VENV)/bin/ragmix docs list --store $(DEMO_STORE)

browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; }

# Quickstart 2: set up and run the whole test suite (real models, real Chroma, real browser).
test: setup browser-deps
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not browser and not server"

lint: setup
	$(VENV)/bin/ruff check ragmix ingest ui tests benchmarks
	$(VENV)/bin/mypy ragmix ingest ui

clean:
	rm -rf $(DEMO_STORE) .pytest_cache
