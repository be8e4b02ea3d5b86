import { DockerSimError } from './docker-sim-error.js';

/**
 * Bad options or jobs, found before any container or folder is created. `field` names the offending option
 * (for jobs prefixed with the job, e.g. `jobs[IT3].memory`), `value` is what was given.
 *
 * @example
 * ```ts
 * try { new SimJob({ name: 'a b' }); } catch (e) { if (e instanceof ValidationError) console.log(e.field); }
 * ```
 */
export class ValidationError extends DockerSimError {
  readonly field: string;
  readonly value: unknown;

  constructor(field: string, value: unknown, message: string, options?: { cause?: unknown }) {
    super('E_VALIDATION', message, options);
    this.field = field;
    this.value = value;
  }
}

/** Renders a value for an error message: `0 (number)`, `'lots' (string)`. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return `'${value.length > 80 ? `${value.slice(0, 77)}...` : value}' (string)`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  return `${String(value)} (${typeof value})`;
}
