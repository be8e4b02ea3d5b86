import { FINAL_STATES, slurmCommands, type SlurmJobState } from './slurm-commands.js';

/** How often the run's Slurm jobs are looked at (one `scontrol show job` for all of them). */
export const QUEUE_POLL_MS = 500;

/**
 * Watches the run's Slurm jobs with one `scontrol show job` call per poll, however many jobs run: each watcher
 * hears its job's state as it changes. A job the controller no longer knows is reported once as `undefined`.
 */
export class SlurmQueue {
  private readonly watchers = new Map<string, (state: SlurmJobState | undefined) => void>();
  private readonly last = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;

  constructor(private readonly onPollError: (error: Error) => void) {}

  /** Calls `onState` with each new state of job `jobId` until the returned function is called. */
  watch(jobId: string, onState: (state: SlurmJobState | undefined) => void): () => void {
    this.watchers.set(jobId, onState);
    this.schedule(0);
    return () => {
      this.watchers.delete(jobId);
      this.last.delete(jobId);
    };
  }

  private schedule(ms: number): void {
    if (this.timer !== undefined || this.watchers.size === 0) return;
    this.timer = setTimeout(() => void this.poll(), ms);
  }

  private async poll(): Promise<void> {
    // Only jobs watched before the listing was asked for are judged by it: a job submitted while scontrol ran
    // is missing from its answer, yet not gone.
    const watched = [...this.watchers.keys()];
    try {
      const jobs = await slurmCommands.jobs();
      this.failures = 0;
      for (const id of watched) {
        const onState = this.watchers.get(id);
        if (onState === undefined) continue;
        const state = jobs.get(id);
        const key = state === undefined ? 'gone' : `${state.state} ${state.reason}`;
        if (this.last.get(id) === key) continue;
        this.last.set(id, key);
        onState(state);
      }
    } catch (error) {
      // The controller may be busy for a moment; a run of failures is reported (and polling goes on).
      this.failures += 1;
      if (this.failures === 5) this.onPollError(error as Error);
    } finally {
      this.timer = undefined;
      this.schedule(QUEUE_POLL_MS);
    }
  }
}

/** Whether a Slurm job state is final. */
export function isFinal(state: SlurmJobState | undefined): boolean {
  return state === undefined || FINAL_STATES.has(state.state);
}
