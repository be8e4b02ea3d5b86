import { writeFile } from 'node:fs/promises';
import { cgroupFiles, readCpuMs, readPeakBytes, type CgroupFiles } from '../../runtime/cgroup-files.js';
import type { ResourceUsage } from '../../runtime/container-runtime.js';

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

  /** Marks the start of a job: the CPU counter is read and the memory high-water mark reset. */
  async begin(): Promise<{ end(): Promise<ResourceUsage | undefined> }> {
    const { peak } = this.files;
    const isPeakReset = peak !== undefined && (await writeFile(peak, '0').then(() => true, () => false));
    const before = await readCpuMs(this.files);
    return {
      end: async () => {
        const after = await readCpuMs(this.files);
        const peakBytes = isPeakReset ? await readPeakBytes(this.files) : undefined;
        const usage: ResourceUsage = {
          ...(before === undefined || after === undefined ? {} : { cpuMs: Math.max(0, after - before) }),
          ...(peakBytes === undefined ? {} : { peakMemoryBytes: peakBytes }),
        };
        return Object.keys(usage).length > 0 ? usage : undefined;
      },
    };
  }
}
