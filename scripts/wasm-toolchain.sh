# Sourced by the WebAssembly build scripts: chooses the toolchain for a wasm target and builds with it.
#
# Route 1: rustup's toolchain with the target's standard library, installed or added here.
# Route 2, where rustup cannot download it (offline machines): Debian's rustc-web, cargo-web and
# rust-web-src, building the standard library from source (-Z build-std), linked by wasm-ld-19
# (with wasi-libc for wasm32-wasip1). The packages are installed when missing.
# WASM_ROUTE=debian forces route 2, to test it on a machine where route 1 works.

# wasm_route TARGET: sets $wasm_route to "rustup" or "debian" and $wasm_route_text to a sentence.
wasm_route() {
  local target=$1
  has_target() {
    command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx "$target"
  }
  wasm_route=rustup
  if [ "${WASM_ROUTE:-}" = debian ]; then
    wasm_route=debian
    wasm_route_text="Debian's rustc-web with the standard library built from source (WASM_ROUTE=debian)"
  elif has_target; then
    wasm_route_text="rustup's installed $target standard library"
  elif command -v rustup >/dev/null 2>&1 && timeout 60 rustup target add "$target" >/dev/null 2>&1 && has_target; then
    wasm_route_text="rustup's $target standard library, added just now"
  else
    wasm_route=debian
    wasm_route_text="Debian's rustc-web with the standard library built from source (rustup cannot add $target here)"
  fi
}

# wasm_cargo_build TARGET TARGET_DIR CARGO_ARGS...: `cargo build --locked --release` on the chosen
# route; route 2 builds into TARGET_DIR/debian, since its standard library differs.
# Sets $wasm_release_dir to the directory of the artifacts.
wasm_cargo_build() {
  local target=$1 target_dir=$2
  shift 2
  if [ "$wasm_route" = rustup ]; then
    wasm_release_dir="$target_dir/$target/release"
    cargo build --locked --release --target "$target" --target-dir "$target_dir" "$@"
    return
  fi
  local packages=(rustc-web cargo-web rust-web-src lld-19) flags=""
  local linker_variable
  linker_variable="CARGO_TARGET_$(tr 'a-z-' 'A-Z_' <<<"$target")_LINKER"
  if [ "$target" = wasm32-wasip1 ]; then
    packages+=(wasi-libc)
    flags="-C link-self-contained=no -L native=/usr/lib/wasm32-wasi"
  fi
  scripts/ensure-debian-packages.sh "${packages[@]}"
  wasm_release_dir="$target_dir/debian/$target/release"
  env RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 "$linker_variable=wasm-ld-19" RUSTFLAGS="$flags" \
    /usr/bin/cargo build --locked --release --target "$target" --target-dir "$target_dir/debian" \
    -Z build-std=std,panic_abort "$@"
}
