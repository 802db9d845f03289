#!/usr/bin/env bash
# sidecar-injector in the real Kubewarden policy-server, against its floors, in one run: one
# policy-server (2 workers, its default log level, HTTPS on 127.0.0.1) serves
#   ours          the opt-in example's settings: the typical Pod is injected
#   minimal       the minimal injector, given the same sidecar already rendered for that Pod
#   ours-skip     the same settings with policy: disabled: the typical Pod is not injected
#   no-op         the no-op module, given the same settings as ours-skip
# and wrk posts the typical Pod's AdmissionReview to each in turn, with 4 client threads (one
# connection each), ROUNDS times DURATION seconds, alternating. Every answer is checked: HTTP 200
# and the expected verdict; anything else counts as an error.
#
# Needs policy-server and kwctl on PATH, policy.wasm, bench/baseline.wasm and bench/minimal.wasm
# (scripts/bench.sh builds them). DURATION (default 10) and ROUNDS (default 3) set the length;
# FIXTURE another fixture of bench/src/lib.rs (default typical; istio: the settings of
# examples/istio) for ours, the minimal injector and the skip; POLICY_WASM another module to serve
# as ours. AGAINST_WASM another build of this policy to serve
# beside ours, with the same settings (as "against" and "against-skip"): two implementations side
# by side.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${DURATION:-10} rounds=${ROUNDS:-3}
cache=${CACHE:-$HOME/.cache/sidecar-injector}
scripts/ensure-debian-packages.sh wrk openssl curl jq yq
work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The fixture's parts, from the benchmarks' own generator.
fixture() {
  CARGO_TARGET_DIR="$cache/target-runner" cargo run --quiet --locked --release \
    --manifest-path bench/Cargo.toml --example fixture -- "$@"
}
fixture "${FIXTURE:-typical}" review >"$work/review.json"
fixture "${FIXTURE:-typical}" settings >"$work/settings.json"
fixture "${FIXTURE:-typical}" minimal-settings >"$work/minimal-settings.json"
jq '.policy = "disabled"' "$work/settings.json" >"$work/skip-settings.json"

# policy-server only loads annotated modules.
cat >"$work/metadata.yml" <<'EOF'
rules:
  - {apiGroups: [""], apiVersions: ["v1"], resources: ["pods"], operations: ["CREATE"]}
mutating: true
executionMode: kubewarden-wapc
EOF
kwctl annotate -m policy-metadata.yml -o "$work/ours.wasm" "${POLICY_WASM:-policy.wasm}" >/dev/null
kwctl annotate -m "$work/metadata.yml" -o "$work/minimal.wasm" bench/minimal.wasm >/dev/null
kwctl annotate -m "$work/metadata.yml" -o "$work/no-op.wasm" bench/baseline.wasm >/dev/null
entry() {
  printf '%s:\n  module: file://%s\n  allowedToMutate: true\n  settings: %s\n' "$1" "$2" "$(jq -c . "$3")"
}
{
  entry ours "$work/ours.wasm" "$work/settings.json"
  entry minimal "$work/minimal.wasm" "$work/minimal-settings.json"
  entry ours-skip "$work/ours.wasm" "$work/skip-settings.json"
  entry no-op "$work/no-op.wasm" "$work/skip-settings.json"
  if [ -n "${AGAINST_WASM:-}" ]; then
    kwctl annotate -m policy-metadata.yml -o "$work/against.wasm" "$AGAINST_WASM" >/dev/null
    entry against "$work/against.wasm" "$work/settings.json"
    entry against-skip "$work/against.wasm" "$work/skip-settings.json"
  fi
} >"$work/policies.yml"

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(port) readiness=$(port)
mkdir -p "$work/downloads" "$work/sigstore"
policy-server --addr 127.0.0.1 --port "$port" --readiness-probe-port "$readiness" --workers 2 \
  --cert-file "$work/cert.pem" --key-file "$work/key.pem" --ignore-kubernetes-connection-failure \
  --policies "$work/policies.yml" --policies-download-dir "$work/downloads" \
  --sigstore-cache-dir "$work/sigstore" >"$work/policy-server.log" 2>&1 &
server=$!
for _ in $(seq 600); do
  curl -fsS "http://127.0.0.1:$readiness/readiness" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$work/policy-server.log" >&2; exit 1; }
  sleep 0.2
done

# What each policy must answer: the mark every answer's body must hold.
declare -A expected=(
  [ours]='"patchType":"JSONPatch"' [minimal]='"patchType":"JSONPatch"'
  [ours-skip]='"injected":"false"' [no-op]='"allowed":true'
)
policies=(ours minimal ours-skip no-op)
if [ -n "${AGAINST_WASM:-}" ]; then
  expected[against]=${expected[ours]} expected[against-skip]=${expected[ours-skip]}
  policies+=(against against-skip)
fi
for policy in "${policies[@]}"; do
  answer=$(curl -fsS --cacert "$work/cert.pem" -H 'Content-Type: application/json' \
    --data-binary @"$work/review.json" "https://127.0.0.1:$port/validate/$policy")
  [[ "$answer" == *"${expected[$policy]}"* ]] || {
    echo "$policy: unexpected answer: $answer" >&2
    exit 1
  }
done

cat >"$work/post.lua" <<'EOF'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  local file = io.open(args[1], "rb")
  wrk.body = file:read("*a")
  file:close()
  expected = args[2]
  bad = 0
end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, expected, 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local wrong = 0
  for _, thread in ipairs(threads) do wrong = wrong + thread:get("bad") end
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.timeout + wrong))
end
EOF

load() { # POLICY SECONDS: one wrk run; prints "requests duration_us p50_us p99_us errors".
  wrk -t4 -c4 -d"$2s" --latency -s "$work/post.lua" "https://127.0.0.1:$port/validate/$1" \
    -- "$work/review.json" "${expected[$1]}" | sed -n 's/^RESULT //p'
}
for policy in "${policies[@]}"; do load "$policy" 2 >/dev/null; done # warm up
declare -A requests=() seconds=() errors=() p50=() p99=()
for round in $(seq "$rounds"); do
  for policy in "${policies[@]}"; do
    read -r n us median tail wrong < <(load "$policy" "$duration")
    requests[$policy]=$((${requests[$policy]:-0} + n))
    seconds[$policy]=$(awk -v a="${seconds[$policy]:-0}" -v b="$us" 'BEGIN { print a + b / 1e6 }')
    errors[$policy]=$((${errors[$policy]:-0} + wrong))
    p50[$policy]="${p50[$policy]:-} $median" p99[$policy]="${p99[$policy]:-} $tail"
  done
done

# The median over the rounds of each round's p50 and p99.
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] / 1000 }'; }
rate() { awk -v n="${requests[$1]}" -v s="${seconds[$1]}" 'BEGIN { printf "%.0f", n / s }'; }
echo
echo "policy-server $(policy-server --version 2>/dev/null | head -n 1 | awk '{ print $NF }'), 2 workers, default log level; wrk: 4 threads, 4 connections, $rounds x ${duration} s each, alternating"
echo "request: the typical Pod ($(wc -c <"$work/review.json") bytes of AdmissionReview); $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
printf '\n%-12s %-14s %9s %9s %9s %8s %8s\n' policy verdict "req/s" "p50 ms" "p99 ms" requests errors
for policy in "${policies[@]}"; do
  case $policy in ours | minimal | against) verdict=injected ;; *) verdict="not injected" ;; esac
  printf '%-12s %-14s %9s %9.2f %9.2f %8s %8s\n' "$policy" "$verdict" "$(rate "$policy")" \
    "$(median <<<"${p50[$policy]}")" "$(median <<<"${p99[$policy]}")" "${requests[$policy]}" "${errors[$policy]}"
done
ratio() { awk -v a="$(rate "$1")" -v b="$(rate "$2")" 'BEGIN { printf "%.2f", a / b }'; }
met() { awk -v r="$1" -v l="$2" 'BEGIN { print (r >= l ? "met" : "MISSED") }'; }
slowest=$(for policy in ours ours-skip; do median <<<"${p99[$policy]}"; done | sort -n | tail -n 1)
total_errors=$((${errors[ours]} + ${errors[minimal]} + ${errors[ours-skip]} + ${errors[no-op]}))
echo
echo "targets"
echo "  injection: throughput $(ratio ours minimal)x the minimal injector's (≥ 0.95x)  $(met "$(ratio ours minimal)" 0.95)"
echo "  not injected: throughput $(ratio ours-skip no-op)x the no-op's (≥ 0.90x)  $(met "$(ratio ours-skip no-op)" 0.9)"
echo "  p99 at most $slowest ms (≤ 5 ms)  $(awk -v p="$slowest" 'BEGIN { print (p <= 5 ? "met" : "MISSED") }')"
echo "  errors: $total_errors (0)  $([ "$total_errors" -eq 0 ] && echo met || echo MISSED)"
if [ -n "${AGAINST_WASM:-}" ]; then
  echo
  echo "ours against $AGAINST_WASM: injection $(ratio ours against)x its throughput, not injected $(ratio ours-skip against-skip)x; errors ${errors[against]} and ${errors[against-skip]}"
fi
