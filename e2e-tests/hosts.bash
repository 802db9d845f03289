# Real servers for the e2e suites, on 127.0.0.1: Debian's docker-registry (an OCI registry over
# plain HTTP). Every process started here is stopped by stop_process, which the suites call in
# teardown_file, so that it runs even when a test fails.

# free_port: a TCP port nothing listens on now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_until SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds; fails after SECONDS.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "gave up after waiting for: $*" >&2
      return 1
    fi
    sleep 0.1
  done
}

# start_registry DIR: an empty registry storing under DIR. Sets REGISTRY (host:port), REGISTRY_PID
# and SOURCES, a kwctl/policy-server sources file that lets them use it over plain HTTP.
start_registry() {
  local dir=$1 port
  command -v docker-registry >/dev/null || "$ROOT/scripts/ensure-debian-packages.sh" docker-registry
  mkdir -p "$dir/storage"
  port=$(free_port)
  REGISTRY=127.0.0.1:$port
  cat >"$dir/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
http:
  addr: $REGISTRY
EOF
  printf 'insecure_sources: ["%s"]\n' "$REGISTRY" >"$dir/sources.yml"
  SOURCES=$dir/sources.yml
  # fd 3 closed: bats waits for every holder of its fd 3 before it finishes.
  docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 3>&- &
  REGISTRY_PID=$!
  wait_until 20 curl -fsS "http://$REGISTRY/v2/" || {
    cat "$dir/registry.log" >&2
    return 1
  }
}

# stop_process PID: stops it (TERM, then KILL after 5 s) and reaps it; no PID, nothing to do.
stop_process() {
  local pid=${1:-}
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
