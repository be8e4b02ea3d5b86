#!/usr/bin/env bash
# Start a Docker engine for docker-sim-manager's tests and demos on a bare Debian machine.
#
#   bash scripts/docker-engine.sh          install (if missing) and start dockerd, wait until it answers
#   bash scripts/docker-engine.sh status   exit 0 when an engine answers
#
# The engine runs without a bridge network (--bridge=none) and without touching iptables, so it works in
# sandboxes and CI machines; containers started by the tests use network mode "none".
set -euo pipefail

log_file=${DOCKERD_LOG:-/tmp/dockerd.log}
wait_seconds=${DOCKERD_WAIT_SECONDS:-60}

engine_answers() { docker info >/dev/null 2>&1; }

if [ "${1:-start}" = "status" ]; then
  engine_answers
  exit $?
fi

if engine_answers; then
  echo "docker-engine: an engine already answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
  exit 0
fi

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
# The test images are built FROM scratch around the host's static busybox (busybox-static).
if ! [ -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then missing+=(busybox-static); fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "docker-engine: missing ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "docker-engine: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "docker-engine: dockerd must be started as root (sudo bash $0)" >&2
  exit 1
fi

echo "docker-engine: starting dockerd (log: $log_file)"
setsid dockerd --bridge=none --iptables=false --ip6tables=false >"$log_file" 2>&1 < /dev/null &

for _ in $(seq 1 "$wait_seconds"); do
  if engine_answers; then
    echo "docker-engine: engine ready ($(docker version --format '{{.Server.Version}}'))"
    exit 0
  fi
  sleep 1
done
echo "docker-engine: dockerd did not answer within ${wait_seconds}s; last lines of $log_file:" >&2
tail -n 20 "$log_file" >&2 || true
exit 1
