import { DURATION_BUCKETS, type MonitorState } from './monitor-state.js';

/** One metric family in the Prometheus text exposition format (version 0.0.4). */
function family(name: string, type: 'gauge' | 'counter' | 'histogram', help: string, samples: Array<[labels: string, value: number]>): string {
  const lines = samples.map(([labels, value]) => `${name}${labels} ${Number.isFinite(value) ? value : 0}`);
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${lines.join('\n')}\n`;
}

/** `/metrics`: the run's jobs by status, attempts, retries, running jobs, durations and usage. */
export function renderMetrics(state: MonitorState): string {
  const { counts, attempts, retries } = state.snapshot();
  const { totals } = state;
  const statuses = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'skipped'] as const;
  // Each bucket already counts every job at or under its bound (cumulative, as Prometheus wants).
  const buckets: Array<[string, number]> = DURATION_BUCKETS.map((bound, i) => [`_bucket{le="${bound}"}`, totals.buckets[i] ?? 0]);
  return [
    family('dsim_jobs', 'gauge', 'Jobs of the current run by status.', statuses.map((status) => [`{status="${status}"}`, counts[status]])),
    family('dsim_jobs_total', 'gauge', 'Jobs in the current run.', [['', counts.total]]),
    family('dsim_running_jobs', 'gauge', 'Jobs running now.', [['', counts.running]]),
    family('dsim_attempts_total', 'counter', 'Attempts started.', [['', attempts]]),
    family('dsim_retries_total', 'counter', 'Attempts that failed and were retried.', [['', retries]]),
    `# HELP dsim_job_duration_seconds Wall time of finished jobs, from their first start.\n# TYPE dsim_job_duration_seconds histogram\n${[
      ...buckets.map(([suffix, value]) => `dsim_job_duration_seconds${suffix} ${value}`),
      `dsim_job_duration_seconds_bucket{le="+Inf"} ${totals.durations}`,
      `dsim_job_duration_seconds_sum ${totals.durationSeconds}`,
      `dsim_job_duration_seconds_count ${totals.durations}`,
    ].join('\n')}\n`,
    family('dsim_job_cpu_seconds_total', 'counter', 'CPU time of finished jobs, where the engine told it.', [['', totals.cpuSeconds]]),
    family('dsim_job_peak_memory_bytes_max', 'gauge', 'The largest peak memory of a finished job, where the engine told it.', [['', totals.maxPeakMemoryBytes]]),
  ].join('');
}
