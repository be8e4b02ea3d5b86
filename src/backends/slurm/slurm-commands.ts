import { execFile } from 'node:child_process';
import { EngineError } from '../../errors/engine-error.js';

/** A Slurm job as `scontrol show job` describes it. */
export interface SlurmJobState {
  id: string;
  name: string;
  /** PENDING, RUNNING, COMPLETING, COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, PREEMPTED, BOOT_FAIL, DEADLINE... */
  state: string;
  /** Why a pending job waits (Priority, Resources, PartitionTimeLimit...) or why it ended. */
  reason: string;
  /** The batch script's exit code (`ExitCode=<code>:<signal>`). */
  exitCode: number | null;
  comment: string;
  submitTime: string;
  startTime: string;
}

/** States in which a Slurm job will not run (again). */
export const FINAL_STATES = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'OUT_OF_MEMORY', 'NODE_FAIL', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE', 'SPECIAL_EXIT', 'REVOKED']);

/** Runs a Slurm command; resolves with its stdout. A failure is an `EngineError` quoting Slurm's own words. */
function slurm(command: string, args: readonly string[], operation: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 60_000 }, (error, stdout, stderr) => {
      if (!error) {
        resolve(stdout);
        return;
      }
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      const words = stderr.trim() || error.message;
      reject(
        new EngineError(
          operation,
          missing
            ? `Slurm's \`${command}\` is not on this machine's PATH: run the driver on a login node of the cluster (where sbatch, squeue, scontrol and scancel work).`
            : `Slurm could not ${operation} (\`${command} ${args.join(' ')}\`): ${words}`,
          { cause: error },
        ),
      );
    });
  });
}

/** `Key=Value Key=Value...` of one `scontrol show job -o` line (values may hold spaces only in the last keys). */
export function parseJobLine(line: string): SlurmJobState | undefined {
  const fields = new Map<string, string>();
  // Keys are words followed by '='; a value runs to the next ` Key=`.
  const pattern = /(?:^|\s)([A-Za-z][A-Za-z0-9_:/]*)=/g;
  const matches = [...line.matchAll(pattern)];
  for (const [index, match] of matches.entries()) {
    const start = (match.index ?? 0) + match[0].length;
    const end = matches[index + 1]?.index ?? line.length;
    fields.set(match[1] as string, line.slice(start, end).trim());
  }
  const id = fields.get('JobId');
  if (id === undefined) return undefined;
  const exit = /^(\d+):(\d+)$/.exec(fields.get('ExitCode') ?? '');
  return {
    id,
    name: fields.get('JobName') ?? '',
    state: (fields.get('JobState') ?? 'UNKNOWN').split(' ')[0] as string,
    reason: fields.get('Reason') ?? 'None',
    exitCode: exit ? Number(exit[1]) : null,
    comment: fields.get('Comment') === '(null)' ? '' : fields.get('Comment') ?? '',
    submitTime: fields.get('SubmitTime') ?? '',
    startTime: fields.get('StartTime') ?? '',
  };
}

/** The Slurm commands this backend uses: sbatch, scontrol, squeue, scancel, sinfo; no daemon of its own. */
export const slurmCommands = {
  /** Submits a batch script; resolves with the job id. */
  async submit(args: readonly string[], scriptFile: string): Promise<string> {
    const out = await slurm('sbatch', ['--parsable', ...args, scriptFile], 'submit the job (sbatch)');
    return (out.trim().split(';')[0] ?? '').trim();
  },

  /** Every job the controller still knows (finished ones for `MinJobAge`), by id. */
  async jobs(): Promise<Map<string, SlurmJobState>> {
    const out = await slurm('scontrol', ['show', 'job', '-o'], 'list the jobs (scontrol show job)');
    const jobs = new Map<string, SlurmJobState>();
    for (const line of out.split('\n')) {
      const job = parseJobLine(line.trim());
      if (job) jobs.set(job.id, job);
    }
    return jobs;
  },

  /** Sends `signal` to the batch script only (`--batch`), or cancels the job outright. */
  async cancel(jobIds: readonly string[], options: { signal?: 'TERM'; batchOnly?: boolean } = {}): Promise<void> {
    if (jobIds.length === 0) return;
    await slurm('scancel', [...(options.signal ? [`--signal=${options.signal}`] : []), ...(options.batchOnly ? ['--batch'] : []), ...jobIds], 'cancel jobs (scancel)');
  },

  /** Whether the controller answers, and the partition exists when one is named. */
  async partitions(): Promise<string[]> {
    const out = await slurm('sinfo', ['-h', '-o', '%R'], 'describe the cluster (sinfo)');
    return [...new Set(out.split('\n').map((line) => line.trim()).filter(Boolean))];
  },
};

