import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runContainerJob, type ContainerJobExecution } from '../../src/job/run-container-job.js';
import { InMemoryRuntime, type InMemoryBehaviour } from '../../src/testing.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dsim-runner-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function execution(behaviour: InMemoryBehaviour, overrides: Partial<ContainerJobExecution> = {}) {
  const runtime = new InMemoryRuntime({ images: { img: {} }, behaviour: () => behaviour });
  const removals: string[] = [];
  const exec: ContainerJobExecution = {
    jobName: 'J',
    spec: { name: 'c-J', image: 'img', env: {}, labels: {}, binds: [] },
    templates: [],
    owner: { uid: 0, gid: 0 },
    logFiles: { combined: path.join(dir, 'log.txt'), stdout: path.join(dir, 'stdout.log'), stderr: path.join(dir, 'stderr.log') },
    maxLogBytes: 1024 ** 3,
    copyOut: [],
    outputDir: dir,
    stagingRoot: path.join(dir, '.staging'),
    outputLimits: { maxBytes: 1024 ** 3, maxEntries: 1000 },
    ownedDirectories: [],
    archiveRoot: '/',
    runtime,
    signal: new AbortController().signal,
    stopGracePeriodMs: 0,
    logGraceMs: 30,
    waitCheckIntervalMs: 20,
    onStarted: () => undefined,
    scheduleRemoval: (id) => removals.push(id),
    ...overrides,
  };
  return { exec, runtime, removals };
}

test('when the engine never answers the wait, the exit code comes from inspect', async () => {
  const { exec, removals } = execution({ exitCode: 4, durationMs: 10, isWaitLost: true });
  const outcome = await runContainerJob(exec);
  expect(outcome).toMatchObject({ status: 'failed', exitCode: 4 });
  expect(removals).toHaveLength(1);
});

test('when the output stream never ends, the log is completed from the engine after the grace period', async () => {
  const { exec, runtime } = execution({ stdout: 'line 1\nline 2\n', stderr: 'oops\n', isOutputLost: true });
  const lines: string[] = [];
  const outcome = await runContainerJob({ ...exec, onLine: (stream, line) => lines.push(`${stream}:${line}`) });
  expect(outcome.status).toBe('succeeded');
  expect(await readFile(exec.logFiles.combined, 'utf8')).toBe('line 1\nline 2\noops\n');
  expect(lines).toEqual(['stdout:line 1', 'stdout:line 2', 'stderr:oops']);
  expect(runtime.calls).toContain('logs');
});

test('templates travel as one tar stream with the owner uid/gid', async () => {
  const { exec, runtime } = execution({});
  await runContainerJob({
    ...exec,
    owner: { uid: 1234, gid: 99 },
    templates: [{ kind: 'content', content: Buffer.from('seed=3\n'), target: '/sim/config.txt', mode: 0o600 }],
  });
  const [tar] = runtime.archivesOf('c-J');
  expect(tar).toBeDefined();
  const header = tar!.subarray(0, 512);
  expect(header.subarray(0, 14).toString()).toBe('sim/config.txt');
  expect(parseInt(header.subarray(100, 107).toString(), 8)).toBe(0o600);
  expect(parseInt(header.subarray(108, 115).toString(), 8)).toBe(1234);
  expect(parseInt(header.subarray(116, 123).toString(), 8)).toBe(99);
  expect(tar!.subarray(512, 519).toString()).toBe('seed=3\n');
});
