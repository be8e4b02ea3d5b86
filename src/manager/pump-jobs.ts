import type { SimJob } from '../job/sim-job.js';
import type { JobFeed } from './job-feed.js';

/** What `pumpJobs` needs: where jobs come from, how one is run, and how far to read ahead. */
export interface PumpOptions<Planned> {
  feed: JobFeed;
  /** Jobs read and checked before the run began, started first. */
  first: ReadonlyArray<{ job: SimJob; planned: Planned }>;
  /** At most this many jobs are read and not yet ended. */
  readAhead: number;
  signal: AbortSignal;
  /** Runs one job to its end; `planned` is set for the first jobs. A rejection stops the reading. */
  runJob(job: SimJob, planned: Planned | undefined): Promise<void>;
}

/**
 * Reads jobs from the feed as they can run, never more than `readAhead` read and not yet ended, and runs each.
 * Stops reading when the signal aborts, the feed ends, the feed throws or a job's run rejects (a job read
 * during the run that cannot run); then waits for every started job to end. Resolves with what stopped the
 * reading, if it was an error.
 */
export async function pumpJobs<Planned>(options: PumpOptions<Planned>): Promise<{ error: unknown } | undefined> {
  const { feed, readAhead, signal } = options;
  let stopped: { error: unknown } | undefined;
  let inFlight = 0;
  let wake: (() => void) | undefined;
  const running = new Set<Promise<void>>();
  const start = (job: SimJob, planned: Planned | undefined): void => {
    inFlight += 1;
    const task: Promise<void> = options
      .runJob(job, planned)
      .catch((error: unknown) => {
        stopped ??= { error };
      })
      .finally(() => {
        inFlight -= 1;
        running.delete(task);
        wake?.();
      });
    running.add(task);
  };
  for (const { job, planned } of options.first) start(job, planned);
  while (!signal.aborted && stopped === undefined) {
    if (inFlight >= readAhead) {
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
      continue;
    }
    let job: SimJob | undefined;
    try {
      job = await feed.next();
    } catch (error) {
      stopped ??= { error };
      break;
    }
    if (job === undefined) break;
    start(job, undefined);
  }
  await feed.close().catch(() => undefined);
  while (running.size > 0) await Promise.all(running);
  return stopped;
}
