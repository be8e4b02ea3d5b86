import { DockerSimError } from './docker-sim-error.js';

/**
 * The Docker engine failed an operation of a job (create, start, wait, archive, remove...). `operation`
 * names it; `statusCode` is the engine's HTTP status when there was one.
 *
 * @example
 * ```ts
 * manager.on('job:failed', ({ error }) => { if (error instanceof EngineError) console.log(error.operation); });
 * ```
 */
export class EngineError extends DockerSimError {
  readonly operation: string;
  readonly statusCode: number | undefined;

  constructor(operation: string, message: string, options?: { cause?: unknown; statusCode?: number }) {
    super('E_ENGINE', message, options);
    this.operation = operation;
    this.statusCode = options?.statusCode;
  }
}
