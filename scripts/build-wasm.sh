#!/usr/bin/env bash
# Builds the policy for wasm32-wasip1 (release, LTO), optimizes it with wasm-opt and writes it
# to $1 (default policy.wasm).
# $2, optional, is another crate's directory to build the same way (the benchmarks' baseline).
#
# Route 1: rustup's toolchain with its wasm32-wasip1 standard library, installed or added here.
# Route 2, where rustup cannot download it (offline machines): Debian's rustc-web, cargo-web and
# rust-web-src, building the standard library from source (-Z build-std) with wasi-libc and
# wasm-ld. The packages are installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-policy.wasm}
crate=${2:-.}
manifest="$crate/Cargo.toml"
artifact=$(sed -n 's/^name = "\(.*\)"/\1/p' "$manifest" | head -n 1 | tr - _).wasm
target=wasm32-wasip1
target_dir=${WASM_TARGET_DIR:-${HOME}/.cache/sidecar-injector/target-wasm}
unset CARGO_TARGET_DIR

has_rustup_target() {
  command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx "$target"
}

# WASM_ROUTE=debian forces route 2 (to test it on a machine where route 1 works).
if [ "${WASM_ROUTE:-}" = debian ]; then
  route="Debian's rustc-web with the standard library built from source (WASM_ROUTE=debian)"
elif has_rustup_target; then
  route="rustup's installed $target standard library"
elif command -v rustup >/dev/null 2>&1 && timeout 60 rustup target add "$target" >/dev/null 2>&1 && has_rustup_target; then
  route="rustup's $target standard library, added just now"
else
  route="Debian's rustc-web with the standard library built from source (rustup cannot add $target here)"
fi
echo "$out: building with $route" >&2

if [[ $route == rustup* ]]; then
  cargo build --locked --release --lib --no-default-features --manifest-path "$manifest" --target "$target" --target-dir "$target_dir"
else
  scripts/ensure-debian-packages.sh rustc-web cargo-web rust-web-src lld-19 wasi-libc
  RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
    CARGO_TARGET_WASM32_WASIP1_LINKER=wasm-ld-19 \
    RUSTFLAGS="-C link-self-contained=no -L native=/usr/lib/wasm32-wasi" \
    /usr/bin/cargo build --locked --release --lib --no-default-features --manifest-path "$manifest" --target "$target" --target-dir "$target_dir" \
      -Z build-std=std,panic_abort
fi
built="$target_dir/$target/release/$artifact"
# wasm-opt -Oz saves about 15% and the module is no slower; the e2e suite runs on this output.
# rustc strips the target_features section, so the features it uses are named here.
scripts/ensure-debian-packages.sh binaryen
wasm-opt -Oz --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-mutable-globals --enable-multivalue --enable-reference-types "$built" -o "$out"
echo "$out: $(stat -c %s "$out") bytes ($(stat -c %s "$built") before wasm-opt -Oz)" >&2
