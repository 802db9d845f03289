#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 600) with cargo-fuzz, seeded from fuzz/seeds and
# the corpus kept under the cache directory. Installs cargo-fuzz when missing; needs rustup's
# nightly toolchain (libFuzzer instrumentation), which it tries to install when missing.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(validate validate_settings inject)
cache=${CACHE:-$HOME/.cache/sidecar-injector}

# Fuzzing nothing is never a pass. The smoke run in `make test` (FUZZ_OPTIONAL=1) says so and goes
# on where a person runs it on a machine that cannot fuzz; CI (FUZZ_REQUIRED=1, set by .ci/run)
# and `make fuzz` fail.
skipped() {
  echo "fuzz: SKIPPED: $1" >&2
  if [ "${FUZZ_OPTIONAL:-}" = 1 ] && [ "${FUZZ_REQUIRED:-}" != 1 ]; then
    exit 0
  fi
  exit 1
}

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: installing rustup's nightly toolchain" >&2
  if ! timeout 300 rustup toolchain install nightly --profile minimal >&2; then
    skipped "rustup's nightly toolchain is not installed and cannot be downloaded here"
  fi
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked >&2
fi

for target in "${targets[@]}"; do
  corpus="$cache/fuzz-corpus/$target"
  mkdir -p "$corpus"
  seeds=()
  [ -d "fuzz/seeds/$target" ] && seeds=("fuzz/seeds/$target")
  log=$(mktemp)
  # -s none: the code is safe Rust, so sanitizers add cost and find nothing; panics are the bugs.
  if ! cargo +nightly fuzz run -s none --target-dir "$cache/target-fuzz" "$target" "$corpus" "${seeds[@]}" -- \
      -max_total_time="$seconds" -dict=fuzz/json.dict -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fuzz $target: CRASH (input saved under fuzz/artifacts/$target)" >&2
    rm -f "$log"
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rm -f "$log"
  if ! [ "${runs:-0}" -gt 0 ] 2>/dev/null; then
    skipped "$target ran no input (libFuzzer reported ${runs:-no count})"
  fi
  echo "fuzz $target: $runs executions in ${seconds}s, no crash"
done
