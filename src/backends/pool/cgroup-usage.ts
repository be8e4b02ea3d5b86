import { readFile, writeFile } from 'node:fs/promises';
import type { ResourceUsage } from '../../runtime/container-runtime.js';

/** Where a process's cgroup counters are on this host (cgroup v1 or v2). */
interface CgroupFiles {
  /** Nanoseconds (v1 cpuacct.usage) or a cpu.stat file whose usage_usec counts microseconds (v2). */
  cpu: { file: string; unit: 'ns' | 'cpu.stat' };
  /** The memory high-water mark, resettable by writing 0 (v1 memory.max_usage_in_bytes); v2 has none to reset. */
  peak: string | undefined;
}

async function cgroupFiles(pid: number): Promise<CgroupFiles | undefined> {
  // Lines of /proc/<pid>/cgroup: `<id>:<controllers>:<path>`; cgroup v2 is the one with no controllers (`0::<path>`).
  const groups = (await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => ''))
    .split('\n')
    .map((line) => /^\d+:([^:]*):(.*)$/.exec(line))
    .filter((match): match is RegExpExecArray => match !== null)
    .map(([, controllers = '', cgroupPath = '']) => ({ controllers, cgroupPath }));
  const v1 = (controller: string): { controllers: string; cgroupPath: string } | undefined => groups.find((group) => group.controllers.split(',').includes(controller));
  const cpuacct = v1('cpuacct');
  if (cpuacct !== undefined) {
    const memory = v1('memory');
    // The hierarchy is mounted under its controllers' names (`cpu,cpuacct`), or under `cpuacct` alone.
    for (const dir of [cpuacct.controllers, 'cpuacct']) {
      const file = `/sys/fs/cgroup/${dir}${cpuacct.cgroupPath}/cpuacct.usage`;
      if (await readFile(file, 'utf8').then(() => true, () => false)) {
        return { cpu: { file, unit: 'ns' }, peak: memory === undefined ? undefined : `/sys/fs/cgroup/memory${memory.cgroupPath}/memory.max_usage_in_bytes` };
      }
    }
    return undefined;
  }
  const unified = groups.find((group) => group.controllers === '')?.cgroupPath;
  return unified === undefined ? undefined : { cpu: { file: `/sys/fs/cgroup${unified}/cpu.stat`, unit: 'cpu.stat' }, peak: undefined };
}

/**
 * A pool worker's CPU time and memory high-water mark, read from its cgroup on this host (pool mode runs on a
 * local engine): per job, the CPU time is the difference of the counter before and after, exact; the peak is the
 * kernel's high-water mark, reset before each job where the driver may (cgroup v1, as root), else unknown.
 */
export class CgroupUsage {
  private constructor(private readonly files: CgroupFiles) {}

  /** The counters of the process `pid`'s cgroup, or undefined where this host cannot show them. */
  static async of(pid: number | undefined): Promise<CgroupUsage | undefined> {
    if (!pid) return undefined;
    const files = await cgroupFiles(pid);
    return files ? new CgroupUsage(files) : undefined;
  }

  private async cpuMs(): Promise<number | undefined> {
    const text = await readFile(this.files.cpu.file, 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    if (this.files.cpu.unit === 'ns') return Number(text.trim()) / 1e6;
    const usec = /usage_usec (\d+)/.exec(text)?.[1];
    return usec === undefined ? undefined : Number(usec) / 1000;
  }

  /** Marks the start of a job: the CPU counter is read and the memory high-water mark reset. */
  async begin(): Promise<{ end(): Promise<ResourceUsage | undefined> }> {
    const { peak } = this.files;
    const isPeakReset = peak !== undefined && (await writeFile(peak, '0').then(() => true, () => false));
    const before = await this.cpuMs();
    return {
      end: async () => {
        const after = await this.cpuMs();
        const peakBytes = isPeakReset && peak ? Number((await readFile(peak, 'utf8').catch(() => '')).trim()) || undefined : undefined;
        const usage: ResourceUsage = {
          ...(before === undefined || after === undefined ? {} : { cpuMs: Math.max(0, after - before) }),
          ...(peakBytes === undefined ? {} : { peakMemoryBytes: peakBytes }),
        };
        return Object.keys(usage).length > 0 ? usage : undefined;
      },
    };
  }
}
