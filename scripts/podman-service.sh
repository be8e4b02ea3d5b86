#!/usr/bin/env bash
# Start rootful Podman's Docker-compatible API service for docker-sim-manager's tests on a bare Debian machine.
#
#   bash scripts/podman-service.sh          install (if missing) and start the service, wait until it answers
#   bash scripts/podman-service.sh status   exit 0 when the service answers
#
# The socket is /run/podman/podman.sock (DSIM_PODMAN_SOCKET to change it). The tests load their fixture images
# from the Docker engine into Podman themselves (docker save | podman load). The registry tests' plain-HTTP
# registry on 127.0.0.1 is marked insecure in /etc/containers/registries.conf.d/ (a running service reloads it).
set -euo pipefail

socket=${DSIM_PODMAN_SOCKET:-/run/podman/podman.sock}
log_file=${PODMAN_LOG:-/tmp/podman-service.log}
wait_seconds=${PODMAN_WAIT_SECONDS:-60}

service_answers() { curl -fsS --unix-socket "$socket" http://podman/_ping >/dev/null 2>&1; }

if [ "${1:-start}" = "status" ]; then
  service_answers
  exit $?
fi

# Docker talks plain HTTP to a registry on 127.0.0.0/8 without being told; Podman talks HTTPS to every registry
# that registries.conf does not mark `insecure` ("http: server gave HTTP response to HTTPS client"). The registry
# tests run a plain-HTTP registry on 127.0.0.1 and a free port, so mark 127.0.0.1 insecure for Podman: an entry
# without a port matches every port of that host (containers/image matches the location as a prefix up to a `:`).
# The service reads registries.conf once; a running one reloads it on SIGHUP.
registry_conf=/etc/containers/registries.conf.d/50-dsim-test-registry.conf
registry_entry=$'# docker-sim-manager tests (scripts/podman-service.sh): the test registry on 127.0.0.1 speaks plain HTTP.\n[[registry]]\nlocation = "127.0.0.1"\ninsecure = true'
registry_conf_changed=false
if [ "$(cat "$registry_conf" 2>/dev/null)" != "$registry_entry" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "podman-service: $registry_conf is missing; run as root, or the registry tests on Podman fail with \"server gave HTTP response to HTTPS client\"" >&2
  else
    mkdir -p "$(dirname "$registry_conf")"
    printf '%s\n' "$registry_entry" >"$registry_conf"
    registry_conf_changed=true
    echo "podman-service: 127.0.0.1 marked as an insecure (plain HTTP) registry in $registry_conf"
  fi
fi

# Whether the service's registries (its own view of registries.conf) mark 127.0.0.1 insecure.
service_knows_registry() {
  curl -fsS --unix-socket "$socket" http://podman/v4.0.0/libpod/info 2>/dev/null | tr -d ' \n' | grep -q '"127.0.0.1":{[^}]*"Insecure":true'
}

if service_answers; then
  if $registry_conf_changed || ! service_knows_registry; then
    pid=$(ss -xlpnH src "$socket" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)
    if [ -n "$pid" ]; then
      kill -HUP "$pid"
      for _ in $(seq 1 "$wait_seconds"); do
        service_knows_registry && break
        sleep 1
      done
    fi
    if service_knows_registry; then
      echo "podman-service: the service at $socket reloaded registries.conf"
    else
      echo "podman-service: the service at $socket does not see $registry_conf; restart it" >&2
      exit 1
    fi
  fi
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
