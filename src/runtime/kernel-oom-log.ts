import { closeSync, constants, openSync, readSync } from 'node:fs';

/** Whether this process may read the kernel's log (`/dev/kmsg`: root, or CAP_SYSLOG, on Linux). */
export function canReadKernelLog(): boolean {
  try {
    closeSync(openSync('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK));
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether the kernel's log records an OOM kill in the memory cgroup of container `containerId` (the full id):
 * the kernel writes `oom-kill:constraint=CONSTRAINT_MEMCG,…,oom_memcg=/docker/<id>` (`libpod-<id>` for Podman)
 * as it kills, before the container can exit. Engines lose their own OOM flag at times (Docker 20.10 on cgroup
 * v1 misses some of containerd's OOM events; Podman before 5.0 never sets it), so a SIGKILL exit is checked here
 * too. False where the log cannot be read (not root, not Linux) or has already rotated the record out.
 */
export function kernelLoggedOomKill(containerId: string): boolean {
  let fd: number;
  try {
    fd = openSync('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return false;
  }
  const record = Buffer.alloc(8192);
  try {
    for (;;) {
      let size: number;
      try {
        size = readSync(fd, record, 0, record.length, null);
      } catch (error) {
        // EPIPE: records were overwritten while reading; the next read goes on from the oldest kept.
        if ((error as NodeJS.ErrnoException).code === 'EPIPE') continue;
        return false; // EAGAIN: the end of the log
      }
      if (size <= 0) return false;
      const text = record.toString('utf8', 0, size);
      if (text.includes('oom-kill:') && text.includes(containerId)) return true;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The kernel's answer per container, asked once: a SIGKILL exit is inspected several times while the engine's
 * own flag may still come, but the kernel writes its record before the container can exit, so a second look
 * would find nothing new. Keeps the answers of the last 256 containers.
 */
export class KernelOomRecords {
  private readonly answers = new Map<string, boolean>();

  hasKilled(containerId: string): boolean {
    let answer = this.answers.get(containerId);
    if (answer === undefined) {
      answer = kernelLoggedOomKill(containerId);
      this.answers.set(containerId, answer);
      if (this.answers.size > 256) this.answers.delete(this.answers.keys().next().value as string);
    }
    return answer;
  }
}
