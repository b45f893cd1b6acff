# smia-lua: `make run` and `make test` work on a fresh Debian 12 machine with Swift installed.

DEBIAN_PACKAGES := liblua5.4-dev libopenblas-dev libpng-dev zlib1g-dev libedit-dev pkg-config dataset-fashion-mnist libgdcm-dev
CONFIG := release
BIN := .build/$(CONFIG)/smia-lua
# Root needs no sudo; anyone else does.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup build run test test-swift test-lua test-slurm bench repl reference clean

## Install the Debian packages the project needs, only those missing.
setup:
	@missing=""; \
	for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make setup: installing$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

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

repl: build
	$(BIN)

## docs/reference.md from the code's option tables and Sources/LuaBridge/Lua/reference.lua.
reference: build
	$(BIN) scripts/reference.lua docs/reference.md

clean:
	rm -rf .build
