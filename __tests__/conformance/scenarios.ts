/**
 * The job contract, as one table of scenarios. Each scenario is written once, against the public API, and the
 * suite runs it on every backend of backends.ts. Jobs are `sh -c` scripts (the test image's entrypoint); the
 * in-memory backends run them with the fake shell of helpers/fake-shell.ts, so keep them to its subset.
 * A scenario asserts what a user would notice: statuses, error classes and codes, files in the job folders,
 * logs, events, manifest records, and (checked after every scenario) nothing left on the engine.
 */
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  DockerSimManager,
  EngineError,
  JobCancelledError,
  JobExitError,
  JobStalledError,
  JobTimeoutError,
  ValidationError,
  latestRecords,
  manifestPath,
  readManifest,
  type AttemptFailure,
  type DockerSimManagerEvents,
  type JobResult,
  type RunSummary,
  type SimJobOptions,
} from '../../src/index.js';
import { startDriver, type Driver } from '../helpers/driver.js';
import type { Backend, RefusableSetting, ScenarioManagerOptions } from './backends.js';

export interface ScenarioContext {
  backend: Backend;
  /** A fresh temporary folder of this test (removed afterwards). */
  dir: string;
  /** `<dir>/data`: the data directory scenarios use unless they need another. */
  data: string;
  /** A manager on this backend; `dataDirectory` defaults to `data`. */
  manager(overrides?: Partial<ScenarioManagerOptions>, extras?: { engineFault?: boolean }): DockerSimManager;
  /** Registers clean-up to run after the scenario, pass or fail (before the leftovers check). */
  onCleanup(cleanup: () => Promise<void> | void): void;
}

export interface Scenario {
  name: string;
  /** The test title on a backend, when it depends on the backend's capabilities. */
  title?(backend: Backend): string;
  /** @default 60000 */
  timeoutMs?: number;
  /** Whether the scenario can be expressed on a backend (the fake shell cannot allocate memory, say). @default true */
  appliesTo?(backend: Backend): boolean;
  run(context: ScenarioContext): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------- helpers

function resultOf(summary: RunSummary, name: string): JobResult {
  const result = summary.results.find((r) => r.name === name);
  if (!result) throw new Error(`no result for job ${name}; results: ${summary.results.map((r) => r.name).join(', ')}`);
  return result;
}

const read = (file: string): Promise<string> => readFile(file, 'utf8');

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

type Recorded = { event: keyof DockerSimManagerEvents; job?: string; payload: Record<string, unknown> };

/** Every payload of the named events, in the order they were emitted. */
function record(manager: DockerSimManager, names: ReadonlyArray<keyof DockerSimManagerEvents>): Recorded[] {
  const events: Recorded[] = [];
  for (const name of names) {
    manager.on(name, (payload: unknown) => {
      const p = payload as Record<string, unknown> & { job?: { name: string } };
      events.push({ event: name, ...(p.job ? { job: p.job.name } : {}), payload: p });
    });
  }
  return events;
}

/** Polls `check` until it is true; fails with `what` after `timeoutMs`. For state outside the manager's events. */
async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Runs a manager and returns its summary with how long it took. */
async function timed(run: Promise<RunSummary>): Promise<{ summary: RunSummary; elapsedMs: number }> {
  const started = Date.now();
  const summary = await run;
  return { summary, elapsedMs: Date.now() - started };
}

// --------------------------------------------------------------------------------------------- the scenarios

/** Every character a job name may hold (letters of both cases, digits, '.', '_', '-'), and the longest name. */
const LONG_NAME = 'Long.Name_128-chars.'.repeat(7).slice(0, 127) + 'Z';
const FOUNDATION_NAMES = ['with.templates', '0.001', 'UPPER.lower_mix-9', 'a_b-c.d', '_lead', '-dash.first', 'x', '9', 'semver-1.2.3', 'snake_case_name', 'MiXeD.Case', LONG_NAME];

const foundation: Scenario = {
  name: 'foundation: 12 jobs with every allowed name character and a 128-character name, templates of all three kinds under and outside the mount path',
  timeoutMs: 90_000,
  async run({ dir, data, manager: make }) {
    expect(LONG_NAME).toHaveLength(128);
    const tpl = path.join(dir, 'tpl');
    await mkdir(path.join(tpl, 'host-dir', 'nested'), { recursive: true });
    await writeFile(path.join(tpl, 'bare.txt'), 'bare path\n');
    await writeFile(path.join(tpl, 'host-file.txt'), 'host file\n');
    await writeFile(path.join(tpl, 'host-dir', 'a.txt'), 'dir a\n');
    await writeFile(path.join(tpl, 'host-dir', 'nested', 'b.txt'), 'dir b\n');
    const seen = [
      ['/mnt/data/bare.txt', 'bare path\n'],
      ['/mnt/data/in/host-file.txt', 'host file\n'],
      ['/mnt/data/in/host-dir/a.txt', 'dir a\n'],
      ['/mnt/data/in/host-dir/nested/b.txt', 'dir b\n'],
      ['/mnt/data/in/inline.txt', 'inline under the mount\n'],
      ['/etc/dsim/host-file.conf', 'host file\n'],
      ['/etc/dsim/host-dir/a.txt', 'dir a\n'],
      ['/etc/dsim/host-dir/nested/b.txt', 'dir b\n'],
      ['/etc/dsim/inline.conf', 'inline elsewhere\n'],
    ] as const;

    const manager = make({ maxWorkers: 3 });
    for (const name of FOUNDATION_NAMES) {
      const isTemplated = name === 'with.templates';
      manager.addSimJob({
        name,
        env: { JOB: name },
        // Every job has its own templates under and outside the mount path: a job must see its own, never another's.
        templates: [
          { content: `job ${name}\n`, target: '/mnt/data/job.txt' },
          { content: `conf ${name}\n`, target: '/etc/dsim/job.conf' },
          ...(isTemplated
            ? [
                path.join(tpl, 'bare.txt'), // a bare host path: into the mount path under its own name
                { source: path.join(tpl, 'host-file.txt'), target: '/mnt/data/in/host-file.txt' },
                { source: path.join(tpl, 'host-dir'), target: '/mnt/data/in/host-dir' },
                { content: 'inline under the mount\n', target: '/mnt/data/in/inline.txt', mode: 0o640 },
                { source: path.join(tpl, 'host-file.txt'), target: '/etc/dsim/host-file.conf' },
                { source: path.join(tpl, 'host-dir'), target: '/etc/dsim/host-dir' },
                { content: 'inline elsewhere\n', target: '/etc/dsim/inline.conf' },
              ]
            : []),
        ],
        command: [
          `${isTemplated ? `cat ${seen.map(([file]) => file).join(' ')} > /mnt/data/seen.txt; ` : ''}cat /mnt/data/job.txt /etc/dsim/job.conf; echo "hello $JOB"; echo "out $JOB" > /mnt/data/out.txt`,
        ],
      });
    }
    const events = record(manager, ['job:started', 'job:succeeded', 'job:failed']);
    const summary = await manager.startComputation();

    const failures = summary.results.filter((r) => r.status !== 'succeeded').map((r) => `${r.name}: ${r.status} ${r.error?.name}: ${r.error?.message}`);
    expect(failures).toEqual([]);
    expect(summary).toMatchObject({ total: 12, succeeded: 12, failed: 0, cancelled: 0, skipped: 0, stopReason: null });
    expect(events.filter((e) => e.event === 'job:started').map((e) => e.job).sort()).toEqual([...FOUNDATION_NAMES].sort());
    for (const name of FOUNDATION_NAMES) {
      const result = resultOf(summary, name);
      expect(result).toMatchObject({ status: 'succeeded', exitCode: 0, attempts: 1, outputDir: path.join(data, `job_${name}`) });
      expect(await read(path.join(result.outputDir, 'out.txt'))).toBe(`out ${name}\n`);
      expect(await read(result.logFile)).toBe(`job ${name}\nconf ${name}\nhello ${name}\n`);
      expect(await read(result.stdoutFile)).toBe(`job ${name}\nconf ${name}\nhello ${name}\n`);
      expect(await read(result.stderrFile)).toBe('');
      expect(await read(path.join(result.outputDir, 'job.txt'))).toBe(`job ${name}\n`);
    }
    const templated = resultOf(summary, 'with.templates').outputDir;
    expect(await read(path.join(templated, 'seen.txt'))).toBe(seen.map(([, content]) => content).join(''));
    // Templates under the mount path are files in the job folder, with the mode asked for.
    expect(await read(path.join(templated, 'bare.txt'))).toBe('bare path\n');
    expect(await read(path.join(templated, 'in', 'host-file.txt'))).toBe('host file\n');
    expect(await read(path.join(templated, 'in', 'host-dir', 'nested', 'b.txt'))).toBe('dir b\n');
    expect(await read(path.join(templated, 'in', 'inline.txt'))).toBe('inline under the mount\n');
    expect((await stat(path.join(templated, 'in', 'inline.txt'))).mode & 0o777).toBe(0o640);
  },
};

const failingExitCode: Scenario = {
  name: 'a failing exit code: failed, JobExitError with exitCode 3 (E_JOB_EXIT), stderr kept, the other job unaffected',
  async run({ manager: make }) {
    const manager = make({ maxWorkers: 2 });
    manager.addSimJobs([
      { name: 'fails', command: ['echo failing >&2; exit 3'], retries: 2 }, // retries: an exit code is not retried by default
      { name: 'fine', command: ['echo fine'] },
    ]);
    const events = record(manager, ['job:failed', 'job:retrying']);
    const summary = await manager.startComputation();

    expect(summary).toMatchObject({ total: 2, succeeded: 1, failed: 1, stopReason: null });
    const fails = resultOf(summary, 'fails');
    expect(fails).toMatchObject({ status: 'failed', exitCode: 3, attempts: 1 });
    expect(fails.error).toBeInstanceOf(JobExitError);
    expect(fails.error).toMatchObject({ code: 'E_JOB_EXIT', exitCode: 3, isOomKilled: false });
    expect(await read(fails.stderrFile)).toBe('failing\n');
    expect(await read(fails.logFile)).toBe('failing\n');
    expect(await read(fails.stdoutFile)).toBe('');
    expect(events.map((e) => `${e.event}:${e.job}`)).toEqual(['job:failed:fails']);
    expect(events[0]?.payload.error).toBe(fails.error);
    expect(resultOf(summary, 'fine')).toMatchObject({ status: 'succeeded', exitCode: 0 });
    expect(await read(resultOf(summary, 'fine').logFile)).toBe('fine\n');
    expect(manager.simJobs.map((job) => [job.name, job.status])).toEqual([
      ['fails', 'failed'],
      ['fine', 'succeeded'],
    ]);
  },
};

const timeout: Scenario = {
  name: 'a timeout: failed with JobTimeoutError (E_JOB_TIMEOUT), not an engine error and not retried; the output before the stop is kept',
  async run({ manager: make }) {
    const manager = make({ maxWorkers: 2, defaults: { init: true } });
    manager.addSimJobs([
      { name: 'slow', command: ['echo started; sleep 30'], timeoutMs: 1500, retries: 2 }, // default retryOn: engine errors only
      { name: 'quick', command: ['echo quick'], timeoutMs: 30_000 },
    ]);
    const events = record(manager, ['job:retrying', 'job:failed']);
    const { summary, elapsedMs } = await timed(manager.startComputation());

    const slow = resultOf(summary, 'slow');
    expect({ status: slow.status, attempts: slow.attempts, error: `${slow.error?.name}: ${slow.error?.message}` }).toMatchObject({ status: 'failed', attempts: 1, error: expect.stringMatching(/^JobTimeoutError/) });
    expect(slow.error).toBeInstanceOf(JobTimeoutError);
    expect(slow.error).not.toBeInstanceOf(EngineError);
    expect(slow.error).toMatchObject({ code: 'E_JOB_TIMEOUT', timeoutMs: 1500 });
    expect(events.filter((e) => e.event === 'job:retrying')).toEqual([]);
    expect(await read(slow.logFile)).toContain('started');
    expect(resultOf(summary, 'quick')).toMatchObject({ status: 'succeeded' });
    expect(elapsedMs).toBeLessThan(20_000); // stopped at 1.5 s, not after the 30 s sleep
  },
};

const stall: Scenario = {
  name: 'an inactivity stall: job:stalled, then failed with JobStalledError (E_JOB_STALLED)',
  async run({ manager: make }) {
    const manager = make({ maxWorkers: 1, defaults: { init: true } });
    manager.addSimJob({ name: 'silent', command: ['echo hello; sleep 30'], inactivityTimeoutMs: 1500 });
    const events = record(manager, ['job:stalled', 'job:failed', 'job:retrying']);
    const { summary, elapsedMs } = await timed(manager.startComputation());

    const silent = resultOf(summary, 'silent');
    expect({ status: silent.status, attempts: silent.attempts, error: `${silent.error?.name}: ${silent.error?.message}` }).toMatchObject({ status: 'failed', attempts: 1, error: expect.stringMatching(/^JobStalledError/) });
    expect(silent.error).toBeInstanceOf(JobStalledError);
    expect(silent.error).toMatchObject({ code: 'E_JOB_STALLED' });
    expect(events.map((e) => e.event)).toEqual(['job:stalled', 'job:failed']);
    expect(events[0]?.payload).toMatchObject({ attempt: 1, inactivityTimeoutMs: 1500 });
    expect(events[0]?.payload.silentMs).toBeGreaterThanOrEqual(1500);
    expect(await read(silent.logFile)).toContain('hello');
    expect(elapsedMs).toBeLessThan(20_000);
  },
};

const flakyRetried: Scenario = {
  name: "a flaky job retried to success (retryOn 'exit-code'): 2 attempts, the first set aside in .attempt-1",
  async run({ manager: make, data }) {
    const manager = make({ maxWorkers: 1 });
    // The first attempt's output is set aside into .attempt-1 inside the job folder before the retry: the
    // second attempt finds it there.
    manager.addSimJob({
      name: 'flaky',
      command: ['if [ -d /mnt/data/.attempt-1 ]; then echo second try; echo second > /mnt/data/out.txt; else echo first try; echo first > /mnt/data/out.txt; exit 3; fi'],
      retries: 2,
      retryOn: ['exit-code'],
      backoff: { initialDelayMs: 0 },
    });
    const events = record(manager, ['job:started', 'job:retrying', 'job:succeeded', 'job:failed']);
    const summary = await manager.startComputation();

    const flaky = resultOf(summary, 'flaky');
    expect({ status: flaky.status, attempts: flaky.attempts, exitCode: flaky.exitCode, error: flaky.error?.message }).toEqual({ status: 'succeeded', attempts: 2, exitCode: 0, error: undefined });
    expect(events.map((e) => e.event)).toEqual(['job:started', 'job:retrying', 'job:started', 'job:succeeded']);
    const retrying = events[1]?.payload;
    expect(retrying).toMatchObject({ attempt: 2, delayMs: 0, setAsideTo: path.join(data, 'job_flaky', '.attempt-1') });
    expect(retrying?.error).toBeInstanceOf(JobExitError);
    expect(retrying?.error).toMatchObject({ exitCode: 3 });
    expect(events[2]?.payload).toMatchObject({ attempt: 2 });
    expect(await read(path.join(flaky.outputDir, 'out.txt'))).toBe('second\n');
    expect(await read(flaky.logFile)).toBe('second try\n');
    expect(await read(path.join(flaky.outputDir, '.attempt-1', 'out.txt'))).toBe('first\n');
    expect(await read(path.join(flaky.outputDir, '.attempt-1', 'log.txt'))).toBe('first try\n');
  },
};

const cancellation: Scenario = {
  name: 'cancellation mid-run: running and queued jobs cancelled (JobCancelledError), queued ones never get a folder, nothing left on the engine',
  async run({ backend, data, manager: make }) {
    const manager = make({ maxWorkers: 2, defaults: { init: true } });
    for (let i = 1; i <= 5; i++) manager.addSimJob({ name: `C${i}`, command: ['echo up; sleep 30'] });
    const controller = new AbortController();
    const up = new Set<string>();
    // Cancel once both running jobs printed: they are surely running, whatever the backend's start-up time.
    manager.on('job:log', ({ job, line }) => {
      if (line === 'up') up.add(job.name);
      if (up.size === 2) controller.abort();
    });
    const events = record(manager, ['job:started', 'job:cancelled', 'run:cancelling']);
    const { summary, elapsedMs } = await timed(manager.startComputation({ signal: controller.signal }));

    expect(summary).toMatchObject({ total: 5, cancelled: 5, succeeded: 0, failed: 0, stopReason: 'cancelled' });
    expect(elapsedMs).toBeLessThan(30_000);
    const started = events.filter((e) => e.event === 'job:started').map((e) => e.job);
    expect(started.sort()).toEqual([...up].sort());
    expect(events.filter((e) => e.event === 'run:cancelling').map((e) => e.payload.reason)).toEqual(['cancelled']);
    expect(events.filter((e) => e.event === 'job:cancelled')).toHaveLength(5);
    for (const result of summary.results) {
      expect(result.error).toBeInstanceOf(JobCancelledError);
      expect(result.error?.code).toBe('E_JOB_CANCELLED');
      if (up.has(result.name)) {
        expect(result.attempts).toBe(1);
        expect(await read(result.logFile)).toBe('up\n');
      } else {
        expect(result).toMatchObject({ attempts: 0, startedAt: null });
        expect(await exists(path.join(data, `job_${result.name}`))).toBe(false);
      }
    }
    // The run resolves only once its containers, workers or services are removed.
    expect(await backend.leftovers()).toEqual([]);
  },
};

const failFast: Scenario = {
  name: "failFast: the first failure stops the run (stopReason 'fail-fast'); the remaining jobs are cancelled",
  async run({ backend, data, manager: make }) {
    const manager = make({ maxWorkers: 2, failFast: true, defaults: { init: true } });
    manager.addSimJob({ name: 'bad', command: ['sleep 0.5; exit 2'] });
    for (let i = 1; i <= 4; i++) manager.addSimJob({ name: `L${i}`, command: ['echo up; sleep 30'] });
    const events = record(manager, ['job:started', 'run:cancelling']);
    const { summary, elapsedMs } = await timed(manager.startComputation());

    expect(summary).toMatchObject({ total: 5, failed: 1, cancelled: 4, succeeded: 0, stopReason: 'fail-fast' });
    expect(elapsedMs).toBeLessThan(30_000);
    const bad = resultOf(summary, 'bad');
    expect(bad).toMatchObject({ status: 'failed', exitCode: 2 });
    expect(bad.error).toBeInstanceOf(JobExitError);
    expect(events.filter((e) => e.event === 'run:cancelling').map((e) => e.payload.reason)).toEqual(['fail-fast']);
    // Two slots: 'bad' and L1 at most; the others never start.
    expect(events.filter((e) => e.event === 'job:started' && e.job !== 'bad' && e.job !== 'L1')).toEqual([]);
    for (const name of ['L1', 'L2', 'L3', 'L4']) {
      const result = resultOf(summary, name);
      expect(result.status).toBe('cancelled');
      expect(result.error).toBeInstanceOf(JobCancelledError);
    }
    for (const name of ['L2', 'L3', 'L4']) {
      expect(resultOf(summary, name)).toMatchObject({ attempts: 0, startedAt: null });
      expect(await exists(path.join(data, `job_${name}`))).toBe(false);
    }
    expect(await backend.leftovers()).toEqual([]);
  },
};

/** The jobs of the resume scenario: R1, R2 finish at once; R3, R4 run long; R5, R6 wait in the queue. */
function resumeJobs(isSecondRun: boolean): SimJobOptions[] {
  const quick = 'echo run >> /mnt/data/runs.txt; cat /etc/dsim/resume.conf; echo ok > /mnt/data/result.txt';
  const slow = 'echo run >> /mnt/data/runs.txt; echo running; sleep 30';
  return ['R1', 'R2', 'R3', 'R4', 'R5', 'R6'].map((name) => ({
    name,
    // The interrupted jobs get a new (quick) command on resume; the finished ones keep their spec, so they are skipped.
    command: [(name === 'R3' || name === 'R4') && !isSecondRun ? slow : quick],
    templates: [{ content: 'resume\n', target: '/etc/dsim/resume.conf' }],
  }));
}

const resume: Scenario = {
  name: 'resume after the run was interrupted: finished jobs skipped, interrupted and queued ones rerun (their partial output set aside), manifest up to date',
  title: (backend) =>
    `resume after the driver ${backend.capabilities.interrupt === 'kill-driver' ? 'process was killed (SIGKILL)' : 'cancelled its run (in-process runtime)'}: finished jobs skipped, the others rerun, manifest up to date`,
  timeoutMs: 120_000,
  async run({ backend, data, manager: make, onCleanup }) {
    const options = backend.options({ dataDirectory: data, maxWorkers: 2, defaults: { init: true } });
    // Interrupt once R1 and R2 finished and R3 and R4 are running (they wrote runs.txt); R5 and R6 still wait.
    const interruptedWhen = async (lines: ReadonlyArray<{ event?: string; job?: string }>): Promise<boolean> =>
      lines.filter((e) => e.event === 'job:succeeded').length === 2 &&
      ['R3', 'R4'].every((name) => lines.some((e) => e.event === 'job:started' && e.job === name)) &&
      (await exists(path.join(data, 'job_R3', 'runs.txt'))) &&
      (await exists(path.join(data, 'job_R4', 'runs.txt')));

    let firstRunId: string | undefined;
    let driverPid: number | undefined;
    if (backend.capabilities.interrupt === 'kill-driver') {
      const driver: Driver = startDriver(options, resumeJobs(false));
      driverPid = driver.child.pid;
      onCleanup(async () => {
        driver.child.kill('SIGKILL');
        await driver.exited;
        if (driverPid !== undefined) await backend.removeObjectsOf(driverPid);
      });
      await waitUntil('R1 and R2 to succeed and R3 and R4 to run', () => interruptedWhen(driver.lines), 60_000);
      driver.child.kill('SIGKILL');
      expect(await driver.exited).toEqual({ code: null, signal: 'SIGKILL' });
      expect(driver.lines.filter((l) => l.event === 'job:succeeded').map((l) => l.job).sort()).toEqual(['R1', 'R2']);
      firstRunId = (driver.lines.find((l) => l.event === 'run:started') as { runId?: string } | undefined)?.runId;
    } else {
      const first = new DockerSimManager(options);
      first.addSimJobs(resumeJobs(false));
      const lines: Array<{ event: string; job: string }> = [];
      for (const event of ['job:started', 'job:succeeded'] as const) {
        first.on(event, ({ job }) => {
          lines.push({ event, job: job.name });
          void interruptedWhen(lines).then((isTime) => isTime && first.cancel());
        });
      }
      const summary = await first.startComputation();
      firstRunId = summary.runId;
      expect(summary.results.map((r) => [r.name, r.status])).toEqual([
        ['R1', 'succeeded'],
        ['R2', 'succeeded'],
        ['R3', 'cancelled'],
        ['R4', 'cancelled'],
        ['R5', 'cancelled'],
        ['R6', 'cancelled'],
      ]);
    }
    expect(firstRunId).toEqual(expect.any(String));

    const resumed = make({ maxWorkers: 2, resume: true, defaults: { init: true } });
    resumed.addSimJobs(resumeJobs(true));
    const events = record(resumed, ['job:skipped', 'job:started']);
    const summary = await resumed.startComputation();

    expect(summary.results.map((r) => [r.name, r.status, r.attempts])).toEqual([
      ['R1', 'skipped', 0],
      ['R2', 'skipped', 0],
      ['R3', 'succeeded', 1],
      ['R4', 'succeeded', 1],
      ['R5', 'succeeded', 1],
      ['R6', 'succeeded', 1],
    ]);
    expect(summary).toMatchObject({ skipped: 2, succeeded: 4, failed: 0, cancelled: 0 });
    expect(events.filter((e) => e.event === 'job:skipped').map((e) => e.job)).toEqual(['R1', 'R2']);
    expect(events.filter((e) => e.event === 'job:started').map((e) => e.job).sort()).toEqual(['R3', 'R4', 'R5', 'R6']);
    for (const name of ['R1', 'R2', 'R3', 'R4', 'R5', 'R6']) {
      const folder = path.join(data, `job_${name}`);
      expect(await read(path.join(folder, 'result.txt'))).toBe('ok\n');
      expect(await read(path.join(folder, 'runs.txt'))).toBe('run\n'); // each job ran once in its current folder
      expect(await read(path.join(folder, 'log.txt'))).toBe('resume\n');
      const isInterrupted = name === 'R3' || name === 'R4';
      expect((await readdir(folder)).includes('.attempt-1')).toBe(isInterrupted);
      if (isInterrupted) expect(await read(path.join(folder, '.attempt-1', 'runs.txt'))).toBe('run\n');
    }
    const latest = latestRecords(await readManifest(manifestPath(data)));
    expect([...latest.keys()].sort()).toEqual(['R1', 'R2', 'R3', 'R4', 'R5', 'R6']);
    for (const name of ['R1', 'R2']) expect(latest.get(name)).toMatchObject({ runId: firstRunId, status: 'succeeded', attempts: 1 });
    for (const name of ['R3', 'R4', 'R5', 'R6']) expect(latest.get(name)).toMatchObject({ runId: summary.runId, status: 'succeeded', exitCode: 0, attempts: 1 });

    if (driverPid !== undefined) {
      // The resumed run removed what the killed driver left running (its containers, workers or services).
      const pid = driverPid;
      await waitUntil('the killed driver leaves nothing on the engine', async () => (await backend.objectsOf(pid)).length === 0, 15_000).catch(() => undefined);
      expect(await backend.objectsOf(pid)).toEqual([]);
    }
  },
};

const engineErrorRetried: Scenario = {
  name: "an engine error is an EngineError classified 'engine-error' and retried",
  title: (backend) => {
    const fault = backend.capabilities.engineFault;
    return 'how' in fault ? `an engine error (${fault.how}) is an EngineError classified 'engine-error' and retried` : `an engine error: not expressible (${fault.unsupported})`;
  },
  async run({ backend, manager: make }) {
    const fault = backend.capabilities.engineFault;
    if (!('how' in fault)) return;
    const manager = make({ maxWorkers: 2 }, { engineFault: true });
    const seen: AttemptFailure[] = [];
    manager.addSimJobs([
      {
        name: 'faulty',
        command: ['echo survived; sleep 2'],
        ...fault.settings,
        retries: 1,
        backoff: { initialDelayMs: 0 },
        // Retried only when the failure is classified as an engine error.
        retryOn: (failure) => {
          seen.push(failure);
          return failure.reason === 'engine-error';
        },
      },
      { name: 'healthy', command: ['echo healthy'] },
    ]);
    manager.on('job:started', ({ job, containerId, attempt }) => {
      if (job.name === 'faulty') void fault.onStarted?.(containerId, attempt);
    });
    const events = record(manager, ['job:retrying']);
    const summary = await manager.startComputation();

    expect(seen.map((f) => [f.attempt, f.reason, f.error.name])).toEqual([[1, 'engine-error', 'EngineError']]);
    expect(seen[0]?.error).toBeInstanceOf(EngineError);
    expect(events.map((e) => [e.job, e.payload.attempt])).toEqual([['faulty', 2]]);
    expect(events[0]?.payload.error).toBeInstanceOf(EngineError);
    expect(events[0]?.payload.error).toMatchObject({ code: 'E_ENGINE' });
    const faulty = resultOf(summary, 'faulty');
    if (fault.isTransient) {
      expect({ status: faulty.status, attempts: faulty.attempts, error: faulty.error?.message }).toEqual({ status: 'succeeded', attempts: 2, error: undefined });
      expect(await read(faulty.logFile)).toBe('survived\n');
    } else {
      expect(faulty).toMatchObject({ status: 'failed', attempts: 2 });
      expect(faulty.error).toBeInstanceOf(EngineError);
    }
    expect(resultOf(summary, 'healthy')).toMatchObject({ status: 'succeeded', attempts: 1 });
  },
};

const envUserWorkingDir: Scenario = {
  name: 'env (defaults merged under the job, the job wins), user and working directory as seen inside the job',
  async run({ manager: make }) {
    const manager = make({ maxWorkers: 2, defaults: { env: { SHARED: 'from-defaults', OVERRIDE: 'no' } } });
    manager.addSimJobs([
      { name: 'who', env: { OVERRIDE: 'yes', GREETING: 'hello conformance' }, user: '1234:1234', workingDir: '/tmp', command: ['echo "$GREETING|$SHARED|$OVERRIDE"; id -u; id -g; pwd'] },
      { name: 'default-user', command: ['id -u; id -g'] },
    ]);
    const summary = await manager.startComputation();

    const who = resultOf(summary, 'who');
    expect({ status: who.status, error: who.error?.message }).toEqual({ status: 'succeeded', error: undefined });
    expect(await read(who.logFile)).toBe('hello conformance|from-defaults|yes\n1234\n1234\n/tmp\n');
    // Without `user`, a local engine runs the job as the calling user.
    const own = resultOf(summary, 'default-user');
    expect(own).toMatchObject({ status: 'succeeded' });
    expect(await read(own.logFile)).toBe(`${process.getuid?.() ?? 0}\n${process.getgid?.() ?? 0}\n`);
  },
};

const manifestRecords: Scenario = {
  name: "the run manifest: one record per job with the run id, status, exitCode, specHash and attempts (readManifest, latestRecords, manifestPath)",
  async run({ data, manager: make }) {
    const manager = make({ maxWorkers: 2 });
    manager.addSimJobs([
      { name: 'ok', command: ['echo ok'] },
      { name: 'bad', command: ['exit 5'] },
      { name: 'also-ok', command: ['echo also'] },
    ]);
    const summary = await manager.startComputation();

    const records = await readManifest(manifestPath(data));
    expect(records.map((r) => r.job).sort()).toEqual(['also-ok', 'bad', 'ok']);
    for (const record of records) {
      const result = resultOf(summary, record.job);
      expect(record).toMatchObject({
        v: 1,
        runId: summary.runId,
        status: result.status,
        exitCode: result.exitCode,
        attempts: 1,
        specHash: result.specHash,
        imageId: result.imageId,
        outputDir: result.outputDir,
      });
      expect(record.specHash).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(record.startedAt).toEqual(expect.any(String));
    }
    const latest = latestRecords(records);
    expect(latest.get('ok')).toMatchObject({ status: 'succeeded', exitCode: 0 });
    expect(latest.get('bad')).toMatchObject({ status: 'failed', exitCode: 5, error: { code: 'E_JOB_EXIT' } });
    expect(latest.get('ok')?.specHash).not.toBe(latest.get('also-ok')?.specHash); // the command is part of the spec
  },
};

/** Settings some backends cannot honour: a job using each, and what it does where the backend can. */
const SETTING_PROBES: Record<RefusableSetting, { settings: Partial<SimJobOptions>; command: string; check(result: JobResult): Promise<void> }> = {
  collect: {
    settings: { collect: ['/tmp/collected.txt'] },
    command: 'echo kept > /tmp/collected.txt; echo ran',
    check: async (result) => expect(await read(path.join(result.outputDir, 'collected.txt'))).toBe('kept\n'),
  },
  outputMode: {
    settings: { outputMode: 'copy' },
    command: 'echo copied > /mnt/data/out.txt; echo ran',
    check: async (result) => {
      expect(result.outputMode).toBe('copy');
      expect(await read(path.join(result.outputDir, 'out.txt'))).toBe('copied\n');
    },
  },
  network: { settings: { network: 'none' }, command: 'echo ran', check: async () => undefined },
  memory: { settings: { memory: '64m' }, command: 'echo ran', check: async () => undefined },
};

const settingScenarios: Scenario[] = (Object.keys(SETTING_PROBES) as RefusableSetting[]).map((setting) => ({
  name: `per-job \`${setting}\`: refused with a ValidationError naming it before anything exists on the engine, or honoured`,
  title: (backend) =>
    backend.capabilities.settings[setting] === 'refused'
      ? `per-job \`${setting}\` is refused: a ValidationError naming jobs[…].${setting}, before any container, worker or service exists`
      : `per-job \`${setting}\` is honoured`,
  async run({ backend, data, manager: make }) {
    const probe = SETTING_PROBES[setting];
    const name = `setting-${setting}`;
    const manager = make({ maxWorkers: 1 });
    manager.addSimJob({ name, command: [probe.command], ...probe.settings });
    if (backend.capabilities.settings[setting] === 'supported') {
      const summary = await manager.startComputation();
      const result = resultOf(summary, name);
      expect({ status: result.status, error: result.error?.message }).toEqual({ status: 'succeeded', error: undefined });
      expect(await read(result.logFile)).toBe('ran\n');
      await probe.check(result);
      return;
    }
    const since = Date.now();
    const error = await manager.startComputation().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ code: 'E_VALIDATION', field: `jobs[${name}].${setting}` });
    expect(manager.simJobs[0]?.status).toBe('pending');
    expect(await exists(path.join(data, `job_${name}`))).toBe(false);
    expect(await backend.createdSince(since, [name])).toEqual([]);
  },
}));

const outOfMemory: Scenario = {
  name: 'out of memory: a job the kernel kills for memory is a JobExitError with isOomKilled, retried by retryOn: oom; a plain SIGKILL is not an OOM',
  appliesTo: (backend) => backend.capabilities.memoryLimits,
  timeoutMs: 90_000,
  async run({ backend, manager: make }) {
    // The limit is the manager's (pool workers are the containers); `tail -c` keeps 100 MB of zeros in memory.
    const manager = make({ maxWorkers: 2, defaults: { memory: '32m' } });
    manager.addSimJobs([
      { name: 'hog', command: ['echo allocating; exec tail -c 100000000 /dev/zero'], retries: 1, retryOn: ['oom'], backoff: { initialDelayMs: 0 } },
      { name: 'killed', command: ["sh -c 'kill -9 $$'; exit $?"], retries: 1, retryOn: ['oom'], backoff: { initialDelayMs: 0 } },
    ]);
    const events = record(manager, ['job:retrying']);
    const warnings = record(manager, ['run:warning']);
    const summary = await manager.startComputation();
    const hog = resultOf(summary, 'hog');
    if (!backend.capabilities.knowsOomKills) {
      // The engine cannot tell an OOM kill from a SIGKILL: said before the run, and never guessed.
      expect(warnings.map((w) => (w.payload as { message: string }).message).filter((m) => /does not report when the kernel kills/.test(m))).toHaveLength(1);
      expect(hog).toMatchObject({ status: 'failed', exitCode: 137, attempts: 1 });
      expect(hog.error).toMatchObject({ code: 'E_JOB_EXIT', isOomKilled: false });
      expect(events).toEqual([]);
      return;
    }
    expect(hog).toMatchObject({ status: 'failed', exitCode: 137, attempts: 2 });
    expect(hog.error).toBeInstanceOf(JobExitError);
    expect(hog.error).toMatchObject({ code: 'E_JOB_EXIT', isOomKilled: true });
    expect(hog.error?.message).toMatch(/ran out of memory/);
    expect(events.map((e) => e.job)).toEqual(['hog']);
    const killed = resultOf(summary, 'killed');
    expect(killed).toMatchObject({ status: 'failed', exitCode: 137, attempts: 1 });
    expect(killed.error).toMatchObject({ code: 'E_JOB_EXIT', isOomKilled: false });
  },
};

const growingMemory: Scenario = {
  name: 'memory that grows per attempt: a job killed for memory succeeds on its retry with twice the limit, each attempt\'s limit recorded',
  title: (backend) =>
    backend.capabilities.settings.memory === 'refused'
      ? 'memory that grows per attempt is refused (workers are sized once): a ValidationError naming defaults.memory, before anything exists'
      : 'memory that grows per attempt: a job killed for memory succeeds on its retry with twice the limit, each attempt\'s limit recorded',
  appliesTo: (backend) => backend.capabilities.memoryLimits || backend.capabilities.settings.memory === 'refused',
  timeoutMs: 90_000,
  async run({ backend, data, manager: make }) {
    // `tail -c` holds the last 60 MB of a pipe in memory: more than 40 MiB, less than 80 MiB.
    const manager = make({ maxWorkers: 1, defaults: { memory: ({ attempt }) => `${40 * 2 ** (attempt - 1)}m` } });
    manager.addSimJob({ name: 'grows', command: ['head -c 70000000 /dev/zero | tail -c 60000000 > /dev/null && echo done > /mnt/data/done.txt'], retries: 2, retryOn: ['oom'], backoff: { initialDelayMs: 0 } });
    if (backend.capabilities.settings.memory === 'refused') {
      const since = Date.now();
      const error = await manager.startComputation().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ValidationError);
      expect(error).toMatchObject({ field: 'defaults.memory' });
      expect(await exists(path.join(data, 'job_grows'))).toBe(false);
      expect(await backend.createdSince(since, ['grows'])).toEqual([]);
      return;
    }
    const events = record(manager, ['job:retrying']);
    const warnings = record(manager, ['run:warning']);
    const summary = await manager.startComputation();
    const result = resultOf(summary, 'grows');
    if (!backend.capabilities.knowsOomKills) {
      expect(warnings.map((w) => (w.payload as { message: string }).message).filter((m) => /does not report when the kernel kills/.test(m))).toHaveLength(1);
      expect(result).toMatchObject({ status: 'failed', exitCode: 137, attempts: 1 });
      expect(events).toEqual([]);
      return;
    }
    expect({ status: result.status, attempts: result.attempts, error: result.error?.message }).toEqual({ status: 'succeeded', attempts: 2, error: undefined });
    expect(result.attemptLimits.map((limits) => limits.memoryBytes)).toEqual([40 * 1024 ** 2, 80 * 1024 ** 2]);
    expect(events[0]?.payload).toMatchObject({ attempt: 2, limits: { attempt: 2, memoryBytes: 80 * 1024 ** 2 }, error: { code: 'E_JOB_EXIT', isOomKilled: true } });
    expect(await read(path.join(result.outputDir, 'done.txt'))).toBe('done\n');
  },
};

const resourceUsage: Scenario = {
  name: 'resource usage: a job holding 40 MB reports a peak of 38-50 MiB, a busy job its CPU time, a sleeping one almost none',
  // The in-memory runtime reports what its behaviour says (unit tests cover that, and the absence of made-up zeros).
  appliesTo: (backend) => backend.capabilities.memoryLimits && backend.capabilities.measuresUsage,
  timeoutMs: 90_000,
  async run({ manager: make }) {
    const manager = make({ maxWorkers: 2 });
    manager.addSimJobs([
      // dd holds its 40,000,000-byte block in memory; the sleeps let the engine take a sample after the work.
      { name: 'holds-40mb', command: ['dd if=/dev/zero of=/dev/null bs=40000000 count=1 2>/dev/null; sleep 1.5; echo done > /mnt/data/done.txt'] },
      { name: 'busy', command: ['awk "BEGIN { for (i = 0; i < 6000000; i++) x += i }"; sleep 1.5; echo done > /mnt/data/done.txt'] },
    ]);
    const summary = await manager.startComputation();
    const holds = resultOf(summary, 'holds-40mb');
    const busy = resultOf(summary, 'busy');
    expect([holds.status, busy.status]).toEqual(['succeeded', 'succeeded']);
    const MiB = 1024 ** 2;
    expect(holds.usage.peakMemoryBytes).toBeGreaterThanOrEqual(38 * MiB);
    expect(holds.usage.peakMemoryBytes).toBeLessThanOrEqual(50 * MiB);
    // A single-threaded loop: CPU time is real work (hundreds of ms here) and cannot exceed the wall time.
    expect(busy.usage.cpuMs).toBeGreaterThanOrEqual(400);
    expect(busy.usage.cpuMs).toBeLessThanOrEqual(busy.durationMs);
    expect(busy.usage.cpuMs).toBeGreaterThan(5 * (holds.usage.cpuMs ?? 0));
  },
};

const notStartable: Scenario = {
  name: 'a job the engine cannot start (a user the image lacks): failed as a JobExitError, the job\'s own fault, not retried as an engine error',
  appliesTo: (backend) => backend.capabilities.checksUsers,
  async run({ manager: make }) {
    const manager = make({ maxWorkers: 1 });
    manager.addSimJob({ name: 'nobody', command: ['echo never'], user: 'nosuchuser', retries: 2 });
    const summary = await manager.startComputation();
    const result = resultOf(summary, 'nobody');
    expect(result).toMatchObject({ status: 'failed', attempts: 1 });
    expect(result.error).toBeInstanceOf(JobExitError);
    expect(result.exitCode).toBeGreaterThanOrEqual(126);
    expect(await read(result.logFile)).not.toContain('never');
  },
};

export const SCENARIOS: readonly Scenario[] = [
  foundation,
  failingExitCode,
  timeout,
  stall,
  flakyRetried,
  cancellation,
  failFast,
  resume,
  engineErrorRetried,
  envUserWorkingDir,
  manifestRecords,
  outOfMemory,
  growingMemory,
  resourceUsage,
  notStartable,
  ...settingScenarios,
];
