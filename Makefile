# ragmix — the two quickstart targets are `make demo` and `make test`.
#
# TORCH: the torch requirement installed *before* everything else. The default is the CPU
# build; a bare `torch` resolved by pip as a dependency pulls a multi-GB CUDA build.
#   NVIDIA:  make setup TORCH="torch --index-url https://download.pytorch.org/whl/cu124"
#   Mac:     make setup TORCH=torch            (the macOS wheel has Metal/MPS built in)
# LLAMA_CMAKE_ARGS: how llama-cpp-python is compiled (built once per set of flags and kept in
# $(WHEELHOUSE), since pip's own wheel cache ignores CMAKE_ARGS).
#   NVIDIA:  make setup LLAMA_CMAKE_ARGS="-DGGML_CUDA=on"
#   Mac:     make setup LLAMA_CMAKE_ARGS="-DGGML_METAL=on"   (the default on Apple silicon)
#   x86-64 default: a portable AVX2 build, not -march=native: some virtual machines advertise
#   AMX that the hypervisor does not enable, and llama.cpp's AMX matmul then dies with SIGILL
#   on the first batched prompt (seen on our CI machines). On your own x86 box
#   LLAMA_CMAKE_ARGS="-DGGML_NATIVE=ON" is a little faster.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= torch==2.13.0
LLAMA_VERSION ?= 0.3.36
LLAMA_CMAKE_ARGS ?= $(if $(filter x86_64,$(shell uname -m)),-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON,)
WHEELHOUSE := $(HOME)/.cache/ragmix-wheels/$(shell echo "$(LLAMA_VERSION) $(LLAMA_CMAKE_ARGS)" | md5sum | cut -c1-12)
DEMO_STORE ?= .ragmix-demo

.PHONY: setup setup-zh demo test test-fast browser-deps lint wheel-check bench clean llama-server

setup: $(VENV)/.installed

# The install is strict (a tree of links to each file; mypy and IDEs resolve it), so it is
# redone when a package folder gains or loses a module (the folders' times change), not only
# when pyproject.toml does.
PACKAGE_DIRS := ragmix $(sort $(dir $(wildcard ragmix/*/__init__.py))) ingest ui configs

$(VENV)/.installed: pyproject.toml $(PACKAGE_DIRS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip wheel
	$(PY) -m pip install -q $(TORCH)
	@ls $(WHEELHOUSE)/llama_cpp_python-*.whl >/dev/null 2>&1 || { \
	  echo "building llama-cpp-python $(LLAMA_VERSION) ($(LLAMA_CMAKE_ARGS)); about 6 minutes"; \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip wheel -q --no-deps --no-cache-dir \
	    -w $(WHEELHOUSE) llama-cpp-python==$(LLAMA_VERSION); }
	$(PY) -m pip install -q $(WHEELHOUSE)/llama_cpp_python-*.whl
	$(PY) -m pip install -q -e ".[dev]" --config-settings editable_mode=strict
	touch $@

# A model that answers in Chinese, still offline (configs/zh-small.yaml): Qwen2.5-Coder-0.5B-
# Instruct, Q4_K_M, in six PyPI packages by an anonymous packager (misleading names). pip installs
# only the wheels whose hashes requirements-zh.txt pins; ragmix never imports them, it assembles
# their part files into ~/.cache/ragmix/models (or $RAGMIX_MODEL_CACHE), checks the SHA-256 of
# the whole file once, and doctor loads it and asks it one question (in a scratch store).
setup-zh: setup
	$(PY) -m pip install -q --require-hashes --no-deps -r requirements-zh.txt
	@tmp=$$(mktemp -d); $(VENV)/bin/ragmix doctor --config configs/zh-small.yaml --store $$tmp; \
	  rc=$$?; rm -rf $$tmp; exit $$rc

# Quickstart 1: set up (with the Chinese-capable model), ingest the bundled samples (one GBK
# Chinese report, one English manual), list them, answer an English question with the fast
# English model, search the Chinese report (once with its own words, once worded differently:
# the packaged multilingual embedder finds meaning), and answer a Chinese question in Chinese
# with the zh profile, citing the passage the answer came from.
demo: setup-zh
	$(VENV)/bin/ragmix ingest samples --store $(DEMO_STORE)
	$(VENV)/bin/ragmix docs list --store $(DEMO_STORE)
	$(VENV)/bin/ragmix ask "How long is the warranty, and what does it not cover?" --store $(DEMO_STORE)
	$(VENV)/bin/ragmix ask "公司 2025 年的营业收入和研发投入是多少？" --mode search --store $(DEMO_STORE)
	$(VENV)/bin/ragmix ask "这家企业是不是太依赖少数几个大买家？" --mode search --store $(DEMO_STORE)
	$(VENV)/bin/ragmix ask "公司 2025 年的营业收入和研发投入是多少？" --config configs/zh-small.yaml --store $(DEMO_STORE)
	$(VENV)/bin/ragmix doctor --store $(DEMO_STORE)

# Debian's chromium for the Playwright tests (never a downloaded browser) and a CJK font so
# that screenshots show Chinese.
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi wqy; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium fonts-wqy-zenhei; fi

# Quickstart 2: set up and run the whole test suite (real models, real Chroma, real browser),
# in TEST_WORKERS processes, each taking whole test files (their module fixtures stay shared).
TEST_WORKERS ?= 2
test: setup browser-deps
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=30

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not browser and not server"

# llama.cpp's own server (`llama-server -np N --cont-batching`: several answers decoded at once,
# docs/scaling.md), built once from the llama.cpp sources inside the llama-cpp-python sdist this
# project pins (the same code and LLAMA_CMAKE_ARGS as the in-process model), CPU, static, target
# llama-server only, into a cache beside the wheelhouse; about 10 minutes on two cores. The
# tests that need it (tests/test_concurrency.py) find it there, or skip and say so.
LLAMA_SERVER_DIR := $(HOME)/.cache/ragmix-wheels/llama-server-$(shell echo "$(LLAMA_VERSION) $(LLAMA_CMAKE_ARGS)" | md5sum | cut -c1-12)
LLAMA_SERVER_JOBS ?= 2
llama-server: $(LLAMA_SERVER_DIR)/llama-server

$(LLAMA_SERVER_DIR)/llama-server:
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	  $(PYTHON) -m pip download -q --no-binary :all: --no-deps -d $$tmp llama-cpp-python==$(LLAMA_VERSION) && \
	  tar xzf $$tmp/llama_cpp_python-$(LLAMA_VERSION).tar.gz -C $$tmp && \
	  echo "building llama-server $(LLAMA_VERSION) ($(LLAMA_CMAKE_ARGS)); about 10 minutes" && \
	  cmake -S $$tmp/llama_cpp_python-$(LLAMA_VERSION)/vendor/llama.cpp -B $$tmp/build \
	    -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF \
	    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_UI=OFF \
	    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF $(LLAMA_CMAKE_ARGS) >$$tmp/cmake.log || { cat $$tmp/cmake.log; exit 1; }; \
	  nice -n 10 cmake --build $$tmp/build --target llama-server -j $(LLAMA_SERVER_JOBS) >$$tmp/build.log || { tail -40 $$tmp/build.log; exit 1; }; \
	  mkdir -p $(LLAMA_SERVER_DIR) && cp $$tmp/build/bin/llama-server $(LLAMA_SERVER_DIR)/llama-server.tmp && \
	  mv $(LLAMA_SERVER_DIR)/llama-server.tmp $@ && $@ --version

# mypy reads the installed package (the strict editable install's link tree, where ingest/ and
# ui/ sit inside ragmix/), so it runs outside the checkout, whose ragmix/ does not hold them.
lint: setup
	$(VENV)/bin/ruff check ragmix ingest ui tests benchmarks
	cd build && $(abspath $(VENV))/bin/mypy -p ragmix --config-file $(CURDIR)/pyproject.toml \
	  --cache-dir $(CURDIR)/.mypy_cache

# The wheel as a user gets it: built from the checkout, installed (not editable) in a clean
# venv and run from outside the checkout with a profile found by name. Its dependencies are the
# dev venv's, hard-linked (seconds, where resolving them again takes minutes on CI); `pip check`
# then holds the wheel's requirements against them.
WHEEL_VENV ?= .venv-wheel
wheel-check: setup
	rm -rf dist $(WHEEL_VENV)
	$(PY) -m pip wheel -q --no-deps -w dist .
	$(PYTHON) -m venv --without-pip $(WHEEL_VENV)
	@src=$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	  dst=$$($(WHEEL_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	  cp -al "$$src"/. "$$dst"/ && rm -rf "$$dst"/__editable__* "$$dst"/ragmix-*.dist-info
	$(WHEEL_VENV)/bin/python -m pip install -q --no-deps dist/ragmix-*.whl
	$(WHEEL_VENV)/bin/python -m pip check
	@tmp=$$(mktemp -d); bin=$(abspath $(WHEEL_VENV))/bin; samples=$(abspath samples); \
	  cd $$tmp && $$bin/ragmix config list && \
	  $$bin/python -c 'import ragmix.ingest, ragmix.ui, sys; sys.exit("site-packages" not in ragmix.ingest.__file__)' && \
	  $$bin/ragmix doctor --config zh-small --no-model --store $$tmp/store && \
	  $$bin/ragmix ingest $$samples --store $$tmp/store && \
	  $$bin/ragmix ask "How long is the warranty?" --mode search --store $$tmp/store; \
	  rc=$$?; rm -rf $$tmp; exit $$rc

clean:
	rm -rf $(DEMO_STORE) .pytest_cache dist $(WHEEL_VENV)
