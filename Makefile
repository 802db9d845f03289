# sidecar-injector: build, test and publish the Kubewarden policy.
#
# Build outputs live under $(CACHE) so that a fresh clone on the same machine reuses them
# (wasmtime, for the e2e runner, takes 10-15 minutes to compile the first time).

CACHE ?= $(HOME)/.cache/sidecar-injector
HOST_TARGET_DIR := $(CACHE)/target-host
RUNNER_TARGET_DIR := $(CACHE)/target-runner
export WASM_TARGET_DIR := $(CACHE)/target-wasm
export RUNNER_BIN := $(RUNNER_TARGET_DIR)/release
# The CLI as `cargo test` builds it (debug): the e2e suite compares it with the module.
export CLI_BIN := $(HOST_TARGET_DIR)/debug/sidecar-injector
CARGO ?= cargo
CARGO_HOST := CARGO_TARGET_DIR=$(HOST_TARGET_DIR) $(CARGO)

SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock
RUNNER_SOURCES := $(shell find e2e-tests/runner/src -name '*.rs') e2e-tests/runner/Cargo.toml e2e-tests/runner/Cargo.lock
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
REGISTRY ?= ghcr.io/sidecar-injector/policies
KWCTL := $(shell command -v kwctl 2>/dev/null)
# The module the e2e suite runs: kwctl runs the annotated one, as users do.
E2E_POLICY := $(if $(KWCTL),annotated-policy.wasm,policy.wasm)

.PHONY: all cli run test fmt-check lint unit-tests e2e-tests fuzz fuzz-smoke bench runner tools artifacthub push require-kwctl clean
.PHONY: playground playground-build playground-node playground-tests playground-screenshot

all: policy.wasm

policy.wasm: $(SOURCES)
	scripts/build-wasm.sh $@

## cli: the sidecar-injector command (release build in target/); `cargo install --path .` installs it.
cli:
	$(CARGO) build --locked --release --bin sidecar-injector

## run: evaluate the example Pod with the opt-in example's Istio-like settings.
run: policy.wasm runner tools
	@scripts/run-example.sh examples/opt-in.yaml examples/pod.yaml

## test: formatting, lints, unit and property tests, the compiled module and the CLI end to end, a fuzz
## smoke run, the playground in headless Chromium.
test: fmt-check lint unit-tests e2e-tests fuzz-smoke playground-tests

fmt-check:
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path e2e-tests/runner/Cargo.toml -- --check
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check
	$(CARGO) fmt --manifest-path bench/Cargo.toml -- --check
	$(CARGO) fmt --manifest-path bench/baseline-policy/Cargo.toml -- --check
	$(CARGO) fmt --manifest-path playground/wasm/Cargo.toml -- --check

lint:
	$(CARGO_HOST) clippy --locked --all-targets -- -D warnings
	CARGO_TARGET_DIR=$(RUNNER_TARGET_DIR) $(CARGO) clippy --locked --release --all-targets \
	  --manifest-path e2e-tests/runner/Cargo.toml -- -D warnings

unit-tests:
	$(CARGO_HOST) test --locked
	CARGO_TARGET_DIR=$(RUNNER_TARGET_DIR) $(CARGO) test --locked --release --manifest-path e2e-tests/runner/Cargo.toml

$(CLI_BIN): $(SOURCES)
	$(CARGO_HOST) build --locked --bin sidecar-injector
	@touch $@

runner: $(RUNNER_BIN)/policy-runner

$(RUNNER_BIN)/policy-runner: $(RUNNER_SOURCES)
	CARGO_TARGET_DIR=$(RUNNER_TARGET_DIR) $(CARGO) build --locked --release --manifest-path e2e-tests/runner/Cargo.toml
	@touch $@

tools:
	@scripts/ensure-debian-packages.sh bats jq yq wabt binaryen

e2e-tests: $(E2E_POLICY) runner tools $(CLI_BIN)
	POLICY=$(CURDIR)/$(E2E_POLICY) bats e2e-tests/

## bench: the native core, then the module against a no-op baseline module, then sizes.
bench: policy.wasm tools
	scripts/bench.sh

## fuzz: each fuzz target for FUZZ_SECONDS (default 600); fuzz-smoke: 15 s each.
FUZZ_SECONDS ?= 600
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

fuzz-smoke:
	FUZZ_OPTIONAL=1 scripts/fuzz.sh 15

## playground: the policy in the browser (playground/), served on 127.0.0.1:$(PLAYGROUND_PORT).
PLAYGROUND_PORT ?= 8000
PLAYGROUND_DIST := playground/dist
PLAYGROUND_WASM := $(PLAYGROUND_DIST)/pkg/sidecar_injector_playground_bg.wasm
PLAYGROUND_SOURCES := $(shell find playground/wasm/src -name '*.rs') playground/wasm/Cargo.toml \
  playground/wasm/Cargo.lock playground/build-wasm.sh
PLAYGROUND_NODE_MODULES := playground/node_modules/.package-lock.json
export PLAYGROUND_TARGET_DIR := $(CACHE)/target-playground

playground: playground-build playground-node
	node playground/serve.mjs --port $(PLAYGROUND_PORT)

# Node 20 or later serves the page and runs its tests (Debian's when there is none).
playground-node:
	@command -v node >/dev/null && command -v npm >/dev/null || scripts/ensure-debian-packages.sh nodejs npm
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || \
	  { echo "playground: node $$(node --version) is too old: Node.js 20 or later is needed" >&2; exit 1; }

$(PLAYGROUND_WASM): $(SOURCES) $(PLAYGROUND_SOURCES)
	CACHE=$(CACHE) playground/build-wasm.sh $(PLAYGROUND_DIST)/pkg
	@touch $@

playground-build: $(PLAYGROUND_WASM)
	@mkdir -p $(PLAYGROUND_DIST)/examples $(PLAYGROUND_DIST)/samples
	@cp playground/www/*.html playground/www/*.css playground/www/*.js $(PLAYGROUND_DIST)/
	@cp playground/www/samples/*.yaml $(PLAYGROUND_DIST)/samples/
	@cp examples/*.yaml $(PLAYGROUND_DIST)/examples/

$(PLAYGROUND_NODE_MODULES): playground/package.json playground/package-lock.json | playground-node
	cd playground && npm ci --no-audit --no-fund
	@touch $@

## playground-tests: the page in headless Chromium, the bindings, their parity with policy.wasm and the CLI.
playground-tests: playground-build playground-node $(PLAYGROUND_NODE_MODULES) policy.wasm runner $(CLI_BIN)
	@scripts/ensure-debian-packages.sh chromium
	CARGO_TARGET_DIR=$(PLAYGROUND_TARGET_DIR) $(CARGO) clippy --locked --all-targets \
	  --manifest-path playground/wasm/Cargo.toml -- -D warnings
	cd playground && POLICY=$(CURDIR)/policy.wasm node --test --test-reporter=tap tests/

## playground-screenshot: playground/screenshot.png (in the README) from the tests' screenshot.
playground-screenshot: playground-tests
	cp $(PLAYGROUND_DIST)/screenshots/playground.png playground/screenshot.png

annotated-policy.wasm: policy.wasm policy-metadata.yml README.md | require-kwctl
	kwctl annotate -m policy-metadata.yml -u README.md -o $@ policy.wasm

artifacthub: | require-kwctl
	kwctl scaffold artifacthub --metadata-path policy-metadata.yml --version $(VERSION) \
	  --questions-path questions-ui.yml --output artifacthub-pkg.yml

push: annotated-policy.wasm | require-kwctl
	kwctl push annotated-policy.wasm $(REGISTRY)/sidecar-injector:v$(VERSION)

require-kwctl:
	@if [ -z "$(KWCTL)" ]; then echo "kwctl is not installed: it is needed for this target (https://github.com/kubewarden/kwctl)" >&2; exit 1; fi

clean:
	rm -f policy.wasm annotated-policy.wasm
	rm -rf $(PLAYGROUND_DIST)
	$(CARGO_HOST) clean
