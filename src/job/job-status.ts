/** Where a job is in its life. Terminal states: succeeded, failed, cancelled. */
export type JobStatus = 'pending' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

const NEXT: Record<JobStatus, readonly JobStatus[]> = {
  pending: ['queued', 'cancelled'],
  queued: ['running', 'cancelled', 'failed'],
  running: ['succeeded', 'failed', 'cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return NEXT[from].includes(to);
}

export function isTerminal(status: JobStatus): boolean {
  return NEXT[status].length === 0;
}
