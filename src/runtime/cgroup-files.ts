import { readFile } from 'node:fs/promises';
import type { ResourceUsage, UsageWatch } from './container-runtime.js';

/** Where a process's cgroup counters are on this host (cgroup v1 or v2). */
export interface CgroupFiles {
  /** Nanoseconds (v1 cpuacct.usage) or a cpu.stat file whose usage_usec counts microseconds (v2). */
  cpu: { file: string; unit: 'ns' | 'cpu.stat' };
  /** The memory high-water mark: v1 memory.max_usage_in_bytes (resettable by writing 0), v2 memory.peak (kernel 5.19+). */
  peak: string | undefined;
}

/** The cgroup counters of process `pid` on this host, or undefined where this host cannot show them. */
export async function cgroupFiles(pid: number): Promise<CgroupFiles | undefined> {
  // Lines of /proc/<pid>/cgroup: `<id>:<controllers>:<path>`; cgroup v2 is the one with no controllers (`0::<path>`).
  const groups = (await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => ''))
    .split('\n')
    .map((line) => /^\d+:([^:]*):(.*)$/.exec(line))
    .filter((match): match is RegExpExecArray => match !== null)
    .map(([, controllers = '', cgroupPath = '']) => ({ controllers, cgroupPath }));
  const v1 = (controller: string): { controllers: string; cgroupPath: string } | undefined => groups.find((group) => group.controllers.split(',').includes(controller));
  const isReadable = (file: string): Promise<boolean> => readFile(file, 'utf8').then(() => true, () => false);
  const cpuacct = v1('cpuacct');
  if (cpuacct !== undefined) {
    const memory = v1('memory');
    // The hierarchy is mounted under its controllers' names (`cpu,cpuacct`), or under `cpuacct` alone.
    for (const dir of [cpuacct.controllers, 'cpuacct']) {
      const file = `/sys/fs/cgroup/${dir}${cpuacct.cgroupPath}/cpuacct.usage`;
      if (await isReadable(file)) {
        return { cpu: { file, unit: 'ns' }, peak: memory === undefined ? undefined : `/sys/fs/cgroup/memory${memory.cgroupPath}/memory.max_usage_in_bytes` };
      }
    }
    return undefined;
  }
  const unified = groups.find((group) => group.controllers === '')?.cgroupPath;
  if (unified === undefined) return undefined;
  const peak = `/sys/fs/cgroup${unified}/memory.peak`;
  return { cpu: { file: `/sys/fs/cgroup${unified}/cpu.stat`, unit: 'cpu.stat' }, peak: (await isReadable(peak)) ? peak : undefined };
}

/** The CPU time in the counter, in milliseconds; undefined when it cannot be read (the cgroup is gone). */
export async function readCpuMs(files: CgroupFiles): Promise<number | undefined> {
  const text = await readFile(files.cpu.file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  if (files.cpu.unit === 'ns') return Number(text.trim()) / 1e6;
  const usec = /usage_usec (\d+)/.exec(text)?.[1];
  return usec === undefined ? undefined : Number(usec) / 1000;
}

/** The memory high-water mark in bytes; undefined when there is none or it cannot be read. */
export async function readPeakBytes(files: CgroupFiles): Promise<number | undefined> {
  if (files.peak === undefined) return undefined;
  return Number((await readFile(files.peak, 'utf8').catch(() => '')).trim()) || undefined;
}

/** How often a watched container's counters are read. */
export const CGROUP_POLL_MS = 100;

/**
 * Follows a running container's cgroup counters on this host by reading them every CGROUP_POLL_MS until
 * `stop()`: the CPU time of the last read and the kernel's memory high-water mark. The cgroup goes with the
 * container, so the CPU time of its last moments (under CGROUP_POLL_MS) is not counted; the high-water mark
 * misses only a peak reached in them.
 */
export function watchCgroup(files: CgroupFiles): UsageWatch {
  let usage: ResourceUsage | undefined;
  let isStopped = false;
  let timer: NodeJS.Timeout | undefined;
  let reading: Promise<void> = Promise.resolve();
  const read = async (): Promise<void> => {
    const [cpuMs, peakMemoryBytes] = await Promise.all([readCpuMs(files), readPeakBytes(files)]);
    if (cpuMs === undefined && peakMemoryBytes === undefined) return;
    const peak = Math.max(peakMemoryBytes ?? 0, usage?.peakMemoryBytes ?? 0);
    const cpu = cpuMs ?? usage?.cpuMs;
    usage = { ...(cpu === undefined ? {} : { cpuMs: cpu }), ...(peak > 0 ? { peakMemoryBytes: peak } : {}) };
  };
  const tick = (): void => {
    reading = read().finally(() => {
      if (!isStopped) timer = setTimeout(tick, CGROUP_POLL_MS);
    });
  };
  tick();
  return {
    stop: async () => {
      isStopped = true;
      clearTimeout(timer);
      await reading;
      await read();
      return usage;
    },
  };
}
