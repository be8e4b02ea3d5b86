import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DockerSimManager, JobExitError, ValidationError, latestRecords, manifestPath, parseSweep, readManifest, sweepManagerOptions, type AttemptLimitsRecord } from '../../src/index.js';
import { InMemoryRuntime } from '../../src/testing.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dsim-grow-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const MiB = 1024 ** 2;

/** A simulation that needs 48 MiB: under a smaller limit the kernel kills it (exit 137, OOMKilled). */
function needs48MiB(): InMemoryRuntime {
  return new InMemoryRuntime({
    images: { 'sim:latest': {} },
    behaviour: (spec) => ((spec.memoryBytes ?? Infinity) < 48 * MiB ? { exitCode: 137, isOomKilled: true, stderr: 'Killed\n' } : { stdout: 'done\n' }),
  });
}

test('a job killed for memory runs again with the limit its function gives the next attempt, and records each attempt', async () => {
  const runtime = needs48MiB();
  const manager = new DockerSimManager({ image: 'sim', dataDirectory: dir, runtime });
  const seen: Array<{ attempt: number; previous: string | undefined }> = [];
  manager.addSimJob({
    name: 'big',
    retries: 3,
    retryOn: ['oom'],
    backoff: { initialDelayMs: 0 },
    memory: ({ attempt, previousError }) => {
      seen.push({ attempt, previous: previousError?.code });
      return `${32 * 2 ** (attempt - 1)}m`;
    },
    timeoutMs: ({ attempt }) => attempt * 60_000,
  });
  const retrying: AttemptLimitsRecord[] = [];
  manager.on('job:retrying', ({ limits }) => retrying.push(limits));
  const [result] = (await manager.startComputation()).results;

  expect(result).toMatchObject({ status: 'succeeded', attempts: 2 });
  expect(result?.attemptLimits).toEqual([
    { attempt: 1, memoryBytes: 32 * MiB, timeoutMs: 60_000 },
    { attempt: 2, memoryBytes: 64 * MiB, timeoutMs: 120_000 },
  ]);
  expect(retrying).toEqual([{ attempt: 2, memoryBytes: 64 * MiB, timeoutMs: 120_000 }]);
  expect(runtime.created.map((spec) => spec.memoryBytes)).toEqual([32 * MiB, 64 * MiB]);
  // Attempt 1 is evaluated once when the job is made; attempt 2 sees why attempt 1 failed.
  expect(seen).toEqual([
    { attempt: 1, previous: undefined },
    { attempt: 2, previous: 'E_JOB_EXIT' },
  ]);
  const [record] = latestRecords(await readManifest(manifestPath(dir))).values();
  expect(record?.limits).toEqual({ memoryBytes: 64 * MiB, timeoutMs: 120_000 });

  // The spec hash does not depend on the limits: a resumed run skips the job.
  const again = new DockerSimManager({ image: 'sim', dataDirectory: dir, runtime, resume: true });
  again.addSimJob({ name: 'big', memory: ({ attempt }) => `${32 * 2 ** (attempt - 1)}m` });
  expect((await again.startComputation()).skipped).toBe(1);
});

test('without growth the retry meets the same limit and the job fails as an OOM kill', async () => {
  const manager = new DockerSimManager({ image: 'sim', dataDirectory: dir, runtime: needs48MiB() });
  manager.addSimJob({ name: 'fixed', memory: '32m', retries: 1, retryOn: ['oom'], backoff: { initialDelayMs: 0 } });
  const [result] = (await manager.startComputation()).results;
  expect(result).toMatchObject({ status: 'failed', attempts: 2 });
  expect(result?.error).toBeInstanceOf(JobExitError);
  expect(result?.attemptLimits.map((l) => l.memoryBytes)).toEqual([32 * MiB, 32 * MiB]);
});

test('a limit function that returns nonsense is refused naming the field and the attempt; the job keeps its own failure', async () => {
  const warnings: string[] = [];
  const manager = new DockerSimManager({ image: 'sim', dataDirectory: dir, runtime: needs48MiB() });
  manager.on('run:warning', ({ message }) => warnings.push(message));
  manager.addSimJob({ name: 'odd', retries: 2, retryOn: ['oom'], backoff: { initialDelayMs: 0 }, memory: ({ attempt }) => (attempt === 1 ? '32m' : 'lots') });
  const [result] = (await manager.startComputation()).results;
  expect(result).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'E_JOB_EXIT', isOomKilled: true } });
  expect(warnings.join('\n')).toMatch(/Job odd is not retried: .*jobs\[odd\]\.memory \(attempt 2\)/);
  // A function that fails for attempt 1 is refused when the job is made.
  expect(() => new DockerSimManager({ image: 'sim', dataDirectory: dir, runtime: needs48MiB(), defaults: { cpus: () => -1 } })).toThrow(ValidationError);
});

test('pool mode refuses memory that grows per attempt: its workers are sized once', async () => {
  const manager = new DockerSimManager({ image: 'sim', dataDirectory: dir, runtime: needs48MiB(), executionMode: 'pool', defaults: { memory: ({ attempt }) => `${32 * attempt}m` } });
  manager.addSimJob({ name: 'p', command: 'x' });
  await expect(manager.startComputation()).rejects.toMatchObject({ name: 'ValidationError', field: 'defaults.memory' });
});

test('sweep files grow limits declaratively: growOnRetry multiplies memory, cpus and timeout on each retry', () => {
  const spec = parseSweep({ image: 'sim', memory: '1g', cpus: 1, timeout: '10m', growOnRetry: { memory: 2, cpus: 1.5, timeout: 3 }, retries: 2, retryOn: ['oom', 'timeout'] });
  const { defaults } = sweepManagerOptions(spec, { baseDir: dir });
  const at = (value: unknown, attempt: number): unknown => (typeof value === 'function' ? (value as (info: { attempt: number }) => unknown)({ attempt }) : value);
  expect([1, 2, 3].map((attempt) => at(defaults?.memory, attempt))).toEqual([1024 ** 3, 2 * 1024 ** 3, 4 * 1024 ** 3]);
  expect([1, 2, 3].map((attempt) => at(defaults?.cpus, attempt))).toEqual([1, 1.5, 2.25]);
  expect([1, 2, 3].map((attempt) => at(defaults?.timeoutMs, attempt))).toEqual([600_000, 1_800_000, 5_400_000]);
  expect(() => sweepManagerOptions(parseSweep({ image: 'sim', growOnRetry: { memory: 2 } }), { baseDir: dir })).toThrow(/growOnRetry.memory multiplies `memory` on each retry, but the sweep sets no `memory`/);
});
