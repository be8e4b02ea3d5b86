import type { Readable } from 'node:stream';
import { splitLines } from '../util/split-lines.js';
import type { ResourceUsage, UsageWatch } from './container-runtime.js';

/** One sample of the engine's container statistics: CPU time and memory (peak where the engine has it). */
function parseStatsSample(line: string): { cpuMs?: number; memoryBytes?: number } | undefined {
  let stats: { read?: string; cpu_stats?: { cpu_usage?: { total_usage?: number } }; memory_stats?: { max_usage?: number; usage?: number } };
  try {
    stats = JSON.parse(line) as typeof stats;
  } catch {
    return undefined;
  }
  // A sample of a container that is no longer running carries zeros: it says nothing.
  const cpu = stats.cpu_stats?.cpu_usage?.total_usage;
  const memory = stats.memory_stats?.max_usage ?? stats.memory_stats?.usage;
  if (!cpu && !memory) return undefined;
  return { ...(cpu ? { cpuMs: cpu / 1e6 } : {}), ...(memory ? { memoryBytes: memory } : {}) };
}

/**
 * Follows a container's statistics stream (opened by `open`) until `stop()`: the CPU time of the last sample and
 * the largest memory figure seen. An error (the container ended, the engine went away) leaves what was seen.
 */
export function watchContainerStats(open: () => Promise<Readable>): UsageWatch {
  let usage: ResourceUsage | undefined;
  let raw: Readable | undefined;
  let isStopped = false;
  const collected = (async () => {
    try {
      raw = await open();
      if (isStopped) raw.destroy();
      for await (const line of splitLines(raw)) {
        const sample = parseStatsSample(line);
        if (!sample) continue;
        const cpuMs = sample.cpuMs ?? usage?.cpuMs;
        const peakMemoryBytes = Math.max(sample.memoryBytes ?? 0, usage?.peakMemoryBytes ?? 0);
        usage = { ...(cpuMs === undefined ? {} : { cpuMs }), ...(peakMemoryBytes > 0 ? { peakMemoryBytes } : {}) };
      }
    } catch {
      // the container ended or the engine went away: what was seen stands
    }
  })();
  return {
    stop: async () => {
      isStopped = true;
      raw?.destroy();
      await collected;
      return usage;
    },
  };
}
