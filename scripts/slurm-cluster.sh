#!/usr/bin/env bash
# Start a one-node Slurm cluster (munge, slurmctld, slurmd on this machine) for docker-sim-manager's tests and
# CI on a bare Debian 12 machine (slurm-wlm 22.05), as root and without systemd.
#
#   bash scripts/slurm-cluster.sh          install (if missing), configure (if unconfigured) and start the
#                                          daemons, wait until the node is usable
#   bash scripts/slurm-cluster.sh status   exit 0 when sinfo shows a usable node (idle, mixed or allocated)
#
# /etc/slurm/slurm.conf is written only when it does not exist: an existing one is used as it is. The one written
# here has one node (this host, all its CPUs, about 80% of its memory) in one default partition "main", tracks
# processes without cgroups (proctrack/linuxproc, task/none, jobacct_gather/none: no cgroup.conf needed), enforces
# --time (a job past it ends as TIMEOUT), keeps finished jobs in `scontrol show job` for MinJobAge=300 s and has
# no accounting storage (sacct has nothing to say); every finished job is also appended to
# /var/log/slurm/jobcomp.log (jobcomp/filetxt: JobId, JobState, ExitCode...). A job without --mem gets
# DefMemPerCPU (the node's memory shared out per CPU), so jobs without --mem do not each claim the whole node.
# Memory limits are not enforced by Slurm without cgroups: give containers their own memory limit.
# scancel and a --time limit signal the batch script's processes (SIGTERM, SIGKILL KillWait=5 s later), not a
# container the Docker engine runs: a batch script that runs `docker run` must trap TERM and stop its container.
#
# Logs: /var/log/slurm/slurmctld.log, /var/log/slurm/slurmd.log, /var/log/munge/munged.log
# (/var/log/slurm/munged-start.log for what munged says before it detaches).
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin

conf=/etc/slurm/slurm.conf
log_dir=${SLURM_LOG_DIR:-/var/log/slurm}
spool=/var/spool/slurm
wait_seconds=${SLURM_WAIT_SECONDS:-60}
usable_states='idle|mix|mixed|alloc|allocated|comp|completing'

# scontrol ping first: it answers at once, while sinfo spends about 9 s retrying a controller that is not there.
controller_answers() { timeout 20 scontrol ping 2>/dev/null | grep -q 'is UP'; }
node_usable() { controller_answers && timeout 20 sinfo -h -o %t 2>/dev/null | grep -Eqx "$usable_states"; }

if [ "${1:-start}" = "status" ]; then
  node_usable
  exit $?
fi

describe() {
  # The first node of the default partition: "<node> <state> <partition> <cpus>".
  timeout 20 sinfo -h -N -o '%N %t %P %c' 2>/dev/null | sed -n 's/\* / /;1p'
}

ready_line() {
  local node state partition cpus
  read -r node state partition cpus <<<"$(describe)"
  echo "slurm-cluster: node $node $state (partition $partition, CPUs $cpus)"
}

if node_usable; then
  echo "slurm-cluster: a cluster already answers; $(ready_line | sed 's/^slurm-cluster: //')"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "slurm-cluster: the Slurm daemons must be installed and started as root (sudo bash $0)" >&2
  exit 1
fi

missing=()
{ command -v sbatch && command -v slurmctld && command -v slurmd; } >/dev/null 2>&1 || missing+=(slurm-wlm)
command -v munged >/dev/null 2>&1 || missing+=(munge)
if [ ${#missing[@]} -gt 0 ]; then
  echo "slurm-cluster: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  # Keep the packages' maintainer scripts from starting daemons themselves (they are started below).
  own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=yes
  fi
  apt-get update -qq
  install_status=0
  apt-get install -y -qq "${missing[@]}" >/dev/null || install_status=$?
  [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
  if [ "$install_status" -ne 0 ]; then
    echo "slurm-cluster: apt-get install ${missing[*]} failed" >&2
    exit 1
  fi
fi

mkdir -p "$log_dir" "$spool/ctld" "$spool/d" /etc/slurm
chmod 755 "$spool" "$spool/ctld" "$spool/d"

# --- munge -----------------------------------------------------------------------------------------------------
munge_answers() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
install -d -o munge -g munge -m 700 /etc/munge /var/lib/munge
install -d -o munge -g munge -m 755 /run/munge /var/log/munge
if [ ! -s /etc/munge/munge.key ]; then
  echo "slurm-cluster: creating /etc/munge/munge.key"
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
# munged refuses a log file that the munge user does not own.
[ ! -e /var/log/munge/munged.log ] || chown munge:munge /var/log/munge/munged.log
if ! munge_answers; then
  echo "slurm-cluster: starting munged (log: /var/log/munge/munged.log)"
  # munged detaches itself once its socket is ready and then logs to /var/log/munge/munged.log; what it says
  # before that (a bad key, insecure permissions) goes to $log_dir/munged-start.log.
  start_status=0
  (cd / && exec setsid runuser -u munge -- /usr/sbin/munged) </dev/null >>"$log_dir/munged-start.log" 2>&1 || start_status=$?
  for _ in $(seq 1 10); do munge_answers && break; sleep 1; done
  if ! munge_answers; then
    echo "slurm-cluster: munged does not answer (exit status $start_status); last lines of $log_dir/munged-start.log and /var/log/munge/munged.log:" >&2
    tail -n 5 "$log_dir/munged-start.log" /var/log/munge/munged.log >&2 2>/dev/null || true
    exit 1
  fi
fi

# --- slurm.conf ------------------------------------------------------------------------------------------------
if [ ! -e "$conf" ]; then
  host=$(hostname -s)
  cpus=$(nproc)
  mem_mb=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.8 }' /proc/meminfo)
  def_mem=$((mem_mb / cpus))
  echo "slurm-cluster: writing $conf (node $host, CPUs $cpus, RealMemory ${mem_mb}M)"
  cat >"$conf" <<EOF
# Written by docker-sim-manager's scripts/slurm-cluster.sh: a one-node cluster without systemd or cgroups.
ClusterName=dsim
SlurmctldHost=$host
AuthType=auth/munge
CryptoType=crypto/munge
SlurmUser=root
SlurmdUser=root
MpiDefault=none
MailProg=/bin/true
SwitchType=switch/none
# No cgroup plugins (cgroup v1 on a tmpfs, no systemd): track processes through /proc, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# sacct has no storage to read: every finished job is appended here (JobId, UserId, JobState, ExitCode, ...).
JobCompType=jobcomp/filetxt
JobCompLoc=$log_dir/jobcomp.log
SchedulerType=sched/backfill
# Start a submitted batch job at once (the default batch_sched_delay=3 made every job wait about 3 s).
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# A job without --mem gets this much per CPU (instead of the whole node's memory).
DefMemPerCPU=$def_mem
StateSaveLocation=$spool/ctld
SlurmdSpoolDir=$spool/d
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldPort=6817
SlurmdPort=6818
# Finished jobs stay visible to scontrol show job for MinJobAge seconds.
MinJobAge=300
# --time is enforced: a job past its limit is signalled, killed KillWait seconds later and ends as TIMEOUT
# (slurmctld looks at limits about every 30 s: a 1-minute job ended after 78 s).
OverTimeLimit=0
KillWait=5
# A node that was down for not answering (e.g. slurmd restarted) returns to service when it registers.
ReturnToService=2
SlurmdTimeout=60
SlurmctldTimeout=60
InactiveLimit=0
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  chmod 644 "$conf"
else
  echo "slurm-cluster: using the existing $conf"
fi

# --- slurmctld, slurmd -----------------------------------------------------------------------------------------
# Both log "mpi/pmix_v4: ... can not load PMIx library" at start (Debian ships the plugin, not libpmix): harmless,
# jobs use MpiDefault=none.
running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if ! controller_answers; then
  echo "slurm-cluster: starting slurmctld (log: $log_dir/slurmctld.log)"
  # -D: stay in the foreground (under setsid, in the background here) and log to stderr, whatever the config says.
  # exec, and the redirections on the subshell: no process is left holding this script's stdout or stderr (a
  # caller reading them through a pipe would otherwise wait for as long as the daemon runs).
  (cd / && exec setsid slurmctld -D) </dev/null >>"$log_dir/slurmctld.log" 2>&1 &
  for _ in $(seq 1 "$wait_seconds"); do controller_answers && break; sleep 1; done
  if ! controller_answers; then
    echo "slurm-cluster: slurmctld did not answer within ${wait_seconds}s; last lines of $log_dir/slurmctld.log:" >&2
    tail -n 20 "$log_dir/slurmctld.log" >&2 || true
    exit 1
  fi
fi

slurmd_pid_file=$(scontrol show config 2>/dev/null | awk '$1 == "SlurmdPidFile" { print $3 }')
if ! running "${slurmd_pid_file:-/run/slurmd.pid}"; then
  echo "slurm-cluster: starting slurmd (log: $log_dir/slurmd.log)"
  (cd / && exec setsid slurmd -D) </dev/null >>"$log_dir/slurmd.log" 2>&1 &
fi

resumed=""
for second in $(seq 1 "$wait_seconds"); do
  if node_usable; then
    ready_line
    exit 0
  fi
  # A node left down or drained (by an earlier run, a restart, or a state file) is put back once slurmd is up.
  if [ -z "$resumed" ] && [ "$second" -ge 3 ]; then
    read -r node state _ <<<"$(describe)"
    case "$state" in
      down* | drain* | drng* | unk* | fail*)
        echo "slurm-cluster: node $node is $state; scontrol update nodename=$node state=resume"
        scontrol update nodename="$node" state=resume 2>&1 | sed 's/^/slurm-cluster: /' || true
        resumed=yes
        ;;
    esac
  fi
  sleep 1
done
echo "slurm-cluster: the node is not usable within ${wait_seconds}s ($(describe)); last lines of $log_dir/slurmd.log:" >&2
tail -n 20 "$log_dir/slurmd.log" >&2 || true
echo "slurm-cluster: see also $log_dir/slurmctld.log and scontrol show node" >&2
exit 1
