import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { backendKind } from '../../src/backends/create-backend.js';
import { runAttempt, type AttemptContext, type AttemptDriver, type AttemptEnd } from '../../src/backends/run-attempt.js';
import { attemptName as serviceName } from '../../src/backends/attempt-name.js';
import { DockerSimManager, ValidationError } from '../../src/index.js';
import { InMemoryRuntime } from '../../src/testing.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dsim-backends-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('swarm service names', () => {
  // Swarm's rule for service names (a DNS name component) and the config names made from them.
  const DNS_COMPONENT = /^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$/;
  const names = ['with.templates', '0.001', 'UPPER.lower_mix-9', 'a.b', 'a_b', 'a-b', 'x-', 'x_', '-x', '...a', 'z'.repeat(128), `${'y'.repeat(127)}.`, 'IT1'];

  test.each(names.map((name) => [name.length > 20 ? `${name.slice(0, 8)}… (${name.length} characters)` : name, name]))('%s maps to a valid name that leaves room for config suffixes', (_label, name) => {
    for (const attempt of [1, 2, 10]) {
      const service = serviceName('0123456789ab', name, attempt);
      expect(service).toMatch(DNS_COMPONENT);
      expect(`${service}-c999`.length).toBeLessThanOrEqual(63);
      expect(service.startsWith(`dsim-0123456789ab-${attempt}-`)).toBe(true);
    }
  });

  test('names stay recognisable and never collide within a run', () => {
    expect(serviceName('0123456789ab', 'IT1', 1)).toBe('dsim-0123456789ab-1-IT1');
    expect(serviceName('0123456789ab', 'with.templates', 1)).toMatch(/^dsim-0123456789ab-1-with-templates-[0-9a-f]{8}$/);
    const all = names.flatMap((name) => [1, 2].map((attempt) => serviceName('0123456789ab', name, attempt)));
    expect(new Set(all).size).toBe(all.length);
    // Two job names that differ only where the mapping changes them, or past the cut, stay apart.
    expect(serviceName('r', 'a.b', 1)).not.toBe(serviceName('r', 'a-b', 1));
    expect(serviceName('r', `${'q'.repeat(100)}1`, 1)).not.toBe(serviceName('r', `${'q'.repeat(100)}2`, 1));
  });
});

describe('backend choice', () => {
  test('backend and executionMode pick one backend; combinations none runs are refused with the field', () => {
    expect(backendKind({ backend: 'engine', executionMode: 'container' })).toBe('container');
    expect(backendKind({ backend: 'engine', executionMode: 'pool' })).toBe('pool');
    expect(backendKind({ backend: 'swarm', executionMode: 'container' })).toBe('swarm');
    expect(() => new DockerSimManager({ image: 'img', dataDirectory: dir, backend: 'swarm', executionMode: 'pool', runtime: new InMemoryRuntime() })).toThrow(
      expect.objectContaining({ name: 'ValidationError', field: 'executionMode' }),
    );
  });

  test('a remote swarm manager with outputMode auto is refused before anything runs: outputs would stay on the node', async () => {
    const runtime = new InMemoryRuntime({ images: { 'img:latest': {} }, isLocal: false });
    const manager = new DockerSimManager({ image: 'img', dataDirectory: path.join(dir, 'out'), backend: 'swarm', runtime });
    manager.addSimJob({ name: 'j1', command: 'x' });
    const error = await manager.startComputation().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ field: 'jobs[j1].outputMode' });
    expect((error as Error).message).toMatch(/remote.*shared file system.*outputMode: 'bind'/s);
    expect(runtime.created).toEqual([]);
  });
});

describe('the attempt skeleton classifies every backend the same way', () => {
  /** A driver whose process prints `output`, then ends as `end` (or when stopped). */
  function driver(end: AttemptEnd | 'never', options: { isOomKilled?: boolean; exitAfterStop?: number } = {}): AttemptDriver & { released: boolean[] } {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let finish: (end: AttemptEnd) => void = () => undefined;
    const released: boolean[] = [];
    return {
      released,
      async launch() {
        const ended = new Promise<AttemptEnd>((resolve) => {
          finish = (value) => {
            stdout.end();
            stderr.end();
            resolve(value);
          };
        });
        stdout.write('hello\n');
        if (end !== 'never') setImmediate(() => finish(end));
        return { id: 'p1', output: { stdout, stderr, close: () => finish({ exitCode: null }) }, ended, drainMs: 1000 };
      },
      stop() {
        finish({ exitCode: options.exitAfterStop ?? 143 });
      },
      async explainExit() {
        return { isOomKilled: options.isOomKilled ?? false };
      },
      release(_outcome, isStopped) {
        released.push(isStopped);
      },
    };
  }

  function context(overrides: Partial<AttemptContext> = {}): AttemptContext {
    const runtime = new InMemoryRuntime();
    return {
      jobName: 'J',
      runtime,
      logFiles: { combined: path.join(dir, 'log.txt'), stdout: path.join(dir, 'stdout.log'), stderr: path.join(dir, 'stderr.log') },
      maxLogBytes: 1024,
      signal: new AbortController().signal,
      onStarted: () => undefined,
      ...overrides,
    };
  }

  test('exit 0 succeeds and the output is in the logs', async () => {
    const d = driver({ exitCode: 0 });
    const outcome = await runAttempt(d, context());
    expect(outcome).toMatchObject({ status: 'succeeded', exitCode: 0, containerId: 'p1' });
    expect(await readFile(path.join(dir, 'log.txt'), 'utf8')).toBe('hello\n');
    expect(d.released).toEqual([false]);
  });

  test('a non-zero exit is a JobExitError with the OOM flag the driver found', async () => {
    const outcome = await runAttempt(driver({ exitCode: 137 }, { isOomKilled: true }), context());
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toMatchObject({ code: 'E_JOB_EXIT', exitCode: 137, isOomKilled: true });
  });

  test('a process the engine lost is a retryable EngineError, whatever its exit code', async () => {
    const outcome = await runAttempt(driver({ exitCode: null, lostReason: 'The worker died.' }), context());
    expect(outcome.error).toMatchObject({ code: 'E_ENGINE' });
    expect(outcome.error?.message).toContain('The worker died.');
  });

  test('a non-zero exit while the engine refuses new connections is an EngineError', async () => {
    const ctx = context();
    (ctx.runtime as InMemoryRuntime).acceptsConnections = async () => false;
    const outcome = await runAttempt(driver({ exitCode: 143 }), ctx);
    expect(outcome.error).toMatchObject({ code: 'E_ENGINE' });
  });

  test('a timeout stops the process and fails it as a timeout even when it then exits 0', async () => {
    const d = driver('never', { exitAfterStop: 0 });
    const outcome = await runAttempt(d, context({ timeoutMs: 50 }));
    expect(outcome.error).toMatchObject({ code: 'E_JOB_TIMEOUT' });
    expect(d.released).toEqual([true]);
  });

  test('silence stops the process as stalled, announced first', async () => {
    const stalled: number[] = [];
    const outcome = await runAttempt(driver('never'), context({ inactivityTimeoutMs: 50, onStalled: (ms) => stalled.push(ms) }));
    expect(outcome.error).toMatchObject({ code: 'E_JOB_STALLED' });
    expect(stalled).toHaveLength(1);
  });

  test('cancellation stops the process and ends the attempt cancelled', async () => {
    const controller = new AbortController();
    const d = driver('never');
    const outcome = await runAttempt(d, context({ signal: controller.signal, onStarted: () => controller.abort() }));
    expect(outcome).toMatchObject({ status: 'cancelled', error: { code: 'E_JOB_CANCELLED' } });
    expect(d.released).toEqual([true]);
  });

  test('a launch that fails is a failed attempt, and what it made is still released', async () => {
    const d = driver({ exitCode: 0 });
    d.launch = async (stage) => {
      stage('create the service');
      throw new Error('name must be valid as a DNS name component');
    };
    const outcome = await runAttempt(d, context());
    expect(outcome.error).toMatchObject({ code: 'E_ENGINE', operation: 'create the service' });
    expect(outcome.error?.message).toBe('Job J failed to create the service: name must be valid as a DNS name component');
    expect(d.released).toEqual([false]);
  });

  test('a process whose end cannot be learned (its service removed from outside) is an EngineError, and its output and usage streams are let go', async () => {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let usageStops = 0;
    const d = driver({ exitCode: 0 });
    d.launch = async () => {
      stdout.write('working\n');
      // A followed log of a service that is gone never ends on its own; only closing it lets the process exit.
      const ended = new Promise<AttemptEnd>((_, reject) => setImmediate(() => reject(new Error('service p1 not found'))));
      return { id: 'p1', output: { stdout, stderr, close: () => [stdout, stderr].forEach((s) => s.destroy()) }, ended, drainMs: 1000, usage: { stop: async () => void (usageStops += 1) } };
    };
    const outcome = await runAttempt(d, context());
    expect(outcome.error).toMatchObject({ code: 'E_ENGINE', operation: 'wait for the job to end' });
    expect({ stdout: stdout.destroyed, stderr: stderr.destroyed, usageStops }).toEqual({ stdout: true, stderr: true, usageStops: 1 });
    expect(await readFile(path.join(dir, 'log.txt'), 'utf8')).toBe('working\n');
  });
});
