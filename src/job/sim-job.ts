import { ValidationError, describeValue } from '../errors/validation-error.js';
import { canTransition, type JobStatus } from './job-status.js';
import { JOB_SETTING_KEYS, normalizeSettings, unknownKeys, type JobSettings, type NormalizedSettings } from './job-settings.js';
import { didYouMean } from '../util/closest-name.js';
import type { JobResult } from './job-result.js';

/** Options of one job. */
export interface SimJobOptions extends JobSettings {
  /** Unique within a manager: letters, digits, `_`, `.`, `-`; 1 to 128 characters. Names the output folder `job_<name>`. */
  name: string;
  /**
   * The parameter values this job stands for (for instance a sweep row), kept in the run manifest and shown in
   * the report. Informational only: they do not reach the container unless the command or env uses them.
   */
  parameters?: Record<string, string | number | boolean>;
}

const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
const OWN_KEYS = new Set(['name', 'parameters']);

function normalizeParameters(value: unknown, name: string): Record<string, string | number | boolean> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ValidationError(`jobs[${name}].parameters`, value, `Expected \`parameters\` of job ${name} to be an object of strings, numbers and booleans, got ${describeValue(value)}.`);
  }
  for (const [key, entry] of Object.entries(value)) {
    if (!['string', 'number', 'boolean'].includes(typeof entry)) {
      throw new ValidationError(`jobs[${name}].parameters.${key}`, entry, `Expected parameter ${key} of job ${name} to be a string, number or boolean, got ${describeValue(entry)}.`);
    }
  }
  return { ...(value as Record<string, string | number | boolean>) };
}

/**
 * One run of the simulation with one set of parameters. Options are validated when the job is made, so a bad
 * job fails before any container or folder exists.
 *
 * @example
 * ```ts
 * const job = new SimJob({ name: 'IT1', command: '-o /mnt/data -r 1 -i 100', env: { OMP_NUM_THREADS: '1' } });
 * manager.addSimJob(job);
 * ```
 */
export class SimJob {
  readonly name: string;
  /** The parameter values this job stands for; `{}` when none were given. */
  readonly parameters: Readonly<Record<string, string | number | boolean>>;
  /** The options as given. */
  readonly options: Readonly<SimJobOptions>;
  /** @internal validated settings */
  readonly settings: NormalizedSettings;
  private currentStatus: JobStatus = 'pending';
  private lastResult: JobResult | undefined;

  constructor(options: SimJobOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new ValidationError('job', options, `Expected a SimJob's options to be an object, got ${describeValue(options)}.`);
    }
    const { name } = options;
    if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
      throw new ValidationError(
        'name',
        name,
        `Expected \`name\` to be 1 to 128 letters, digits, '_', '.' or '-', got ${describeValue(name)}. Job names name the output folder job_<name>.`,
      );
    }
    if (name === '.' || name === '..') {
      throw new ValidationError('name', name, `\`name\` cannot be '.' or '..'.`);
    }
    const unknown = unknownKeys(options, OWN_KEYS);
    if (unknown.length > 0) {
      throw new ValidationError(`jobs[${name}].${unknown[0]}`, (options as unknown as Record<string, unknown>)[unknown[0] ?? ''], `Unknown job option \`${unknown[0]}\` on job ${name}. ${didYouMean(unknown[0] ?? '', [...OWN_KEYS, ...JOB_SETTING_KEYS])}`);
    }
    this.name = name;
    this.parameters = Object.freeze(normalizeParameters(options.parameters, name));
    this.settings = normalizeSettings(options, `jobs[${name}].`);
    this.options = Object.freeze({ ...options });
  }

  /** Where the job is: pending, queued, running, succeeded, failed or cancelled. */
  get status(): JobStatus {
    return this.currentStatus;
  }

  /** The result of the job's last run, once it ended. */
  get result(): JobResult | undefined {
    return this.lastResult;
  }

  /** @internal The one place a job's status changes. */
  transition(to: JobStatus, result?: JobResult): void {
    if (!canTransition(this.currentStatus, to)) {
      throw new Error(`docker-sim-manager internal error: job ${this.name} cannot go from ${this.currentStatus} to ${to}`);
    }
    this.currentStatus = to;
    if (result) this.lastResult = result;
  }

  /** Plain data for logs and JSON output. */
  toJSON(): { name: string; status: JobStatus } {
    return { name: this.name, status: this.currentStatus };
  }
}
