#!/usr/bin/env bash
# Start a rootless Podman API service for an unprivileged user, for docker-sim-manager's rootless tests on a
# bare Debian machine. Run as root: it creates the user when missing (with subordinate uids and gids), installs
# what rootless Podman needs, and starts that user's `podman system service` on the user's own socket.
#
#   bash scripts/podman-rootless.sh          set up and start; prints the socket
#   bash scripts/podman-rootless.sh status   exit 0 when the service answers
#
# The user is DSIM_ROOTLESS_USER (default dsim-rootless); the socket is /run/user/<uid>/podman/podman.sock.
# On machines without systemd, the user's containers.conf selects the cgroupfs manager and the file events log.
set -euo pipefail

user=${DSIM_ROOTLESS_USER:-dsim-rootless}
log_file=${PODMAN_ROOTLESS_LOG:-/tmp/podman-rootless-service.log}
wait_seconds=${PODMAN_WAIT_SECONDS:-60}

if [ "$(id -u)" -ne 0 ]; then
  echo "podman-rootless: run as root (it creates $user and starts the service as that user)" >&2
  exit 1
fi
id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$user"
uid=$(id -u "$user")
home=$(getent passwd "$user" | cut -d: -f6)
runtime_dir=/run/user/$uid
socket=$runtime_dir/podman/podman.sock
as_user() { runuser -u "$user" -- env HOME="$home" XDG_RUNTIME_DIR="$runtime_dir" "$@"; }
service_answers() { curl -fsS --unix-socket "$socket" http://podman/_ping >/dev/null 2>&1; }

if [ "${1:-start}" = "status" ]; then
  service_answers
  exit $?
fi
if service_answers; then
  echo "podman-rootless: a service already answers at $socket"
  exit 0
fi

missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v newuidmap >/dev/null 2>&1 || missing+=(uidmap)
command -v slirp4netns >/dev/null 2>&1 || missing+=(slirp4netns)
command -v fuse-overlayfs >/dev/null 2>&1 || missing+=(fuse-overlayfs)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "podman-rootless: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Subordinate uids and gids: the container's users other than the caller map into this range.
grep -q "^$user:" /etc/subuid || echo "$user:200000:65536" >>/etc/subuid
grep -q "^$user:" /etc/subgid || echo "$user:200000:65536" >>/etc/subgid
mkdir -p "$runtime_dir/podman"
chown -R "$user:" "$runtime_dir"
chmod 700 "$runtime_dir"

conf_dir=$home/.config/containers
if [ ! -e "$conf_dir/containers.conf" ]; then
  mkdir -p "$conf_dir"
  {
    printf '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
    # The limits probed for rootful Podman (scripts/podman-service.sh) hold for the user's containers too.
    if [ -e /etc/containers/containers.conf ] && grep -q '^default_ulimits' /etc/containers/containers.conf; then
      printf '[containers]\n%s\n' "$(grep '^default_ulimits' /etc/containers/containers.conf)"
    fi
  } >"$conf_dir/containers.conf"
  chown -R "$user:" "$home/.config"
fi

echo "podman-rootless: starting podman system service as $user (log: $log_file)"
touch "$log_file" && chown "$user:" "$log_file"
# From the user's home: conmon leaves an empty `oom` file in the service's working directory after an OOM kill.
(cd "$home" && exec runuser -u "$user" -- env HOME="$home" XDG_RUNTIME_DIR="$runtime_dir" setsid podman system service --time=0 "unix://$socket" >"$log_file" 2>&1 </dev/null) &
for _ in $(seq 1 "$wait_seconds"); do
  if service_answers; then
    echo "podman-rootless: rootless Podman answers at $socket (user $user, uid $uid)"
    exit 0
  fi
  sleep 1
done
echo "podman-rootless: the service did not answer within ${wait_seconds}s; see $log_file" >&2
exit 1
