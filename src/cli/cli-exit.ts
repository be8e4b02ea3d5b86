import { isDockerSimError, type DockerSimError } from '../errors/docker-sim-error.js';

/** The exit codes of `dsim`. */
export const EXIT = { ok: 0, jobsFailed: 1, badInput: 2, engine: 3, cancelled: 130 } as const;

/** Where a command writes. */
export type Out = { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream & { isTTY?: boolean } };

function exitCodeOf(error: unknown): number {
  if (!isDockerSimError(error)) return EXIT.engine;
  return error.code === 'E_VALIDATION' || error.code === 'E_TEMPLATE' || error.code === 'E_JOB_SOURCE' ? EXIT.badInput : EXIT.engine;
}

/** Prints an error (and its JSON event with --json); returns the exit code it means. */
export function reportError(error: unknown, json: boolean, out: Out): number {
  const code = exitCodeOf(error);
  const message = (error as Error)?.message ?? String(error);
  if (json) out.stdout.write(`${JSON.stringify({ event: 'error', time: new Date().toISOString(), code: (error as DockerSimError).code ?? 'E_UNKNOWN', message, exitCode: code })}\n`);
  out.stderr.write(`dsim: ${isDockerSimError(error) ? `${error.name}: ` : ''}${message}\n`);
  return code;
}
