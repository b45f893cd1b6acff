# smia-lua: `make run` and `make test` work on a fresh Debian 12 machine with Swift installed.

DEBIAN_PACKAGES := liblua5.4-dev libopenblas-dev libpng-dev zlib1g-dev libedit-dev pkg-config dataset-fashion-mnist libgdcm-dev
CONFIG := release
BIN := .build/$(CONFIG)/smia-lua
# Root needs no sudo; anyone else does.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup build run test test-swift test-lua test-slurm bench bench-pytorch repl clean

# Installs the Debian packages of $(1) that are missing, naming them under target $(2).
define install_missing
	@missing=""; \
	for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make $(2): installing$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
endef

## Install the Debian packages the project needs, only those missing.
setup:
	$(call install_missing,$(DEBIAN_PACKAGES),setup)

build: setup
	swift build -c $(CONFIG)

## The main job on the built-in data.
run: build
	$(BIN) scripts/smia.lua

## Swift tests, then the Lua tests through the host (one release build serves both).
test: setup
	swift build -c $(CONFIG) --build-tests
	swift test -c $(CONFIG) --skip-build
	$(BIN) Tests/lua/run.lua
	$(MAKE) test-slurm

## The main job on a real one-node Slurm cluster: 4 shards and the merge (installs Slurm and
## munge if missing, starts and stops its own daemons on loopback; root or sudo).
test-slurm:
	$(SUDO) sh Tests/cluster/slurm.sh

bench: build
	@for f in scripts/bench/*.lua; do $(BIN) $$f || exit 1; done

## smia-lua against PyTorch, side by side in one run (scripts/bench/vs_pytorch.py). Debian's
## PyTorch is installed for this target only.
BENCH_PYTORCH_PACKAGES := python3-torch python3-torchvision
# Debian's interpreter, the one its PyTorch is installed for (not a python3 earlier on PATH).
DEBIAN_PYTHON := /usr/bin/python3
bench-pytorch: build
	$(call install_missing,$(BENCH_PYTORCH_PACKAGES),bench-pytorch)
	$(DEBIAN_PYTHON) scripts/bench/vs_pytorch.py --host $(BIN) --table

repl: build
	$(BIN)

clean:
	rm -rf .build
