#!/usr/bin/env bash
# Benchmarks: the native core (criterion), then the compiled module against the no-op baseline
# module as the policy server runs them, then the module's size and what wasm-opt would save.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${CACHE:-$HOME/.cache/sidecar-injector}
scripts/build-wasm.sh bench/baseline.wasm bench/baseline-policy
echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
CARGO_TARGET_DIR="$cache/target-runner" cargo bench --locked --manifest-path bench/Cargo.toml --bench core -- --noplot
CARGO_TARGET_DIR="$cache/target-runner" cargo bench --locked --manifest-path bench/Cargo.toml --bench wasm
size=$(stat -c %s policy.wasm)
optimized=$(mktemp --suffix=.wasm)
# The stripped module has no target_features section: name the features rustc uses.
wasm-opt -Oz --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-mutable-globals --enable-multivalue --enable-reference-types policy.wasm -o "$optimized"
echo
echo "policy.wasm: $size bytes ($(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1048576 }') MiB; target ≤ 1.5 MiB)"
echo "wasm-opt -Oz would make it $(stat -c %s "$optimized") bytes (policy.wasm is shipped as built)"
rm -f "$optimized"
