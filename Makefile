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

RUST_SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock
# SOURCES: a kwctl sources file (`insecure_sources:` for a plain-HTTP registry, custom CAs...),
# passed to kwctl as --sources-path by `make push`.
SOURCES ?=
RUNNER_SOURCES := $(shell find e2e-tests/runner/src -name '*.rs') e2e-tests/runner/Cargo.toml e2e-tests/runner/Cargo.lock
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
REGISTRY ?= ghcr.io/sidecar-injector/policies
KWCTL := $(shell command -v kwctl 2>/dev/null)
# The module the e2e suite runs: kwctl runs the annotated one, as users do.
E2E_POLICY := $(if $(KWCTL),annotated-policy.wasm,policy.wasm)
# apply-patch applies a response's JSONPatch; built alone, it needs no wasmtime.
APPLY_PATCH := $(RUNNER_BIN)/apply-patch
# What runs the module for `make run`: kwctl, or where it is not installed, policy-runner.
RUN_HOST := $(if $(KWCTL),$(APPLY_PATCH),runner)

.PHONY: all cli install run test fmt-check lint unit-tests e2e-tests fuzz fuzz-smoke bench runner tools artifacthub push require-kwctl clean
.PHONY: cluster cluster-down cluster-binaries istio-binaries istio-config
.PHONY: playground playground-build playground-node playground-tests playground-screenshot

all: policy.wasm

policy.wasm: $(RUST_SOURCES)
	scripts/build-wasm.sh $@

## cli: the sidecar-injector command (release build in target/); `cargo install --path .` installs it.
cli:
	$(CARGO) build --locked --release --bin sidecar-injector

## install: the command into $(DESTDIR)$(PREFIX)/bin (PREFIX=/usr/local by default), and beside it
## kubectl-sidecar_injector, a symlink that makes it a kubectl plugin: `kubectl sidecar-injector check ...`.
## INSTALL_BIN names an already built binary to install instead of building one.
PREFIX ?= /usr/local
INSTALL_BIN ?= $(or $(CARGO_TARGET_DIR),target)/release/sidecar-injector
install: $(if $(filter command line,$(origin INSTALL_BIN)),,cli)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(INSTALL_BIN) $(DESTDIR)$(PREFIX)/bin/sidecar-injector
	ln -sf sidecar-injector $(DESTDIR)$(PREFIX)/bin/kubectl-sidecar_injector

## run: evaluate the example Pod with the opt-in example's Istio-like settings, in kwctl when it is
## on PATH (otherwise in policy-runner, which compiles wasmtime the first time).
run: $(E2E_POLICY) $(RUN_HOST) tools
	@POLICY=$(E2E_POLICY) scripts/run-example.sh examples/opt-in.yaml examples/pod.yaml

## test: formatting, lints, unit and property tests, the compiled module and the CLI end to end, a fuzz
## smoke run, the playground in headless Chromium.
test: fmt-check lint unit-tests e2e-tests fuzz-smoke playground-tests

fmt-check:
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path e2e-tests/runner/Cargo.toml -- --check
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check
	$(CARGO) fmt --manifest-path bench/Cargo.toml -- --check
	$(CARGO) fmt --manifest-path bench/baseline-policy/Cargo.toml -- --check
	$(CARGO) fmt --manifest-path bench/minimal-injector/Cargo.toml -- --check
	$(CARGO) fmt --manifest-path playground/wasm/Cargo.toml -- --check

lint:
	$(CARGO_HOST) clippy --locked --all-targets -- -D warnings
	CARGO_TARGET_DIR=$(RUNNER_TARGET_DIR) $(CARGO) clippy --locked --release --all-targets \
	  --manifest-path e2e-tests/runner/Cargo.toml -- -D warnings

unit-tests:
	$(CARGO_HOST) test --locked
	CARGO_TARGET_DIR=$(RUNNER_TARGET_DIR) $(CARGO) test --locked --release --manifest-path e2e-tests/runner/Cargo.toml

$(CLI_BIN): $(RUST_SOURCES)
	$(CARGO_HOST) build --locked --bin sidecar-injector
	@touch $@

runner: $(RUNNER_BIN)/policy-runner

$(RUNNER_BIN)/policy-runner: $(RUNNER_SOURCES)
	CARGO_TARGET_DIR=$(RUNNER_TARGET_DIR) $(CARGO) build --locked --release --manifest-path e2e-tests/runner/Cargo.toml
	@touch $@ $(APPLY_PATCH)

$(APPLY_PATCH): $(RUNNER_SOURCES)
	CARGO_TARGET_DIR=$(RUNNER_TARGET_DIR) $(CARGO) build --locked --release --no-default-features \
	  --bin apply-patch --manifest-path e2e-tests/runner/Cargo.toml
	@touch $@

tools:
	@scripts/ensure-debian-packages.sh bats jq yq wabt binaryen curl openssl docker-registry

e2e-tests: $(E2E_POLICY) runner tools $(CLI_BIN)
	POLICY=$(CURDIR)/$(E2E_POLICY) bats e2e-tests/

## cluster: a local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, built with
## Go the first time) with the policy served by the real policy-server and installed as the Kubewarden
## controller installs it, for MANIFEST (default examples/opt-in.yaml); prints the KUBECONFIG line.
## cluster-down stops it.
MANIFEST ?= examples/opt-in.yaml
cluster: annotated-policy.wasm $(CLI_BIN) tools | require-kwctl
	@POLICY=$(CURDIR)/annotated-policy.wasm CACHE=$(CACHE) scripts/cluster.sh up $(abspath $(MANIFEST))

cluster-down:
	@CACHE=$(CACHE) scripts/cluster.sh down

## cluster-binaries: etcd, kube-apiserver, kube-controller-manager and kubectl at the versions
## e2e-tests/cluster/go.mod pins, built into $(CACHE)/cluster/ unless already there.
cluster-binaries:
	@CACHE=$(CACHE) scripts/cluster-binaries.sh

## istio-binaries: Istio's istioctl at the version e2e-tests/istio/go.mod pins, built with Go into
## $(CACHE)/istio/ unless already there (about 7 minutes on 2 cores the first time): the oracle of
## e2e-tests/istio.bats. Test infrastructure, not part of the product.
istio-binaries:
	@CACHE=$(CACHE) scripts/istio-binaries.sh

## istio-config: e2e-tests/istio/generated/, Istio's default injection configuration, generated
## offline by that istioctl (`istioctl manifest generate`); commit what it changes.
istio-config: tools
	@CACHE=$(CACHE) scripts/istio-config.sh

## bench: the native core, then the module against its floors (a no-op module, a minimal injector)
## through the waPC engine, then all three in the real policy-server (when it is on PATH), then Pod
## creations through a real API server with and without the policy (with Go too), then sizes.
bench: policy.wasm $(if $(KWCTL),annotated-policy.wasm) $(CLI_BIN) tools
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

$(PLAYGROUND_WASM): $(RUST_SOURCES) $(PLAYGROUND_SOURCES)
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

# The policy's usage, as `kwctl inspect` and Artifact Hub show it: the README for the policy's users,
# without the comparison with Istio's injector and the sections on the CLI and the playground (a
# pointer to them instead; the module carries the usage, and its size has a limit) and those for
# the project's developers ("Performance and robustness", "Development").
usage.md: README.md
	sed -e '/^### Istio'"'"'s injector and this policy$$/,/^### Namespaces: /{/^### Namespaces: /!d;}' \
	  -e '/^### Namespaces: /i ### Istio'"'"'s injector and this policy\n\nHow this policy does what Istio'"'"'s injector does, feature by feature, and how it is compared with\n`istioctl kube-inject`: in the README of the policy'"'"'s repository.\n' \
	  -e '/^## The `sidecar-injector` command$$/,/^## Troubleshooting in the cluster$$/{/^## Troubleshooting in the cluster$$/!d;}' \
	  -e '/^## Troubleshooting in the cluster$$/i ## The CLI, operations and the playground\n\nThe `sidecar-injector` command (explain, inject, uninject, check for stale sidecars, canary\nupgrades) and the playground are described in the README of the policy'"'"'s repository.\n' \
	  -e '/^## Performance and robustness$$/,$$d' README.md >$@
	@grep -q '^## Troubleshooting in the cluster$$' $@ || { echo "usage.md: the README's sections moved; check the Makefile's cut" >&2; exit 1; }
	@! grep -q '^## Playground$$' $@ || { echo "usage.md: the README's sections moved; check the Makefile's cut" >&2; exit 1; }
	@grep -q '^### Namespaces: ' $@ && ! grep -q '^| Istio.s injector | this policy |$$' $@ || { echo "usage.md: the README's sections moved; check the Makefile's cut" >&2; exit 1; }

annotated-policy.wasm: policy.wasm policy-metadata.yml usage.md | require-kwctl
	kwctl annotate -m policy-metadata.yml -u usage.md -o $@ policy.wasm

## artifacthub: artifacthub-pkg.yml from policy-metadata.yml and questions-ui.yml, by kwctl. kwctl takes
## the version from the metadata's io.kubewarden.policy.version, which must be Cargo.toml's. It writes
## createdAt as the current time: for the version already in the file, the file's createdAt is kept,
## so that regenerating changes nothing unless the inputs changed.
ARTIFACTHUB_PKG ?= artifacthub-pkg.yml
artifacthub: | require-kwctl
	@metadata_version=$$(sed -n 's/^ *io\.kubewarden\.policy\.version: *//p' policy-metadata.yml); \
	if [ "$$metadata_version" != "$(VERSION)" ]; then \
	  echo "policy-metadata.yml: io.kubewarden.policy.version is '$$metadata_version', Cargo.toml's version is '$(VERSION)'" >&2; \
	  exit 1; \
	fi
	kwctl scaffold artifacthub --metadata-path policy-metadata.yml --questions-path questions-ui.yml \
	  --output $(ARTIFACTHUB_PKG).new || { rm -f $(ARTIFACTHUB_PKG).new; exit 1; }
	@if [ -f $(ARTIFACTHUB_PKG) ] && [ "$$(sed -n 's/^version: //p' $(ARTIFACTHUB_PKG))" = "$(VERSION)" ]; then \
	  created=$$(sed -n 's/^createdAt: //p' $(ARTIFACTHUB_PKG)); \
	  sed -i "s/^createdAt: .*/createdAt: $$created/" $(ARTIFACTHUB_PKG).new; \
	  echo "$(ARTIFACTHUB_PKG): version $(VERSION) kept its createdAt, $$created"; \
	fi
	@mv $(ARTIFACTHUB_PKG).new $(ARTIFACTHUB_PKG)

## push: annotated-policy.wasm to registry://$(REGISTRY)/sidecar-injector:v$(VERSION). SOURCES=FILE
## passes a kwctl sources file, e.g. `insecure_sources: ["127.0.0.1:5000"]` for a plain-HTTP registry.
push: annotated-policy.wasm | require-kwctl
	kwctl push$(if $(SOURCES), --sources-path $(SOURCES)) \
	  annotated-policy.wasm registry://$(REGISTRY)/sidecar-injector:v$(VERSION)

require-kwctl:
	@if [ -z "$(KWCTL)" ]; then echo "kwctl is not installed: it is needed for this target (https://github.com/kubewarden/kwctl)" >&2; exit 1; fi

clean:
	rm -f policy.wasm annotated-policy.wasm usage.md
	rm -rf $(PLAYGROUND_DIST)
	$(CARGO_HOST) clean
