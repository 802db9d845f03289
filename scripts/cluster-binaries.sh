#!/usr/bin/env bash
# Prints the directory holding etcd, kube-apiserver, kube-controller-manager and kubectl at the
# versions pinned by e2e-tests/cluster/go.mod, building whichever is missing.
#
# A binary of the pinned version already on PATH is linked as it is. The others are built with
# Go from the Go module proxy into $CACHE/cluster/<kubernetes version>-<go.sum digest>/, so a
# second run, or a fresh clone on the same machine, builds nothing; a change of go.mod or go.sum
# builds into a new directory. Test infrastructure only: the product is the Rust crate.
#
# Progress goes to stderr; stdout is the directory alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
module=$root/e2e-tests/cluster
CACHE=${CACHE:-$HOME/.cache/sidecar-injector}

# The version go.mod requires of a module.
required() {
  local version
  version=$(sed -n "s|^[[:space:]]*\(require \)\{0,1\}$1 \(v[0-9][^ ]*\).*|\2|p" "$module/go.mod" | head -n 1)
  [ -n "$version" ] || { echo "cluster-binaries: $module/go.mod does not require $1" >&2; return 1; }
  echo "$version"
}
kubernetes=$(required k8s.io/kubernetes)
etcd=$(required go.etcd.io/etcd/server/v3)
digest=$(cat "$module/go.mod" "$module/go.sum" | sha256sum | cut -c1-12)
bin=$CACHE/cluster/$kubernetes-$digest
mkdir -p "$bin"

# The version a binary reports, as "<name> <version>".
reported() {
  case "$1" in
    etcd) "$2" --version 2>/dev/null | sed -n 's/^etcd Version: /etcd v/p' ;;
    kubectl) "$2" version --client -o json 2>/dev/null | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/kubectl \1/p' | head -n 1 ;;
    *) "$2" --version 2>/dev/null | sed -n "s/^Kubernetes /$1 /p" ;;
  esac
}
wanted() {
  case "$1" in
    etcd) echo "etcd $etcd" ;;
    *) echo "$1 $kubernetes" ;;
  esac
}
package() {
  case "$1" in
    etcd) echo go.etcd.io/etcd/server/v3 ;;
    *) echo "k8s.io/kubernetes/cmd/$1" ;;
  esac
}

missing=()
for name in etcd kube-apiserver kube-controller-manager kubectl; do
  [ -x "$bin/$name" ] && [ "$(reported "$name" "$bin/$name")" = "$(wanted "$name")" ] && continue
  on_path=$(command -v "$name" 2>/dev/null || true)
  if [ -n "$on_path" ] && [ "$on_path" != "$bin/$name" ] && [ "$(reported "$name" "$on_path")" = "$(wanted "$name")" ]; then
    ln -sf "$on_path" "$bin/$name"
    echo "cluster-binaries: $(wanted "$name") from PATH ($on_path)" >&2
    continue
  fi
  missing+=("$name")
done

if [ ${#missing[@]} -gt 0 ]; then
  command -v go >/dev/null || { echo "cluster-binaries: go is not installed, and ${missing[*]} must be built with it" >&2; exit 1; }
  echo "cluster-binaries: building ${missing[*]} (Kubernetes $kubernetes, etcd $etcd) with $(go version | cut -d' ' -f3) into $bin; the first build takes about 5 minutes on 2 cores" >&2
  build=$(mktemp -d "$bin/.build-XXXXXX")
  trap 'rm -rf "$build"' EXIT
  packages=()
  for name in "${missing[@]}"; do packages+=("$(package "$name")"); done
  # The version the Kubernetes binaries report is stamped in by their release build; without it
  # they say v0.0.0-master, and kubectl warns of a version skew against the API server.
  (cd "$module" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$kubernetes" -o "$build/" "${packages[@]}")
  for name in "${missing[@]}"; do
    # go build names etcd's binary after its package's last element without the major version.
    built=$build/$name
    [ "$name" = etcd ] && built=$build/server
    mv -f "$built" "$bin/$name"
    [ "$(reported "$name" "$bin/$name")" = "$(wanted "$name")" ] || {
      echo "cluster-binaries: the $name built reports '$(reported "$name" "$bin/$name")', not '$(wanted "$name")'" >&2
      exit 1
    }
  done
fi
echo "$bin"
