import { DockerSimError } from './docker-sim-error.js';

/**
 * An image bundle does not match its checksum (changed or truncated), or its checksum file is missing. The
 * bundle was not loaded.
 *
 * @example
 * ```ts
 * try { await loadImage({ file: './sim.tar' }); } catch (e) { if (e instanceof IntegrityError) console.error(e.file); }
 * ```
 */
export class IntegrityError extends DockerSimError {
  /** The bundle file. */
  readonly file: string;

  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super('E_INTEGRITY', message, options);
    this.file = file;
  }
}
