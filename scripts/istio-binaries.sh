#!/usr/bin/env bash
# Prints the directory holding istioctl at the version e2e-tests/istio/go.mod pins, building it
# when it is missing.
#
# istioctl is built with Go from the Go module proxy into
# $CACHE/istio/<istio version>-<go.mod and go.sum digest>/, so a second run, or a fresh clone on
# the same machine, builds nothing; a change of go.mod or go.sum builds into a new directory. No
# istioctl on PATH is used: a release's reports a release version, never the commit pinned here
# (go.mod says why it is a commit). Test infrastructure only: the product is the Rust crate.
#
# Progress goes to stderr; stdout is the directory alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
module=$root/e2e-tests/istio
CACHE=${CACHE:-$HOME/.cache/sidecar-injector}

# The version go.mod requires of istio.io/istio: a pseudo-version, v0.0.0-<time>-<commit>.
istio=$(sed -n 's|^[[:space:]]*\(require \)\{0,1\}istio.io/istio \(v[0-9][^ ]*\).*|\2|p' "$module/go.mod" | head -n 1)
[ -n "$istio" ] || { echo "istio-binaries: $module/go.mod does not require istio.io/istio" >&2; exit 1; }
# The commit: the pseudo-version's last part (12 hexadecimal digits).
commit=${istio##*-}
digest=$(cat "$module/go.mod" "$module/go.sum" | sha256sum | cut -c1-12)
bin=$CACHE/istio/$istio-$digest
mkdir -p "$bin"

# The version istioctl reports of itself, offline.
reported() {
  "$1" version --remote=false -o json 2>/dev/null | jq -r '.clientVersion | "\(.version) \(.revision)"' 2>/dev/null || true
}

if ! [ -x "$bin/istioctl" ] || [ "$(reported "$bin/istioctl")" != "$istio $commit" ]; then
  command -v go >/dev/null || { echo "istio-binaries: go is not installed, and istioctl must be built with it" >&2; exit 1; }
  echo "istio-binaries: building istioctl (istio.io/istio $istio) with $(go version | cut -d' ' -f3) into $bin; the first build takes about 7 minutes on 2 cores, more when they are shared" >&2
  build=$(mktemp -d "$bin/.build-XXXXXX")
  trap 'rm -rf "$build"' EXIT
  # Istio's release build stamps its version into pkg/version (buildVersion, buildGitRevision);
  # without it istioctl says "unknown". Its image hub (buildHub) is left unset: istioctl then keeps
  # the hub and tag of its profiles (registry.istio.io/testing, latest) in what it generates, where
  # a release's would put its own.
  (cd "$module" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X istio.io/istio/pkg/version.buildVersion=$istio -X istio.io/istio/pkg/version.buildGitRevision=$commit" \
    -o "$build/istioctl" istio.io/istio/istioctl/cmd/istioctl)
  mv -f "$build/istioctl" "$bin/istioctl"
  [ "$(reported "$bin/istioctl")" = "$istio $commit" ] || {
    echo "istio-binaries: the istioctl built reports '$(reported "$bin/istioctl")', not '$istio $commit'" >&2
    exit 1
  }
fi
echo "$bin"
