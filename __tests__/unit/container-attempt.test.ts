import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { containerAttempt } from '../../src/backends/container/container-attempt.js';
import { runAttempt, type AttemptContext } from '../../src/backends/run-attempt.js';
import type { PreparedJob } from '../../src/job/prepared-job.js';
import { InMemoryRuntime, type InMemoryBehaviour } from '../../src/testing.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dsim-runner-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** One attempt in a fresh container on the in-memory runtime, with short engine watchdog timings. */
function execution(behaviour: InMemoryBehaviour) {
  const runtime = new InMemoryRuntime({ images: { img: {} }, behaviour: () => behaviour });
  const removals: string[] = [];
  const run = (overrides: { templates?: PreparedJob['templates']; owner?: PreparedJob['owner']; onLine?: AttemptContext['onLine'] } = {}) => {
    const logFiles = { combined: path.join(dir, 'log.txt'), stdout: path.join(dir, 'stdout.log'), stderr: path.join(dir, 'stderr.log') };
    const job = {
      job: { name: 'J' },
      templates: overrides.templates ?? [],
      owner: overrides.owner ?? { uid: 0, gid: 0 },
      ownedDirectories: [],
      archiveRoot: '/',
      copyOut: [],
      outputDir: dir,
      logFiles,
      limits: { maxLogBytes: 1024 ** 3, maxOutputBytes: 1024 ** 3, maxOutputEntries: 1000 },
    } as unknown as PreparedJob;
    const signal = new AbortController().signal;
    const driver = containerAttempt({
      job,
      spec: { name: 'c-J', image: 'img', env: {}, labels: {}, binds: [] },
      runtime,
      signal,
      stopGracePeriodMs: 0,
      stagingRoot: path.join(dir, '.staging'),
      logGraceMs: 30,
      waitCheckIntervalMs: 20,
      collectUsage: true,
      scheduleRemoval: (id) => removals.push(id),
    });
    return runAttempt(driver, { jobName: 'J', runtime, logFiles, maxLogBytes: 1024 ** 3, signal, onStarted: () => undefined, onLine: overrides.onLine });
  };
  return { run, runtime, removals, logFile: path.join(dir, 'log.txt') };
}

test('when the engine never answers the wait, the exit code comes from inspect', async () => {
  const { run, removals } = execution({ exitCode: 4, durationMs: 10, isWaitLost: true });
  const outcome = await run();
  expect(outcome).toMatchObject({ status: 'failed', exitCode: 4 });
  expect(removals).toHaveLength(1);
});

test('when the output stream never ends, the log is completed from the engine after the grace period', async () => {
  const { run, runtime, logFile } = execution({ stdout: 'line 1\nline 2\n', stderr: 'oops\n', isOutputLost: true });
  const lines: string[] = [];
  const outcome = await run({ onLine: (stream, line) => lines.push(`${stream}:${line}`) });
  expect(outcome.status).toBe('succeeded');
  expect(await readFile(logFile, 'utf8')).toBe('line 1\nline 2\noops\n');
  expect(lines).toEqual(['stdout:line 1', 'stdout:line 2', 'stderr:oops']);
  expect(runtime.calls).toContain('logs');
});

test('templates travel as one tar stream with the owner uid/gid', async () => {
  const { run, runtime } = execution({});
  await run({
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
