# sidecar-injector: build, test and publish the Kubewarden policy.
#
# Build outputs live under $(CACHE) so that a fresh clone on the same machine reuses them
# (wasmtime, for the e2e runner, takes 10-15 minutes to compile the first time).

CACHE ?= $(HOME)/.cache/sidecar-injector
HOST_TARGET_DIR := $(CACHE)/target-host
export WASM_TARGET_DIR := $(CACHE)/target-wasm
CARGO ?= cargo
CARGO_HOST := CARGO_TARGET_DIR=$(HOST_TARGET_DIR) $(CARGO)

SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
REGISTRY ?= ghcr.io/sidecar-injector

.PHONY: all test fmt-check lint unit-tests e2e-tests tools clean

all: policy.wasm

policy.wasm: $(SOURCES)
	scripts/build-wasm.sh $@

## test: everything CI runs: formatting, lints, unit tests, and the compiled module's checks.
test: fmt-check lint unit-tests e2e-tests

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO_HOST) clippy --locked --all-targets -- -D warnings

unit-tests:
	$(CARGO_HOST) test --locked

tools:
	@scripts/ensure-debian-packages.sh bats jq wabt

e2e-tests: policy.wasm tools
	POLICY=$(CURDIR)/policy.wasm bats e2e-tests/

clean:
	rm -f policy.wasm annotated-policy.wasm
	$(CARGO_HOST) clean
