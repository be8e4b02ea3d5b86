import { readFileSync } from 'node:fs';
import os from 'node:os';
import { LABELS } from './labels.js';

/**
 * The start time of a process on Linux (clock ticks since boot, field 22 of /proc/<pid>/stat), to tell a
 * process from a later one that reuses its pid. Undefined elsewhere.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const OWNER_START = processStartTime(process.pid);
/** Asked once per process: every job of a sweep carries the same owner. */
let owner: Readonly<Record<string, string>> | undefined;

/** The labels that say which driver process (host, pid, start time) made an engine object. */
export function ownerLabels(): Readonly<Record<string, string>> {
  owner ??= Object.freeze({
    [LABELS.ownerHost]: os.hostname(),
    [LABELS.ownerPid]: String(process.pid),
    ...(OWNER_START === undefined ? {} : { [LABELS.ownerStart]: OWNER_START }),
  });
  return owner;
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * Whether the process that created a container is gone. Only containers made on this host can be judged: the
 * owner's pid must be dead, or alive but started at another time (the pid was reused).
 */
export function isOwnerGone(labels: Readonly<Record<string, string>>, hostname = os.hostname()): boolean {
  if (labels[LABELS.ownerHost] !== hostname) return false;
  const pid = Number(labels[LABELS.ownerPid]);
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (!isProcessAlive(pid)) return true;
  const started = labels[LABELS.ownerStart];
  const current = processStartTime(pid);
  return started !== undefined && current !== undefined && started !== current;
}
