#!/usr/bin/env bats
# The compiled module's interface: what the Kubewarden policy server needs from a waPC policy.

setup() {
  POLICY=${POLICY:-policy.wasm}
  [ -f "$POLICY" ]
}

@test "exports wapc_init and __guest_call" {
  run wasm-objdump -j Export -x "$POLICY"
  [ "$status" -eq 0 ]
  [[ "$output" == *'-> "wapc_init"'* ]]
  [[ "$output" == *'-> "__guest_call"'* ]]
}

@test "imports only waPC and WASI functions" {
  run wasm-objdump -j Import -x "$POLICY"
  [ "$status" -eq 0 ]
  imports=$(grep -E '^ - ' <<<"$output")
  [ -n "$imports" ]
  others=$(grep -vE '<- (wapc|wasi_snapshot_preview1)\.' <<<"$imports" || true)
  if [ -n "$others" ]; then
    echo "unexpected imports:"; echo "$others"
    return 1
  fi
  grep -q '<- wapc\.__guest_request' <<<"$imports"
  grep -q '<- wapc\.__host_call' <<<"$imports"
}

@test "is at most 1.25 MiB, as the policy server downloads and compiles it" {
  size=$(stat -c %s "$POLICY")
  echo "size: $size bytes"
  [ "$size" -le 1310720 ]
}
