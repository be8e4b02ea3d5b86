#!/usr/bin/env bash
# Start rootful Podman's Docker-compatible API service for docker-sim-manager's tests on a bare Debian machine.
#
#   bash scripts/podman-service.sh          install (if missing) and start the service, wait until it answers
#   bash scripts/podman-service.sh status   exit 0 when the service answers
#
# The socket is /run/podman/podman.sock (DSIM_PODMAN_SOCKET to change it). The tests load their fixture images
# from the Docker engine into Podman themselves (docker save | podman load).
set -euo pipefail

socket=${DSIM_PODMAN_SOCKET:-/run/podman/podman.sock}
log_file=${PODMAN_LOG:-/tmp/podman-service.log}
wait_seconds=${PODMAN_WAIT_SECONDS:-60}

service_answers() { curl -fsS --unix-socket "$socket" http://podman/_ping >/dev/null 2>&1; }

if [ "${1:-start}" = "status" ]; then
  service_answers
  exit $?
fi

if service_answers; then
  echo "podman-service: a service already answers at $socket"
  exit 0
fi

missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
# Pool workers run with an init process (--init): Podman's is catatonit.
[ -x /usr/libexec/podman/catatonit ] || [ -x /usr/bin/catatonit ] || missing+=(catatonit)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if ! [ -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then missing+=(busybox-static); fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "podman-service: missing ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "podman-service: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Podman gives every container open-files and processes limits far above what some sandboxes and CI machines
# allow the root user, and then fails every start ("error setting rlimit type 7: operation not permitted").
# Probe what a container may get here, and make those the defaults when no containers.conf says otherwise.
if [ ! -e /etc/containers/containers.conf ]; then
  probe=$(mktemp -d)
  mkdir -p "$probe/bin"
  cp /bin/busybox "$probe/bin/busybox"
  probe_start() { podman run --rm --rootfs "$probe" "$@" /bin/busybox true >/dev/null 2>&1; }
  if ! probe_start; then
    files=$(ulimit -Hn)
    chosen=""
    for processes in "$(ulimit -Hu)" 65536 32768 16384 4096; do
      if probe_start --ulimit "nofile=$files:$files" --ulimit "nproc=$processes:$processes"; then
        chosen=$processes
        break
      fi
    done
    if [ -z "$chosen" ]; then
      echo "podman-service: podman cannot start a container here even with lower limits; see podman run --rootfs $probe /bin/busybox true" >&2
      exit 1
    fi
    mkdir -p /etc/containers
    printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' "$files" "$files" "$chosen" "$chosen" >/etc/containers/containers.conf
    echo "podman-service: default ulimits nofile=$files nproc=$chosen written to /etc/containers/containers.conf"
  fi
  rm -rf "$probe"
fi

mkdir -p "$(dirname "$socket")"
echo "podman-service: starting podman system service (log: $log_file)"
# From /: conmon leaves an empty `oom` file in the service's working directory after an OOM kill (Podman < 5).
(cd / && exec setsid podman system service --time=0 "unix://$socket" >"$log_file" 2>&1 </dev/null) &
for _ in $(seq 1 "$wait_seconds"); do
  if service_answers; then
    echo "podman-service: Podman $(podman version --format '{{.Server.Version}}' 2>/dev/null || podman --version) answers at $socket"
    exit 0
  fi
  sleep 1
done
echo "podman-service: the service did not answer within ${wait_seconds}s; see $log_file" >&2
exit 1
