# smia-lua: `make run` and `make test` work on a fresh Debian 12 machine with Swift installed.

DEBIAN_PACKAGES := liblua5.4-dev libopenblas-dev libpng-dev zlib1g-dev libedit-dev pkg-config dataset-fashion-mnist libgdcm-dev libdnnl-dev
# Needed by the tests only: headless Chromium renders the HTML report (Tests/lua/test_html_report.lua).
TEST_PACKAGES := chromium
CONFIG := release
BIN := .build/$(CONFIG)/smia-lua
# Root needs no sudo; anyone else does.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup setup-test install-missing build run test test-swift test-lua test-slurm bench bench-pytorch bench-ops repl reference clean fuzz

## Install the Debian packages the project needs, only those missing.
setup:
	@$(MAKE) --no-print-directory install-missing PACKAGES="$(DEBIAN_PACKAGES)"

## The packages only the tests need.
setup-test:
	@$(MAKE) --no-print-directory install-missing PACKAGES="$(TEST_PACKAGES)"

install-missing:
	@missing=""; \
	for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build: setup
	swift build -c $(CONFIG)

## The main job on the built-in data.
run: build
	$(BIN) scripts/smia.lua

## Swift tests, then the Lua tests through the host (one release build serves both).
test: setup setup-test
	swift build -c $(CONFIG) --build-tests
	swift test -c $(CONFIG) --skip-build
	$(BIN) Tests/lua/run.lua
	$(BIN) Tests/fuzz/fuzz.lua --mutants 200 --calls 200
	$(MAKE) test-slurm

## The main job on a real one-node Slurm cluster: 4 shards and the merge (installs Slurm and
## munge if missing, starts and stops its own daemons on loopback; root or sudo).
test-slurm:
	$(SUDO) sh Tests/cluster/slurm.sh

bench: build
	@for f in scripts/bench/*.lua; do $(BIN) $$f || exit 1; done

## Malformed files through every reader and random calls through every smia function
## (Tests/fuzz/fuzz.lua): none may crash, hang or blow the memory budget.
fuzz: build
	$(BIN) Tests/fuzz/fuzz.lua --mutants 10000 --calls 10000

## smia-lua against PyTorch, side by side in one run (scripts/bench/vs_pytorch.py). Debian's
## PyTorch is installed for this target only.
BENCH_PYTORCH_PACKAGES := python3-torch python3-torchvision
# Debian's interpreter, the one its PyTorch is installed for (not a python3 earlier on PATH).
DEBIAN_PYTHON := /usr/bin/python3
bench-pytorch: build
	@$(MAKE) --no-print-directory install-missing PACKAGES="$(BENCH_PYTORCH_PACKAGES)"
	$(DEBIAN_PYTHON) scripts/bench/vs_pytorch.py --host $(BIN) --table

## Convolution, pooling and batch norm one at a time against PyTorch (scripts/bench/ops_vs_pytorch.py).
bench-ops: build
	@$(MAKE) --no-print-directory install-missing PACKAGES="$(BENCH_PYTORCH_PACKAGES)"
	$(DEBIAN_PYTHON) scripts/bench/ops_vs_pytorch.py --host $(BIN) --table

repl: build
	$(BIN)

## docs/reference.md from the code's option tables and Sources/LuaBridge/Lua/reference.lua.
reference: build
	$(BIN) scripts/reference.lua docs/reference.md

clean:
	rm -rf .build
