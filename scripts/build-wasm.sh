#!/usr/bin/env bash
# Builds the policy for wasm32-wasip1 (release, LTO), optimizes it with wasm-opt and writes it
# to $1 (default policy.wasm).
# $2, optional, is another crate's directory to build the same way (the benchmarks' baseline).
# The toolchain (rustup's, or Debian's building the standard library) is chosen by
# scripts/wasm-toolchain.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-policy.wasm}
crate=${2:-.}
manifest="$crate/Cargo.toml"
# The policy takes its waPC layer and none of the CLI; the baseline has no features.
features=(--no-default-features)
if [ "$crate" = . ]; then features+=(--features policy); fi
artifact=$(sed -n 's/^name = "\(.*\)"/\1/p' "$manifest" | head -n 1 | tr - _).wasm
target=wasm32-wasip1
target_dir=${WASM_TARGET_DIR:-${HOME}/.cache/sidecar-injector/target-wasm}
unset CARGO_TARGET_DIR

source scripts/wasm-toolchain.sh
wasm_route "$target"
echo "$out: building with $wasm_route_text" >&2
wasm_cargo_build "$target" "$target_dir" --lib "${features[@]}" --manifest-path "$manifest"
built="$wasm_release_dir/$artifact"
# wasm-opt -Oz saves about 15% and the module is no slower; the e2e suite runs on this output.
# rustc strips the target_features section, so the features it uses are named here.
scripts/ensure-debian-packages.sh binaryen
wasm-opt -Oz --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-mutable-globals --enable-multivalue --enable-reference-types "$built" -o "$out"
echo "$out: $(stat -c %s "$out") bytes ($(stat -c %s "$built") before wasm-opt -Oz)" >&2
