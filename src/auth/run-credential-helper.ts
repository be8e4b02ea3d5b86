import { spawn, type ChildProcess } from 'node:child_process';

/**
 * What a credential helper answered. `reason` texts never contain the helper's output.
 *
 * @example
 * ```ts
 * if (answer.kind === 'failed') onDebug(answer.reason);
 * ```
 */
export type CredentialHelperResult =
  | { kind: 'found'; username: string; secret: string }
  | { kind: 'not-found' }
  | { kind: 'failed'; reason: string };

/**
 * Options of {@link runCredentialHelper}.
 *
 * @example
 * ```ts
 * const options: RunCredentialHelperOptions = { timeoutMs: 5000, env: process.env };
 * ```
 */
export interface RunCredentialHelperOptions {
  /** The helper is killed (with its process group) after this long. */
  timeoutMs: number;
  /** The helper's environment; its PATH is used to find the program. */
  env: NodeJS.ProcessEnv;
}

const NOT_FOUND_OUTPUT = 'credentials not found in native keychain';
const MAX_OUTPUT_BYTES = 64 * 1024;
const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * Runs `docker-credential-<helper> get` with the server URL on stdin, as the docker CLI does, and parses its
 * `{ ServerURL, Username, Secret }` answer. Never throws: a missing, failing, hanging (killed after
 * `timeoutMs`) or garbled helper gives `{ kind: 'failed', reason }`.
 *
 * @example
 * ```ts
 * const answer = await runCredentialHelper('pass', 'ghcr.io', { timeoutMs: 5000, env: process.env });
 * if (answer.kind === 'found') console.log(answer.username);
 * ```
 */
export function runCredentialHelper(
  helper: string,
  serverUrl: string,
  options: RunCredentialHelperOptions,
): Promise<CredentialHelperResult> {
  if (!HELPER_NAME.test(helper)) {
    return Promise.resolve({ kind: 'failed', reason: `the helper name ${JSON.stringify(helper)} is not a plain program name` });
  }
  const program = `docker-credential-${helper}`;
  return new Promise((resolve) => {
    let child: ChildProcess;
    let isSettled = false;
    const finish = (result: CredentialHelperResult): void => {
      if (isSettled) return;
      isSettled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const timer = setTimeout(() => {
      killGroup(child);
      child.stdout?.destroy();
      child.stderr?.destroy();
      finish({ kind: 'failed', reason: `${program} did not answer within ${options.timeoutMs} ms and was killed` });
    }, options.timeoutMs);
    try {
      child = spawn(program, ['get'], {
        env: options.env,
        stdio: ['pipe', 'pipe', 'ignore'],
        // Its own process group, so a timeout kills whatever the helper started too.
        detached: process.platform !== 'win32',
        windowsHide: true,
      });
    } catch (error) {
      finish({ kind: 'failed', reason: `${program} could not be started (${(error as NodeJS.ErrnoException).code ?? 'error'})` });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    child.stdout?.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_OUTPUT_BYTES) chunks.push(chunk);
    });
    child.stdout?.on('error', () => undefined);
    child.stdin?.on('error', () => undefined); // EPIPE when the helper exits without reading
    child.on('error', (error: NodeJS.ErrnoException) => {
      finish({
        kind: 'failed',
        reason: error.code === 'ENOENT' ? `${program} was not found on PATH` : `${program} could not be run (${error.code ?? 'error'})`,
      });
    });
    child.on('close', (code, signal) => {
      const output = Buffer.concat(chunks).toString('utf8');
      if (size > MAX_OUTPUT_BYTES) finish({ kind: 'failed', reason: `${program} wrote more than ${MAX_OUTPUT_BYTES} bytes` });
      else if (code === 0) finish(parseAnswer(program, output));
      else if (output.trim() === NOT_FOUND_OUTPUT) finish({ kind: 'not-found' });
      else finish({ kind: 'failed', reason: `${program} get ${signal ? `was killed by ${signal}` : `exited with code ${code}`}` });
    });
    child.stdin?.end(serverUrl);
  });
}

function killGroup(child: ChildProcess | undefined): void {
  if (child?.pid === undefined) return;
  try {
    if (process.platform === 'win32') child.kill('SIGKILL');
    else process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

function parseAnswer(program: string, output: string): CredentialHelperResult {
  let value: unknown;
  try {
    value = JSON.parse(output);
  } catch {
    return { kind: 'failed', reason: `${program} get printed something that is not JSON` };
  }
  const answer = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const username = typeof answer.Username === 'string' ? answer.Username : '';
  const secret = typeof answer.Secret === 'string' ? answer.Secret : '';
  if (secret === '') return { kind: 'not-found' };
  return { kind: 'found', username, secret };
}
