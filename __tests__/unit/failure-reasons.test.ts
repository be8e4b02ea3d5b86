import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DockerSimManager, JobExitError, JobTimeoutError } from '../../src/index.js';
import { InMemoryRuntime } from '../../src/testing.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dsim-reasons-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const TRACEBACK = ['Traceback (most recent call last):', '  File "/app/art.py", line 12, in <module>', '    draw(size)', 'ValueError: size must be positive, got -3'];

test('a failed job says why: the end of its stderr and the absolute path of its log, in the error and the message', async () => {
  const runtime = new InMemoryRuntime({
    images: { 'sim:latest': {} },
    behaviour: () => ({ exitCode: 1, stdout: 'starting\n', stderr: `${'noise\n'.repeat(30)}${TRACEBACK.join('\n')}\n` }),
  });
  const manager = new DockerSimManager({ image: 'sim', dataDirectory: path.join(dir, 'out'), runtime });
  manager.addSimJob({ name: 'grid2', command: 'x' });
  const [result] = (await manager.startComputation()).results;
  const error = result?.error as JobExitError;
  expect(error).toBeInstanceOf(JobExitError);
  const logFile = path.join(dir, 'out', 'job_grid2', 'log.txt');
  expect(error.logFile).toBe(logFile);
  expect(error.stderrTail).toEqual([...Array(6).fill('noise'), ...TRACEBACK]);
  expect(error.message).toContain('Job grid2 exited with code 1.');
  expect(error.message).toContain('  ValueError: size must be positive, got -3\n');
  expect(error.message).toContain(`Its output is in ${logFile}.`);
});

test('values of secret-looking env variables never reach a message, even when the job prints them', async () => {
  const runtime = new InMemoryRuntime({ images: { 'sim:latest': {} }, behaviour: () => ({ exitCode: 2, stderr: 'auth failed with token s3cr3t-t0ken for user alice\n' }) });
  const manager = new DockerSimManager({ image: 'sim', dataDirectory: dir, runtime, defaults: { env: { API_TOKEN: 's3cr3t-t0ken', USER_NAME: 'alice' } } });
  manager.addSimJob({ name: 'j', command: 'x' });
  const [result] = (await manager.startComputation()).results;
  expect(result?.error?.message).toContain('auth failed with token *** for user alice');
  expect(JSON.stringify(result?.error)).not.toContain('s3cr3t');
  expect(result?.error?.message).not.toContain('s3cr3t');
});

test('a job with no stderr still names its log; a timeout reads as a time limit with a unit, not a bare exit code', async () => {
  const runtime = new InMemoryRuntime({ images: { 'sim:latest': {} }, behaviour: () => ({ durationMs: 5_000 }) });
  const manager = new DockerSimManager({ image: 'sim', dataDirectory: dir, runtime, stopGracePeriodMs: 0 });
  manager.addSimJob({ name: 'slow', command: 'x', timeoutMs: 30 });
  const [result] = (await manager.startComputation()).results;
  expect(result?.error).toBeInstanceOf(JobTimeoutError);
  expect(result?.error?.message).toMatch(/^Job slow was stopped because it ran longer than its time limit of 30 ms \(`timeoutMs`; `timeout` in a sweep file\)/);
  expect(result?.error?.message).toContain(`Its output so far is in ${path.join(dir, 'job_slow', 'log.txt')}.`);
});

test('a job that succeeds with nothing in its folder is reported once as a warning and listed in the summary', async () => {
  const runtime = new InMemoryRuntime({
    images: { 'sim:latest': {} },
    isLocal: false, // copy mode: the fake container's files come back through getArchive
    behaviour: (spec) => (spec.labels['docker-sim-manager.job'] === 'writes' ? { files: { '/mnt/data/pi.txt': '3.14\n' } } : { stdout: 'pi=3.14\n' }),
  });
  const manager = new DockerSimManager({ image: 'sim', dataDirectory: dir, runtime });
  manager.addSimJobs([{ name: 'writes' }, { name: 'forgot1' }, { name: 'forgot2', templates: [{ content: 'x', target: '/mnt/data/input.txt' }] }]);
  const warnings: string[] = [];
  manager.on('run:warning', ({ message }) => warnings.push(message));
  const summary = await manager.startComputation();
  expect(summary.succeeded).toBe(3);
  expect([...summary.withoutOutput].sort()).toEqual(['forgot1', 'forgot2']);
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatch(/^Job forgot[12] succeeded but left nothing in its output folder .*write them under \/mnt\/data/);
});
