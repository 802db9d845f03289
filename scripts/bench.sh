#!/usr/bin/env bash
# Benchmarks: the native core (criterion), then the compiled module against the no-op baseline
# module as the policy server runs them, then the module's size.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${CACHE:-$HOME/.cache/sidecar-injector}
scripts/build-wasm.sh bench/baseline.wasm bench/baseline-policy
echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
CARGO_TARGET_DIR="$cache/target-runner" cargo bench --locked --manifest-path bench/Cargo.toml --bench core -- --noplot
CARGO_TARGET_DIR="$cache/target-runner" cargo bench --locked --manifest-path bench/Cargo.toml --bench wasm
size=$(stat -c %s policy.wasm)
echo
echo "policy.wasm: $size bytes ($(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1048576 }') MiB; target ≤ 1.5 MiB), after wasm-opt -Oz (see the build's line for the size before)"
