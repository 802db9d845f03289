#!/usr/bin/env bash
# Builds the playground's WebAssembly into $1 (default playground/dist/pkg): the crate in
# playground/wasm (the sidecar-injector library with its wasm-bindgen glue) for
# wasm32-unknown-unknown, then wasm-bindgen (--target web) and wasm-strip.
#
# The toolchain is chosen as for the policy module, by scripts/wasm-toolchain.sh.
# wasm-bindgen-cli must be the exact version of the wasm-bindgen crate in playground/wasm's
# Cargo.lock: it is installed once under $CACHE/tools/wasm-bindgen-VERSION.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-playground/dist/pkg}
cache=${CACHE:-$HOME/.cache/sidecar-injector}
target=wasm32-unknown-unknown
target_dir=${PLAYGROUND_TARGET_DIR:-$cache/target-playground}
manifest=playground/wasm/Cargo.toml
name=sidecar_injector_playground
unset CARGO_TARGET_DIR

source scripts/wasm-toolchain.sh
wasm_route "$target"
echo "playground: building $target with $wasm_route_text" >&2

# The lock file pins the root Cargo.lock's versions (a test checks it); after a dependency change
# in the root crate, take its lock file over again.
resync="cp Cargo.lock playground/wasm/Cargo.lock && cargo metadata --format-version 1 --manifest-path $manifest >/dev/null"
wasm_cargo_build "$target" "$target_dir" --manifest-path "$manifest" ||
  { echo "playground: the build failed; if playground/wasm/Cargo.lock is out of date: $resync" >&2; exit 1; }
built="$wasm_release_dir/$name.wasm"

# wasm-bindgen-cli, the exact version of the crate.
version=$(sed -n '/^name = "wasm-bindgen"$/{n;s/^version = "\(.*\)"$/\1/p;}' playground/wasm/Cargo.lock)
[ -n "$version" ] || { echo "playground: no wasm-bindgen in playground/wasm/Cargo.lock" >&2; exit 1; }
tools="$cache/tools/wasm-bindgen-$version"
bindgen="$tools/bin/wasm-bindgen"
if ! "$bindgen" --version 2>/dev/null | grep -qx "wasm-bindgen $version"; then
  echo "playground: installing wasm-bindgen-cli $version into $tools (once; a few minutes)" >&2
  # Without default features: no TLS stack (ureq's only serves wasm-bindgen-test-runner's downloads).
  install=(cargo install wasm-bindgen-cli --version "=$version" --no-default-features --force --root "$tools")
  if ! "${install[@]}" --locked; then
    # Seen with registry mirrors that lack a version pinned in wasm-bindgen-cli's Cargo.lock.
    echo "playground: cargo install --locked failed; installing wasm-bindgen-cli $version with the newest compatible dependencies" >&2
    "${install[@]}"
  fi
fi

staging="$out.tmp"
rm -rf "$staging"
"$bindgen" --target web --no-typescript --out-dir "$staging" "$built"
glue="$staging/$name.js"
# The library is taken without its waPC layer (feature `policy`): nothing may import the policy
# server's functions.
if grep -q 'from "wapc"' "$glue"; then
  echo "playground: $glue imports module \"wapc\": the policy's waPC layer came along" >&2
  exit 1
fi
# Custom sections (names, producers) are of no use once wasm-bindgen has read its own. No
# wasm-opt: Debian's binaryen (108) breaks wasm-bindgen's externref table.
scripts/ensure-debian-packages.sh wabt
wasm-strip "$staging/${name}_bg.wasm"
rm -rf "$out"
mv "$staging" "$out"
echo "playground: $out/${name}_bg.wasm: $(stat -c %s "$out/${name}_bg.wasm") bytes (wasm-bindgen $version)" >&2
