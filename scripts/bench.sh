#!/usr/bin/env bash
# Benchmarks: the native core (criterion), then the compiled module against its floors (the no-op
# module, the minimal injector) as the policy server runs them, then the same in the real
# policy-server over HTTPS (when it is on PATH), then Pod creations through a real API server with
# and without the policy (scripts/bench-cluster.sh, with Go), then the module's size.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${CACHE:-$HOME/.cache/sidecar-injector}
scripts/build-wasm.sh bench/baseline.wasm bench/baseline-policy
scripts/build-wasm.sh bench/minimal.wasm bench/minimal-injector
echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
CARGO_TARGET_DIR="$cache/target-runner" cargo bench --locked --manifest-path bench/Cargo.toml --bench core -- --noplot
CARGO_TARGET_DIR="$cache/target-runner" cargo bench --locked --manifest-path bench/Cargo.toml --bench wasm
if command -v policy-server >/dev/null && command -v kwctl >/dev/null; then
  scripts/bench-policy-server.sh
  if command -v go >/dev/null; then
    POLICY=$PWD/annotated-policy.wasm CLI_BIN=${CLI_BIN:-$cache/target-host/debug/sidecar-injector} scripts/bench-cluster.sh
  else
    echo "go is not installed: the run through the API server is skipped" >&2
  fi
else
  echo "policy-server or kwctl is not on PATH: the runs in the real policy-server and through the API server are skipped" >&2
fi
size=$(stat -c %s policy.wasm)
echo
echo "policy.wasm: $size bytes ($(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1048576 }') MiB; target for the annotated module ≤ 1.25 MiB), after wasm-opt -Oz (see the build's line for the size before)"
