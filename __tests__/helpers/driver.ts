import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DockerSimManagerOptions, SimJobOptions } from '../../src/index.js';

const DRIVER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'driver.ts');
const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** One JSON line printed by the driver. */
export interface DriverLine {
  event: string;
  job?: string;
  attempt?: number;
  reason?: string;
  removed?: number;
  stopReason?: string | null;
  counts?: Record<string, number>;
  results?: Array<{ name: string; status: string; exitCode: number | null; attempts: number }>;
}

/** A driver process running a sweep; `lines` grows as it prints. */
export interface Driver {
  child: ChildProcess;
  lines: DriverLine[];
  /** Resolves once a printed line matches (rejects if the driver exits first). */
  waitFor(match: (line: DriverLine, all: DriverLine[]) => boolean, timeoutMs?: number): Promise<DriverLine>;
  /** Resolves with the exit code (or signal) once the process ended and all its output was read. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

/** Starts `__tests__/fixtures/driver.ts` in its own process (through tsx, as a user's driver script would run). */
export function startDriver(options: DockerSimManagerOptions, jobs: SimJobOptions[]): Driver {
  const child = spawn(process.execPath, ['--import', 'tsx', DRIVER], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: '', DSIM_DRIVER: JSON.stringify({ options, jobs }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: DriverLine[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as DriverLine);
    } catch {
      return;
    }
    for (const wake of waiters) wake();
  });
  let hasExited = false;
  // 'close', not 'exit': 'exit' can come before the last lines on stdout were read, so a summary printed just
  // before exiting would look missing.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      hasExited = true;
      resolve({ code, signal });
      for (const wake of waiters) wake();
    });
  });
  return {
    child,
    lines,
    exited,
    stderr: () => stderr,
    waitFor: (match, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`driver: no matching line within ${timeoutMs} ms; got ${JSON.stringify(lines)}; stderr: ${stderr}`));
        }, timeoutMs);
        const check = (): void => {
          const found = lines.find((line) => match(line, lines));
          if (found || hasExited) {
            clearTimeout(timer);
            waiters.delete(check);
            if (found) resolve(found);
            else reject(new Error(`driver exited before a matching line; got ${JSON.stringify(lines)}; stderr: ${stderr}`));
          }
        };
        waiters.add(check);
        check();
      }),
  };
}
