import type { AttemptEnd } from '../run-attempt.js';
import type { SlurmJobState } from './slurm-commands.js';

/** The status file the batch script writes last. */
export interface AttemptStatus {
  /** The engine client's exit code: the container's, or 125 when the engine failed. */
  clientExit: number;
  /** The container's own exit code; undefined when no container was made. */
  containerExit: number | undefined;
  isOomKilled: boolean;
  /** The script was signalled (a scancel, Slurm's time limit, a preemption). */
  isSignalled: boolean;
}

/** The status file's line (`exit=… state=… oom=… stopped=…`); undefined while it is missing or incomplete. */
export function parseStatus(text: string): AttemptStatus | undefined {
  const match = /exit=(\d+) state=(\S+) oom=(\S+) stopped=(\d)/.exec(text);
  if (!match) return undefined;
  return { clientExit: Number(match[1]), containerExit: /^\d+$/.test(match[2] as string) ? Number(match[2]) : undefined, isOomKilled: match[3] === 'true', isSignalled: match[4] === '1' };
}

/** What ended an attempt, as the attempt skeleton reads it, and whether the kernel killed it for memory. */
export interface SlurmAttemptEnd {
  end: AttemptEnd;
  isOomKilled: boolean;
}

/**
 * How an attempt ended, from the batch script's status file when it wrote one, else from Slurm's final state:
 * Slurm's TIMEOUT is a time-out, OUT_OF_MEMORY an OOM kill (137), a signal this run did not send (a scancel
 * from outside, a preemption) or a job that ended without a status (NODE_FAIL, BOOT_FAIL...) is lost (an
 * `EngineError`, retried), and exit 125 with no container is the node's engine failing (the image missing there).
 */
export function slurmAttemptEnd(options: {
  state: SlurmJobState | undefined;
  status: AttemptStatus | undefined;
  isStopRequested: boolean;
  slurmId: string;
  jobName: string;
  logFile: string;
}): SlurmAttemptEnd {
  const { state, status, isStopRequested, slurmId, jobName } = options;
  const what = state === undefined ? 'no longer known to the controller' : `${state.state} (${state.reason})`;
  if (status !== undefined) {
    const isOomKilled = status.isOomKilled || state?.state === 'OUT_OF_MEMORY';
    // Signalled by Slurm, not by this run: its time limit, or a scancel or preemption from outside.
    if (status.isSignalled && !isStopRequested) {
      if (state?.state === 'TIMEOUT') return { end: { exitCode: status.clientExit, isTimedOut: true }, isOomKilled };
      return { end: { exitCode: null, lostReason: `Slurm job ${slurmId} of job ${jobName} was stopped from outside this run (${what}): cancelled by someone else, preempted, or its node went away.` }, isOomKilled };
    }
    if (status.clientExit === 125 && status.containerExit === undefined) {
      return { end: { exitCode: null, lostReason: `The node's container engine could not run job ${jobName} (exit code 125, no container): see ${options.logFile} for its words; the image may be missing on that node.` }, isOomKilled };
    }
    // The engine could not start the process (a user the image lacks): the container's code says why (126-128).
    const exitCode = status.clientExit === 125 && (status.containerExit ?? 0) >= 126 ? (status.containerExit as number) : status.clientExit;
    return { end: { exitCode }, isOomKilled };
  }
  if (state?.state === 'TIMEOUT') return { end: { exitCode: null, isTimedOut: true }, isOomKilled: false };
  if (state?.state === 'OUT_OF_MEMORY') return { end: { exitCode: 137 }, isOomKilled: true };
  if (state?.state === 'CANCELLED' && isStopRequested) return { end: { exitCode: null, lostReason: `Slurm job ${slurmId} of job ${jobName} was cancelled before its container reported an exit.` }, isOomKilled: false };
  return { end: { exitCode: null, lostReason: `Slurm job ${slurmId} of job ${jobName} ended as ${what} before its container reported an exit (a node failure, a preemption, or a scancel from outside).` }, isOomKilled: false };
}
