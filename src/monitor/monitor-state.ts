import type { DockerSimManager } from '../manager/docker-sim-manager.js';
import type { JobResult } from '../job/job-result.js';

/** One job as the monitor shows it: no env, no command, nothing a job was given in secret. */
export interface MonitorJob {
  name: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'skipped';
  attempt: number;
  engine: string | null;
  startedAt: number | null;
  finishedAt: number | null;
  exitCode: number | null;
  error: string | null;
  cpuMs: number | null;
  peakMemoryBytes: number | null;
  memoryLimitBytes: number | null;
}

/** What the page and /metrics read: counts and bounded lists, whatever the size of the sweep. */
export interface MonitorSnapshot {
  runId: string | null;
  startedAt: number | null;
  finishedAt: number | null;
  now: number;
  counts: Record<'total' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'skipped', number>;
  attempts: number;
  retries: number;
  /** Seconds left at the rate jobs finished so far; null until one finished. */
  etaSeconds: number | null;
  running: MonitorJob[];
  /** The most recent failures, newest first. */
  failures: MonitorJob[];
  /** The most recently finished jobs, for the timeline and the usage table, newest first. */
  recent: MonitorJob[];
  stopReason: string | null;
}

/** Upper bounds (seconds) of the job-duration histogram buckets of /metrics. */
export const DURATION_BUCKETS = [1, 5, 15, 60, 300, 1800, 3600, 21_600, 86_400];

const MAX_FAILURES = 100;
const MAX_RECENT = 300;

function finishedJob(result: JobResult): MonitorJob {
  const limits = result.attemptLimits.at(-1);
  return {
    name: result.name,
    status: result.status,
    attempt: result.attempts,
    engine: result.engine,
    startedAt: result.startedAt?.getTime() ?? null,
    finishedAt: result.finishedAt.getTime(),
    exitCode: result.exitCode,
    error: result.error ? `${result.error.name}: ${result.error.message}` : null,
    cpuMs: result.usage.cpuMs ?? null,
    peakMemoryBytes: result.usage.peakMemoryBytes ?? null,
    memoryLimitBytes: limits?.memoryBytes ?? null,
  };
}

/**
 * The live state of a manager's runs, kept from its events in memory bounded by the concurrency (running jobs)
 * and fixed caps (the last 100 failures, the last 300 finished jobs), plus running totals for /metrics.
 */
export class MonitorState {
  private runId: string | null = null;
  private startedAt: number | null = null;
  private finishedAt: number | null = null;
  private stopReason: string | null = null;
  private readonly counts: MonitorSnapshot['counts'] = { total: 0, queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0, skipped: 0 };
  /** The run's job count was not given (a lazy source): the total grows with the jobs read. */
  private isTotalOpen = false;
  private attempts = 0;
  private retries = 0;
  private readonly running = new Map<string, MonitorJob>();
  private failures: MonitorJob[] = [];
  private recent: MonitorJob[] = [];
  /** Totals for /metrics. */
  readonly totals = { durationSeconds: 0, durations: 0, buckets: DURATION_BUCKETS.map(() => 0), cpuSeconds: 0, maxPeakMemoryBytes: 0 };
  /** Increases with every change; the server sends a snapshot only when it moved. */
  version = 0;

  constructor(manager: DockerSimManager) {
    const changed = (): void => {
      this.version += 1;
    };
    manager.on('run:started', ({ runId, total }) => {
      this.runId = runId;
      this.startedAt = Date.now();
      this.finishedAt = null;
      this.stopReason = null;
      this.isTotalOpen = total === null;
      Object.assign(this.counts, { total: total ?? 0, queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0, skipped: 0 });
      this.running.clear();
      changed();
    });
    manager.on('job:queued', () => {
      this.counts.queued += 1;
      if (this.isTotalOpen) this.counts.total += 1;
      changed();
    });
    manager.on('job:started', ({ job, attempt, engine }) => {
      if (attempt === 1) this.counts.queued = Math.max(0, this.counts.queued - 1);
      this.attempts += 1;
      this.running.set(job.name, { name: job.name, status: 'running', attempt, engine, startedAt: Date.now(), finishedAt: null, exitCode: null, error: null, cpuMs: null, peakMemoryBytes: null, memoryLimitBytes: null });
      this.counts.running = this.running.size;
      changed();
    });
    manager.on('job:retrying', ({ job }) => {
      this.retries += 1;
      this.running.delete(job.name);
      this.counts.running = this.running.size;
      changed();
    });
    manager.on('job:skipped', () => {
      this.counts.skipped += 1;
      if (this.isTotalOpen) this.counts.total += 1;
      changed();
    });
    const ended = (result: JobResult): void => {
      const job = finishedJob(result);
      if (!this.running.delete(result.name) && result.attempts === 0) this.counts.queued = Math.max(0, this.counts.queued - 1);
      this.counts.running = this.running.size;
      if (result.status === 'succeeded' || result.status === 'failed' || result.status === 'cancelled') this.counts[result.status] += 1;
      if (result.status === 'failed') this.failures = [job, ...this.failures].slice(0, MAX_FAILURES);
      if (job.startedAt !== null) {
        this.recent = [job, ...this.recent].slice(0, MAX_RECENT);
        const seconds = result.durationMs / 1000;
        this.totals.durationSeconds += seconds;
        this.totals.durations += 1;
        DURATION_BUCKETS.forEach((bound, i) => {
          if (seconds <= bound) this.totals.buckets[i] = (this.totals.buckets[i] ?? 0) + 1;
        });
      }
      this.totals.cpuSeconds += (result.usage.cpuMs ?? 0) / 1000;
      this.totals.maxPeakMemoryBytes = Math.max(this.totals.maxPeakMemoryBytes, result.usage.peakMemoryBytes ?? 0);
      changed();
    };
    manager.on('job:succeeded', ({ result }) => ended(result));
    manager.on('job:failed', ({ result }) => ended(result));
    manager.on('job:cancelled', ({ result }) => ended(result));
    manager.on('run:cancelling', ({ reason }) => {
      this.stopReason = reason;
      changed();
    });
    manager.on('run:finished', ({ summary }) => {
      this.finishedAt = Date.now();
      this.stopReason = summary.stopReason;
      this.counts.queued = 0;
      changed();
    });
  }

  /** The state now, bounded in size. */
  snapshot(): MonitorSnapshot {
    const now = Date.now();
    const done = this.counts.succeeded + this.counts.failed + this.counts.cancelled;
    const left = this.counts.total - done - this.counts.skipped;
    const elapsed = (this.finishedAt ?? now) - (this.startedAt ?? now);
    return {
      runId: this.runId,
      startedAt: this.startedAt,
      finishedAt: this.finishedAt,
      now,
      counts: { ...this.counts },
      attempts: this.attempts,
      retries: this.retries,
      etaSeconds: done > 0 && left > 0 && this.finishedAt === null ? Math.round((left * elapsed) / done / 1000) : left === 0 ? 0 : null,
      running: [...this.running.values()],
      failures: this.failures,
      recent: this.recent,
      stopReason: this.stopReason,
    };
  }
}
