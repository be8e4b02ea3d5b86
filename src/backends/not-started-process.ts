import { PassThrough } from 'node:stream';
import type { LaunchedProcess } from './run-attempt.js';

/** A process the engine could not start: it ended at once with the engine's exit code, its reason on stderr. */
export function notStarted(id: string, exitCode: number, reason: string): LaunchedProcess {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.end();
  stderr.end(`docker-sim-manager: the engine could not start the job's process: ${reason}\n`);
  return { id, output: { stdout, stderr, close: () => undefined }, ended: Promise.resolve({ exitCode }), drainMs: Infinity };
}

