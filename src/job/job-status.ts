/**
 * Where a job is in its life. Terminal states: succeeded, failed, cancelled, skipped (a resumed run found it
 * already succeeded with the same spec). A job waiting to be retried is queued again.
 */
export type JobStatus = 'pending' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'skipped';

const NEXT: Record<JobStatus, readonly JobStatus[]> = {
  pending: ['queued', 'cancelled', 'skipped'],
  queued: ['running', 'cancelled', 'failed'],
  running: ['succeeded', 'failed', 'cancelled', 'queued'],
  succeeded: [],
  skipped: [],
  failed: [],
  cancelled: [],
};

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return NEXT[from].includes(to);
}

export function isTerminal(status: JobStatus): boolean {
  return NEXT[status].length === 0;
}
