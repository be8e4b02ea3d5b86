import type { AttemptLimits } from './job-settings.js';
import type { AttemptLimitsRecord } from './job-result.js';
import type { PreparedJob } from './prepared-job.js';

/** The limits of an attempt as results and events show them (cores, not nano-cores). */
export function limitsRecord(attempt: number, limits: AttemptLimits): AttemptLimitsRecord {
  return {
    attempt,
    ...(limits.nanoCpus === undefined ? {} : { cpus: limits.nanoCpus / 1e9 }),
    ...(limits.memoryBytes === undefined ? {} : { memoryBytes: limits.memoryBytes }),
    ...(limits.timeoutMs === undefined ? {} : { timeoutMs: limits.timeoutMs }),
  };
}

/** A prepared job with one attempt's limits in its settings and container spec (the same object when they did not change). */
export function withLimits(item: PreparedJob, limits: AttemptLimits): PreparedJob {
  const { nanoCpus, memoryBytes, timeoutMs } = limits;
  if (nanoCpus === item.settings.nanoCpus && memoryBytes === item.settings.memoryBytes && timeoutMs === item.settings.timeoutMs) return item;
  return {
    ...item,
    settings: { ...item.settings, nanoCpus, memoryBytes, timeoutMs },
    spec: { ...item.spec, ...(nanoCpus === undefined ? {} : { nanoCpus }), ...(memoryBytes === undefined ? {} : { memoryBytes }) },
  };
}
