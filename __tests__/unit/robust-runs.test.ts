import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  DockerSimManager,
  DockerUnavailableError,
  EngineError,
  JobCancelledError,
  JobExitError,
  JobStalledError,
  JobTimeoutError,
  LABELS,
  SimJob,
  TemplateError,
  ValidationError,
  latestRecords,
  manifestPath,
  readManifest,
  type AttemptFailure,
  type BackoffOptions,
  type ContainerSpec,
  type DockerSimError,
  type DockerSimManagerEvents,
  type DockerSimManagerOptions,
  type JobResult,
  type ManifestRecord,
  type SimJobOptions,
} from '../../src/index.js';
import { InMemoryRuntime, type InMemoryBehaviour, type InMemoryRuntimeOptions } from '../../src/testing.js';
import { setAsideAttempt } from '../../src/job/attempt-folders.js';
import { failureReason, retryDelayMs, shouldRetry } from '../../src/job/retry-policy.js';
import { ManifestWriter } from '../../src/manifest/run-manifest.js';
import { specHash, type JobSpecForHash } from '../../src/manifest/spec-hash.js';
import { reapOrphanContainers } from '../../src/backends/reap-orphans.js';
import { isOwnerGone, processStartTime } from '../../src/runtime/owner.js';

const IMAGE = 'sim:1.0';
let tmp: string;

beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'dsim-robust-'));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** The validated settings of a job, as the manager sees them. */
function settingsOf(options: Omit<SimJobOptions, 'name'>) {
  return new SimJob({ name: 'J', ...options }).settings;
}

function failureOf(error: DockerSimError, attempt = 1): AttemptFailure {
  const exitCode = 'exitCode' in error && typeof error.exitCode === 'number' ? error.exitCode : null;
  return { error, reason: failureReason(error), attempt, exitCode };
}

function setup(runtimeOptions: InMemoryRuntimeOptions = {}, managerOptions: Partial<DockerSimManagerOptions> = {}) {
  const runtime = new InMemoryRuntime({ images: { [IMAGE]: {} }, ...runtimeOptions });
  const manager = new DockerSimManager({ image: IMAGE, dataDirectory: path.join(tmp, 'data'), runtime, maxWorkers: 2, ...managerOptions });
  return { runtime, manager };
}

/** Job names of the containers a runtime created, in creation order. */
function createdJobs(runtime: InMemoryRuntime): string[] {
  return runtime.created.map((spec) => spec.labels[LABELS.job] ?? '?');
}

/**
 * A behaviour that fails the first `failures[job]` attempts of a job (attempts counted per job by container
 * creation), printing which attempt it is, so the logs show which attempt left them.
 */
function failFirstAttempts(failures: Record<string, number>, failed: InMemoryBehaviour = { exitCode: 3 }): (spec: ContainerSpec) => InMemoryBehaviour {
  const creates = new Map<string, number>();
  return (spec) => {
    const job = spec.labels[LABELS.job] ?? '';
    const attempt = (creates.get(job) ?? 0) + 1;
    creates.set(job, attempt);
    const stdout = `${job} attempt ${attempt}\n`;
    return attempt <= (failures[job] ?? 0) ? { ...failed, stdout } : { stdout };
  };
}

/** `event:job:attempt` strings in emission order. */
function recordEvents(manager: DockerSimManager, names: ReadonlyArray<keyof DockerSimManagerEvents>): string[] {
  const events: string[] = [];
  for (const name of names) {
    manager.on(name, (payload: unknown) => {
      const { job, attempt, reason } = payload as { job?: { name: string }; attempt?: number; reason?: string };
      events.push([name, job?.name, attempt, reason].filter((part) => part !== undefined).join(':'));
    });
  }
  return events;
}

function resultOf(results: readonly JobResult[], name: string): JobResult {
  const result = results.find((r) => r.name === name);
  if (!result) throw new Error(`no result for job ${name}`);
  return result;
}

describe('retryDelayMs', () => {
  const backoff = (options: BackoffOptions): Required<BackoffOptions> => ({ initialDelayMs: 100, factor: 2, maxDelayMs: 1000, jitter: 0, ...options });

  test('grows exponentially from initialDelayMs by factor, and is capped at maxDelayMs', () => {
    const delays = [1, 2, 3, 4, 5, 6, 20].map((retry) => retryDelayMs(backoff({}), retry));
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
    expect([1, 2, 3].map((retry) => retryDelayMs(backoff({ factor: 3, initialDelayMs: 10 }), retry))).toEqual([10, 30, 90]);
    expect([1, 5].map((retry) => retryDelayMs(backoff({ factor: 1 }), retry))).toEqual([100, 100]);
  });

  test('jitter spreads a delay by at most ±jitter (random 0 → lowest, 0.5 → base, 1 → highest)', () => {
    const b = backoff({ jitter: 0.2 });
    expect(retryDelayMs(b, 1, () => 0)).toBe(80);
    expect(retryDelayMs(b, 1, () => 0.5)).toBe(100);
    expect(retryDelayMs(b, 1, () => 1)).toBe(120);
    expect(retryDelayMs(b, 3, () => 0)).toBe(320);
    expect(retryDelayMs(b, 3, () => 1)).toBe(480);
    for (let i = 0; i < 200; i++) {
      const delay = retryDelayMs(b, 2);
      expect(delay).toBeGreaterThanOrEqual(160);
      expect(delay).toBeLessThanOrEqual(240);
    }
  });

  test('a jittered delay never exceeds maxDelayMs, and never goes below zero', () => {
    const b = backoff({ jitter: 1 });
    expect(retryDelayMs(b, 10, () => 1)).toBe(1000);
    expect(retryDelayMs(b, 10, () => 0)).toBe(0);
    expect(retryDelayMs(b, 10, () => 0.75)).toBe(1000);
    expect(retryDelayMs(b, 10, () => 0.25)).toBe(500);
  });

  test('jitter 0 gives the exact delay whatever the random source says', () => {
    const b = backoff({ jitter: 0, initialDelayMs: 250 });
    for (const random of [0, 0.3, 0.5, 0.999, 1]) expect(retryDelayMs(b, 2, () => random)).toBe(500);
  });

  test('initialDelayMs 0 means retry at once, even with a steep factor', () => {
    // 0 * factor^(n-1) must stay 0; a power that overflows to Infinity (factor 1e4, retry 80) must not make it NaN.
    expect(retryDelayMs(backoff({ initialDelayMs: 0 }), 50)).toBe(0);
    expect(retryDelayMs(backoff({ initialDelayMs: 0, factor: 1e4 }), 80)).toBe(0);
  });

  test('the defaults are 1 s, doubling, ±20 %, at most 60 s', () => {
    const defaults = settingsOf({ backoff: {} }).backoff;
    expect(defaults).toEqual({ initialDelayMs: 1000, factor: 2, maxDelayMs: 60_000, jitter: 0.2 });
    if (!defaults) return;
    expect(retryDelayMs(defaults, 1, () => 0.5)).toBe(1000);
    expect(retryDelayMs(defaults, 8, () => 1)).toBe(60_000);
  });
});

describe('failureReason and shouldRetry', () => {
  const exit = new JobExitError('J', 3, false);
  const oom = new JobExitError('J', 137, true);
  const timeout = new JobTimeoutError('J', 1000, 143);
  const stalled = new JobStalledError('J', 1000, 143);
  const engine = new EngineError('start container', 'engine failed');
  const unreachable = new DockerUnavailableError('unix:///x.sock', 'no engine');
  const template = new TemplateError('/in/x', 'cannot pack');
  const cancelled = new JobCancelledError('J');

  test('classifies each failure kind', () => {
    expect([exit, oom, timeout, stalled, engine, unreachable, template, cancelled].map(failureReason)).toEqual([
      'exit-code',
      'oom',
      'timeout',
      'stalled',
      'engine-error',
      'engine-error',
      undefined,
      undefined,
    ]);
  });

  test('by default only engine errors are retried, and only when retries > 0', () => {
    const settings = settingsOf({ retries: 3 });
    expect(shouldRetry(settings, failureOf(engine))).toBe(true);
    expect(shouldRetry(settings, failureOf(unreachable))).toBe(true);
    for (const error of [exit, oom, timeout, stalled, template]) expect(shouldRetry(settings, failureOf(error))).toBe(false);
    expect(shouldRetry(settingsOf({}), failureOf(engine))).toBe(false); // retries default to 0
  });

  test("'exit-code' and 'oom' are told apart", () => {
    const onExit = settingsOf({ retries: 1, retryOn: 'exit-code' });
    expect(shouldRetry(onExit, failureOf(exit))).toBe(true);
    expect(shouldRetry(onExit, failureOf(oom))).toBe(false);
    expect(shouldRetry(onExit, failureOf(engine))).toBe(false); // naming reasons replaces the default
    const onOom = settingsOf({ retries: 1, retryOn: ['oom'] });
    expect(shouldRetry(onOom, failureOf(oom))).toBe(true);
    expect(shouldRetry(onOom, failureOf(exit))).toBe(false);
  });

  test("'timeout' and 'stalled' retry their own kind only", () => {
    const onTimeout = settingsOf({ retries: 1, retryOn: 'timeout' });
    expect([timeout, stalled, exit].map((e) => shouldRetry(onTimeout, failureOf(e)))).toEqual([true, false, false]);
    const onStalled = settingsOf({ retries: 1, retryOn: ['stalled', 'engine-error'] });
    expect([timeout, stalled, engine].map((e) => shouldRetry(onStalled, failureOf(e)))).toEqual([false, true, true]);
  });

  test('retries bounds the attempts: with retries 2, attempts 1 and 2 are retried, attempt 3 is not', () => {
    const settings = settingsOf({ retries: 2, retryOn: ['exit-code'] });
    expect([1, 2, 3, 4].map((attempt) => shouldRetry(settings, failureOf(exit, attempt)))).toEqual([true, true, false, false]);
    // Retries already spent are counted separately when given (attempts that never reached the engine are free).
    expect(shouldRetry(settings, failureOf(exit, 5), 1)).toBe(true);
    expect(shouldRetry(settings, failureOf(exit, 2), 2)).toBe(false);
  });

  test('a predicate decides from { error, reason, attempt, exitCode }, and retries still bounds it', () => {
    const seen: AttemptFailure[] = [];
    const settings = settingsOf({
      retries: 2,
      retryOn: (failure) => {
        seen.push(failure);
        return failure.exitCode === 3;
      },
    });
    expect(shouldRetry(settings, failureOf(exit, 1))).toBe(true);
    expect(shouldRetry(settings, failureOf(oom, 2))).toBe(false);
    expect(seen).toEqual([
      { error: exit, reason: 'exit-code', attempt: 1, exitCode: 3 },
      { error: oom, reason: 'oom', attempt: 2, exitCode: 137 },
    ]);
    expect(shouldRetry(settings, failureOf(exit, 3))).toBe(false);
  });
});

describe('setAsideAttempt', () => {
  /** Every file and folder under `dir`, as sorted relative paths. */
  async function tree(dir: string): Promise<string[]> {
    return (await readdir(dir, { recursive: true })).sort();
  }

  test('moves everything but earlier .attempt-N folders into .attempt-(highest + 1), deleting nothing', async () => {
    const job = path.join(tmp, 'job_J');
    await mkdir(path.join(job, 'sub'), { recursive: true });
    await mkdir(path.join(job, '.attempt-1'));
    await mkdir(path.join(job, '.attempt-3'));
    await writeFile(path.join(job, 'log.txt'), 'third');
    await writeFile(path.join(job, 'sub', 'out.dat'), 'data');
    await writeFile(path.join(job, '.hidden'), 'h');
    await writeFile(path.join(job, '.attempt-x'), 'not an attempt folder');
    await writeFile(path.join(job, '.attempt-1', 'log.txt'), 'first');
    await writeFile(path.join(job, '.attempt-3', 'log.txt'), 'older');

    const target = await setAsideAttempt(job);

    expect(target).toBe(path.join(job, '.attempt-4'));
    expect(await tree(job)).toEqual(
      [
        '.attempt-1',
        '.attempt-1/log.txt',
        '.attempt-3',
        '.attempt-3/log.txt',
        '.attempt-4',
        '.attempt-4/.attempt-x',
        '.attempt-4/.hidden',
        '.attempt-4/log.txt',
        '.attempt-4/sub',
        '.attempt-4/sub/out.dat',
      ].map((p) => path.normalize(p)),
    );
    expect(await readFile(path.join(job, '.attempt-4', 'log.txt'), 'utf8')).toBe('third');
    expect(await readFile(path.join(job, '.attempt-1', 'log.txt'), 'utf8')).toBe('first');

    await writeFile(path.join(job, 'log.txt'), 'fifth');
    expect(await setAsideAttempt(job)).toBe(path.join(job, '.attempt-5'));
    expect(await readFile(path.join(job, '.attempt-5', 'log.txt'), 'utf8')).toBe('fifth');
  });

  test('returns undefined and creates nothing for an empty folder, a folder with only attempt folders, or a missing one', async () => {
    const empty = path.join(tmp, 'empty');
    await mkdir(empty);
    expect(await setAsideAttempt(empty)).toBeUndefined();
    expect(await readdir(empty)).toEqual([]);

    const onlyAttempts = path.join(tmp, 'only');
    await mkdir(path.join(onlyAttempts, '.attempt-2'), { recursive: true });
    expect(await setAsideAttempt(onlyAttempts)).toBeUndefined();
    expect(await readdir(onlyAttempts)).toEqual(['.attempt-2']);

    const missing = path.join(tmp, 'missing');
    expect(await setAsideAttempt(missing)).toBeUndefined();
    expect(await readdir(tmp)).not.toContain('missing');
  });
});

describe('run manifest', () => {
  function record(job: string, status: ManifestRecord['status'], extra: Partial<ManifestRecord> = {}): ManifestRecord {
    return {
      v: 1,
      runId: 'run1',
      job,
      specHash: `sha256:${'a'.repeat(64)}`,
      status,
      exitCode: status === 'succeeded' ? 0 : 1,
      attempts: 1,
      imageId: 'sha256:img',
      imageDigest: null,
      startedAt: '2024-01-01T00:00:00.000Z',
      finishedAt: '2024-01-01T00:00:01.000Z',
      durationMs: 1000,
      slot: 0,
      outputDir: `/data/job_${job}`,
      ...extra,
    };
  }

  test('ManifestWriter appends one JSON line per record, in order, creating the folder', async () => {
    const file = manifestPath(path.join(tmp, 'data'));
    expect(file).toBe(path.join(tmp, 'data', '.docker-sim-manager', 'manifest.jsonl'));
    const writer = new ManifestWriter(file);
    const records = Array.from({ length: 20 }, (_, i) => record(`J${i}`, i % 3 === 0 ? 'failed' : 'succeeded'));
    await Promise.all(records.map((r) => writer.append(r))); // not awaited one by one: order must still hold
    await writer.close();
    const text = await readFile(file, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(text.trimEnd().split('\n').map((line) => JSON.parse(line) as unknown)).toEqual(records);
    expect(await readManifest(file)).toEqual(records);

    const again = new ManifestWriter(file); // a later run appends, never truncates
    await again.append(record('late', 'cancelled'));
    await again.close();
    expect((await readManifest(file)).map((r) => r.job)).toEqual([...records.map((r) => r.job), 'late']);
  });

  test('readManifest skips a torn last line and lines that are not records; [] when there is no manifest', async () => {
    const file = path.join(tmp, 'manifest.jsonl');
    const a = record('a', 'succeeded');
    const b = record('b', 'failed');
    const torn = JSON.stringify(record('c', 'succeeded')).slice(0, 40);
    await writeFile(file, `${JSON.stringify(a)}\nnot json at all\n\n{"v":2,"job":"x","status":"succeeded"}\nnull\n${JSON.stringify(b)}\n${torn}`);
    expect(await readManifest(file)).toEqual([a, b]);
    expect(await readManifest(path.join(tmp, 'missing', 'manifest.jsonl'))).toEqual([]);
  });

  test('a record appended after a torn last line (a killed run) is still read back', async () => {
    const file = path.join(tmp, 'manifest.jsonl');
    const a = record('a', 'succeeded');
    await writeFile(file, `${JSON.stringify(a)}\n${JSON.stringify(record('b', 'succeeded')).slice(0, 30)}`);
    const writer = new ManifestWriter(file);
    const next = record('c', 'succeeded', { runId: 'run2' });
    await writer.append(next);
    await writer.close();
    expect(await readManifest(file)).toEqual([a, next]);
  });

  test('latestRecords keeps the newest record of each job', () => {
    const first = record('a', 'failed', { runId: 'r1' });
    const other = record('b', 'succeeded', { runId: 'r1' });
    const second = record('a', 'succeeded', { runId: 'r2' });
    const latest = latestRecords([first, other, second]);
    expect([...latest.keys()].sort()).toEqual(['a', 'b']);
    expect(latest.get('a')).toBe(second);
    expect(latest.get('b')).toBe(other);
    expect(latestRecords([]).size).toBe(0);
  });
});

describe('specHash', () => {
  let templateFile: string;
  let templateDir: string;
  const base = (): JobSpecForHash => ({
    imageId: 'sha256:aaaa',
    entrypoint: ['/sim/run'],
    cmd: ['-i', '10'],
    env: { A: '1', B: '2' },
    workingDir: '/work',
    templates: [
      { kind: 'path', source: templateFile, target: '/mnt/data/params.yaml', isDirectory: false },
      { kind: 'path', source: templateDir, target: '/sim/inputs', isDirectory: true },
      { kind: 'content', content: Buffer.from('seed=3\n'), target: '/sim/seed.txt', mode: 0o644 },
    ],
  });

  beforeEach(async () => {
    templateFile = path.join(tmp, 'params.yaml');
    templateDir = path.join(tmp, 'inputs');
    await writeFile(templateFile, 'alpha: 1\n');
    await chmod(templateFile, 0o644);
    await mkdir(templateDir);
    await writeFile(path.join(templateDir, 'mesh.dat'), 'mesh');
  });

  test('the same spec gives the same sha256 hash; env key order and file times do not matter', async () => {
    const first = await specHash(base());
    expect(first).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await specHash(base())).toBe(first);
    expect(await specHash({ ...base(), env: { B: '2', A: '1' } })).toBe(first);
    await utimes(templateFile, new Date(2001, 1, 1), new Date(2001, 1, 1));
    expect(await specHash(base())).toBe(first);
  });

  test.each<[string, (spec: JobSpecForHash) => JobSpecForHash]>([
    ['an env value', (s) => ({ ...s, env: { ...s.env, A: '2' } })],
    ['an added env variable', (s) => ({ ...s, env: { ...s.env, C: '' } })],
    ['the command', (s) => ({ ...s, cmd: ['-i', '11'] })],
    ['how the command splits into arguments', (s) => ({ ...s, cmd: ['-i 10'] })],
    ['no command instead of the image default', (s) => ({ ...s, cmd: undefined })],
    ['the entrypoint', (s) => ({ ...s, entrypoint: ['/sim/run2'] })],
    ['the image id', (s) => ({ ...s, imageId: 'sha256:bbbb' })],
    ['the working directory', (s) => ({ ...s, workingDir: '/other' })],
    ['a template target', (s) => ({ ...s, templates: s.templates.map((t, i) => (i === 0 ? { ...t, target: '/mnt/data/p.yaml' } : t)) })],
    ['content-template bytes (same length)', (s) => ({ ...s, templates: s.templates.map((t) => (t.kind === 'content' ? { ...t, content: Buffer.from('seed=4\n') } : t)) })],
    ['a content-template mode', (s) => ({ ...s, templates: s.templates.map((t) => (t.kind === 'content' ? { ...t, mode: 0o755 } : t)) })],
    ['the template order', (s) => ({ ...s, templates: [...s.templates].reverse() })],
  ])('changes with %s', async (_what, change) => {
    expect(await specHash(change(base()))).not.toBe(await specHash(base()));
  });

  test.each<[string, () => Promise<void>]>([
    ['a template file content (same size)', () => writeFile(templateFile, 'alpha: 2\n')],
    ['a template file mode', () => chmod(templateFile, 0o755)],
    ['a file inside a template folder', () => writeFile(path.join(templateDir, 'mesh.dat'), 'MESH')],
    ['a file added to a template folder', () => writeFile(path.join(templateDir, 'extra.dat'), '')],
  ])('changes with %s on disk', async (_what, change) => {
    const before = await specHash(base());
    await change();
    expect(await specHash(base())).not.toBe(before);
  });
});

describe('retries with the in-memory runtime', () => {
  const quickBackoff = { initialDelayMs: 1, factor: 2, jitter: 0 };

  test('a failed attempt runs again in a fresh container after job:retrying; its output is set aside in .attempt-1', async () => {
    const { runtime, manager } = setup({ behaviour: failFirstAttempts({ flaky: 1 }) });
    manager.addSimJob({ name: 'flaky', retries: 2, retryOn: 'exit-code', backoff: quickBackoff });
    manager.addSimJob({ name: 'steady', retries: 2, retryOn: 'exit-code', backoff: quickBackoff });
    const events = recordEvents(manager, ['job:started', 'job:retrying', 'job:succeeded', 'job:failed']);
    const retrying: Array<Parameters<DockerSimManagerEvents['job:retrying']>[0]> = [];
    manager.on('job:retrying', (payload) => retrying.push(payload));

    const summary = await manager.startComputation();

    expect(summary).toMatchObject({ succeeded: 2, failed: 0, stopReason: null });
    expect(resultOf(summary.results, 'flaky')).toMatchObject({ status: 'succeeded', exitCode: 0, attempts: 2 });
    expect(resultOf(summary.results, 'steady')).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(events.filter((e) => e.includes(':flaky'))).toEqual(['job:started:flaky:1', 'job:retrying:flaky:2', 'job:started:flaky:2', 'job:succeeded:flaky']);
    expect(retrying).toHaveLength(1);
    const jobDir = path.join(tmp, 'data', 'job_flaky');
    expect(retrying[0]).toMatchObject({ attempt: 2, delayMs: 1, setAsideTo: path.join(jobDir, '.attempt-1') });
    expect(retrying[0]?.error).toBeInstanceOf(JobExitError);
    expect(retrying[0]?.error).toMatchObject({ exitCode: 3 });
    expect(runtime.created.filter((s) => s.labels[LABELS.job] === 'flaky').map((s) => s.name)).toEqual([`dsim-${summary.runId}-flaky`, `dsim-${summary.runId}.2-flaky`]);
    expect(await readFile(path.join(jobDir, '.attempt-1', 'log.txt'), 'utf8')).toBe('flaky attempt 1\n');
    expect(await readFile(path.join(jobDir, 'log.txt'), 'utf8')).toBe('flaky attempt 2\n');
    expect(runtime.existing).toEqual([]);
  });

  test('retries is a bound: every attempt fails → retries + 1 containers, backoff grows, the job fails', async () => {
    const { runtime, manager } = setup({ behaviour: failFirstAttempts({ bad: 99 }) });
    manager.addSimJob({ name: 'bad', retries: 2, retryOn: ['exit-code'], backoff: quickBackoff });
    const retrying: Array<{ attempt: number; delayMs: number }> = [];
    manager.on('job:retrying', ({ attempt, delayMs }) => retrying.push({ attempt, delayMs }));
    const summary = await manager.startComputation();
    const bad = resultOf(summary.results, 'bad');
    expect(bad).toMatchObject({ status: 'failed', exitCode: 3, attempts: 3 });
    expect(bad.error).toBeInstanceOf(JobExitError);
    expect(retrying).toEqual([
      { attempt: 2, delayMs: 1 },
      { attempt: 3, delayMs: 2 },
    ]);
    expect(runtime.created.map((s) => s.name)).toEqual([`dsim-${summary.runId}-bad`, `dsim-${summary.runId}.2-bad`, `dsim-${summary.runId}.3-bad`]);
    const jobDir = path.join(tmp, 'data', 'job_bad');
    expect((await readdir(jobDir)).sort()).toEqual(['.attempt-1', '.attempt-2', 'log.txt', 'stderr.log', 'stdout.log']);
    expect(await readFile(path.join(jobDir, '.attempt-2', 'log.txt'), 'utf8')).toBe('bad attempt 2\n');
  });

  test('a non-zero exit is not retried by default; an engine error is', async () => {
    const { runtime, manager } = setup({
      behaviour: failFirstAttempts({ exits: 1 }),
      failOn: { start: (spec) => /^dsim-[0-9a-f]{12}-engine$/.test(spec.name) }, // the first attempt only: retries are dsim-<run>.<n>-engine
    });
    manager.addSimJob({ name: 'exits', retries: 3, backoff: quickBackoff });
    manager.addSimJob({ name: 'engine', retries: 3, backoff: quickBackoff });
    const retrying: Array<{ job: string; error: DockerSimError }> = [];
    manager.on('job:retrying', ({ job, error }) => retrying.push({ job: job.name, error }));
    const summary = await manager.startComputation();
    expect(resultOf(summary.results, 'exits')).toMatchObject({ status: 'failed', attempts: 1, exitCode: 3 });
    expect(resultOf(summary.results, 'engine')).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(retrying.map((r) => r.job)).toEqual(['engine']);
    expect(retrying[0]?.error).toBeInstanceOf(EngineError);
    expect(createdJobs(runtime).sort()).toEqual(['engine', 'engine', 'exits']);
    expect(runtime.existing).toEqual([]);
  });

  test('a retryOn function sees each failure and decides', async () => {
    const { manager } = setup({ behaviour: () => ({ exitCode: 5 }) });
    const seen: Array<Omit<AttemptFailure, 'error'> & { code: string }> = [];
    manager.addSimJob({
      name: 'J',
      retries: 5,
      backoff: quickBackoff,
      retryOn: ({ error, reason, attempt, exitCode }) => {
        seen.push({ code: error.code, reason, attempt, exitCode });
        return attempt < 2;
      },
    });
    const summary = await manager.startComputation();
    expect(summary.results[0]).toMatchObject({ status: 'failed', attempts: 2 });
    expect(seen).toEqual([
      { code: 'E_JOB_EXIT', reason: 'exit-code', attempt: 1, exitCode: 5 },
      { code: 'E_JOB_EXIT', reason: 'exit-code', attempt: 2, exitCode: 5 },
    ]);
  });
});

describe('timeouts with the in-memory runtime', () => {
  test('timeoutMs stops a long attempt: JobTimeoutError with the stop exit code, retried when retryOn says so', async () => {
    const { runtime, manager } = setup({ behaviour: (spec) => ({ durationMs: spec.labels[LABELS.job] === 'slow' ? 60_000 : 10 }) });
    manager.addSimJob({ name: 'slow', timeoutMs: 20, retries: 1, retryOn: 'timeout', backoff: { initialDelayMs: 1 } });
    manager.addSimJob({ name: 'quick', timeoutMs: 10_000 });
    const started = Date.now();
    const summary = await manager.startComputation();
    expect(Date.now() - started).toBeLessThan(10_000);
    const result = resultOf(summary.results, 'slow');
    expect(result).toMatchObject({ status: 'failed', attempts: 2, exitCode: 143 });
    expect(result.error).toBeInstanceOf(JobTimeoutError);
    expect(result.error).toMatchObject({ timeoutMs: 20, exitCode: 143 });
    expect(runtime.calls.filter((c) => c === 'stop')).toHaveLength(2);
    expect(resultOf(summary.results, 'quick')).toMatchObject({ status: 'succeeded', attempts: 1 }); // a timeout not reached changes nothing
  });

  test('inactivityTimeoutMs: job:stalled, then JobStalledError', async () => {
    const { manager } = setup({ behaviour: () => ({ durationMs: 60_000, stdout: 'started\n' }) });
    manager.addSimJob({ name: 'hung', inactivityTimeoutMs: 30 });
    const stalled: Array<Parameters<DockerSimManagerEvents['job:stalled']>[0]> = [];
    manager.on('job:stalled', (payload) => stalled.push(payload));
    const summary = await manager.startComputation();
    const result = resultOf(summary.results, 'hung');
    expect(result.status).toBe('failed');
    expect(result.error).toBeInstanceOf(JobStalledError);
    expect(stalled).toHaveLength(1);
    expect(stalled[0]).toMatchObject({ attempt: 1, inactivityTimeoutMs: 30 });
    expect(stalled[0]?.silentMs).toBeGreaterThanOrEqual(30);
  });

  test.each<[string, Omit<SimJobOptions, 'name'>, new (...args: never[]) => DockerSimError]>([
    ['timeoutMs', { timeoutMs: 20 }, JobTimeoutError],
    ['inactivityTimeoutMs', { inactivityTimeoutMs: 20 }, JobStalledError],
  ])('an attempt stopped for its %s fails even when the process exits 0 on SIGTERM', async (_limit, limit, errorClass) => {
    // A simulation that traps SIGTERM (init: true, as the README suggests for checkpointing) may exit 0 when
    // stopped. It still did not finish: recording it as succeeded would make a resumed run skip it for good.
    class TrappingRuntime extends InMemoryRuntime {
      override async stop(): Promise<void> {
        this.calls.push('stop'); // the process handles SIGTERM itself and exits on its own, with code 0
      }
    }
    const runtime = new TrappingRuntime({ images: { [IMAGE]: {} }, behaviour: () => ({ durationMs: 300, exitCode: 0 }) });
    const manager = new DockerSimManager({ image: IMAGE, dataDirectory: path.join(tmp, 'data'), runtime });
    manager.addSimJob({ name: 'checkpointing', ...limit });
    const summary = await manager.startComputation();
    expect(runtime.calls).toContain('stop');
    const result = resultOf(summary.results, 'checkpointing');
    expect(result.status).toBe('failed');
    expect(result.error).toBeInstanceOf(errorClass);
  });

  /**
   * Runs one job and collects the timer delays above 2^31 - 1 ms asked for meanwhile: Node fires such a timer
   * after 1 ms instead, printing a TimeoutOverflowWarning each time.
   */
  async function runWatchingTimerOverflow(job: SimJobOptions): Promise<{ result: JobResult; overflows: number }> {
    const { manager } = setup({ behaviour: () => ({ durationMs: 50, stdout: 'working\n' }) });
    manager.addSimJob(job);
    let overflows = 0;
    const original = globalThis.setTimeout;
    const watching = (handler: () => void, ms?: number): NodeJS.Timeout => {
      if (typeof ms === 'number' && ms > 2 ** 31 - 1) overflows += 1;
      return original(handler, ms);
    };
    globalThis.setTimeout = watching as typeof setTimeout;
    try {
      const summary = await manager.startComputation();
      return { result: resultOf(summary.results, job.name), overflows };
    } finally {
      globalThis.setTimeout = original;
    }
  }

  // Node runs a setTimeout longer than 2^31 - 1 ms (24.8 days) after 1 ms, with a TimeoutOverflowWarning.
  const thirtyDays = 30 * 24 * 3600_000;

  test('a timeoutMs longer than 24.8 days does not stop the job at once', async () => {
    const { result, overflows } = await runWatchingTimerOverflow({ name: 'long-timeout', timeoutMs: thirtyDays });
    expect([result.status, result.error?.code]).toEqual(['succeeded', undefined]);
    expect(overflows).toBe(0);
  });

  test('an inactivityTimeoutMs longer than 24.8 days does not re-check every millisecond', async () => {
    const { result, overflows } = await runWatchingTimerOverflow({ name: 'long-silence', inactivityTimeoutMs: thirtyDays });
    expect([result.status, result.error?.code]).toEqual(['succeeded', undefined]);
    expect(overflows).toBe(0);
  });
});

describe('stopping a run early', () => {
  test('failFast: the first failure cancels the running job and the queued ones never start', async () => {
    const { runtime, manager } = setup(
      { behaviour: (spec) => (spec.labels[LABELS.job] === 'bad' ? { exitCode: 1, durationMs: 20 } : { durationMs: 60_000 }) },
      { failFast: true, maxWorkers: 2 },
    );
    manager.addSimJobs([{ name: 'bad' }, { name: 'slow' }, { name: 'queued1' }, { name: 'queued2' }]);
    const events = recordEvents(manager, ['job:started', 'run:cancelling']);
    const summary = await manager.startComputation();
    expect(summary).toMatchObject({ failed: 1, cancelled: 3, succeeded: 0, stopReason: 'fail-fast' });
    expect(summary.results.map((r) => [r.name, r.status])).toEqual([
      ['bad', 'failed'],
      ['slow', 'cancelled'],
      ['queued1', 'cancelled'],
      ['queued2', 'cancelled'],
    ]);
    expect(events.filter((e) => e.startsWith('run:cancelling'))).toEqual(['run:cancelling:fail-fast']);
    expect(events.filter((e) => e.includes('queued'))).toEqual([]);
    expect(createdJobs(runtime).sort()).toEqual(['bad', 'slow']);
    expect(resultOf(summary.results, 'queued1')).toMatchObject({ attempts: 0, startedAt: null, containerId: null });
    expect(resultOf(summary.results, 'queued1').error).toBeInstanceOf(JobCancelledError);
    expect(manager.simJobs.map((j) => j.status)).toEqual(['failed', 'cancelled', 'cancelled', 'cancelled']);
    expect(runtime.existing).toEqual([]);
  });

  test('failFast counts a job as failed only after its retries', async () => {
    const { manager } = setup({ behaviour: failFirstAttempts({ flaky: 1 }) }, { failFast: true, maxWorkers: 1 });
    manager.addSimJob({ name: 'flaky', retries: 1, retryOn: 'exit-code', backoff: { initialDelayMs: 1 } });
    manager.addSimJob({ name: 'after' });
    const summary = await manager.startComputation();
    expect(summary).toMatchObject({ succeeded: 2, stopReason: null });
  });

  test('maxFailures: 2 stops the run at the second failure, not the first', async () => {
    const { runtime, manager } = setup({ behaviour: (spec) => (spec.labels[LABELS.job]?.startsWith('F') ? { exitCode: 2 } : {}) }, { maxFailures: 2, maxWorkers: 1 });
    manager.addSimJobs(['F1', 'ok1', 'F2', 'ok2', 'ok3'].map((name) => ({ name })));
    const summary = await manager.startComputation();
    expect(summary.results.map((r) => r.status)).toEqual(['failed', 'succeeded', 'failed', 'cancelled', 'cancelled']);
    expect(summary).toMatchObject({ failed: 2, succeeded: 1, cancelled: 2, stopReason: 'max-failures' });
    expect(createdJobs(runtime)).toEqual(['F1', 'ok1', 'F2']);

    const below = setup({ behaviour: (spec) => (spec.labels[LABELS.job] === 'F1' ? { exitCode: 2 } : {}) }, { maxFailures: 2, maxWorkers: 1, dataDirectory: path.join(tmp, 'below') });
    below.manager.addSimJobs(['F1', 'ok1', 'ok2'].map((name) => ({ name })));
    expect(await below.manager.startComputation()).toMatchObject({ failed: 1, succeeded: 2, stopReason: null });
  });

  test('cancel() mid-run: the running job is stopped, queued jobs are never created, stopReason is cancelled, the manifest says so', async () => {
    const { runtime, manager } = setup({ behaviour: () => ({ durationMs: 60_000 }) }, { maxWorkers: 1 });
    manager.addSimJobs([{ name: 'A' }, { name: 'B' }, { name: 'C' }]);
    manager.on('job:started', () => manager.cancel());
    const cancelling: string[] = [];
    manager.on('run:cancelling', ({ reason }) => cancelling.push(reason));
    const summary = await manager.startComputation();
    expect(summary).toMatchObject({ cancelled: 3, failed: 0, succeeded: 0, stopReason: 'cancelled' });
    expect(cancelling).toEqual(['cancelled']);
    expect(createdJobs(runtime)).toEqual(['A']);
    expect(runtime.calls.filter((c) => c === 'stop')).toHaveLength(1);
    expect(runtime.existing).toEqual([]);

    const records = await readManifest(manifestPath(path.join(tmp, 'data')));
    // One line per job; the order follows when each ended (queued jobs end the moment the run is cancelled).
    const lines = records.map((r) => [r.job, r.status, r.attempts, r.slot, r.startedAt === null, r.error?.code]);
    expect(lines.sort((x, y) => String(x[0]).localeCompare(String(y[0])))).toEqual([
      ['A', 'cancelled', 1, 0, false, 'E_JOB_CANCELLED'],
      ['B', 'cancelled', 0, null, true, 'E_JOB_CANCELLED'],
      ['C', 'cancelled', 0, null, true, 'E_JOB_CANCELLED'],
    ]);
  });

  test('an aborted signal cancels too; a job waiting for its retry is cancelled at once, not failed', async () => {
    const { runtime, manager } = setup({ behaviour: () => ({ exitCode: 1 }) }, { maxWorkers: 1 });
    manager.addSimJob({ name: 'waiting', retries: 3, retryOn: 'exit-code', backoff: { initialDelayMs: 60_000, jitter: 0 } });
    manager.addSimJob({ name: 'queued' });
    const controller = new AbortController();
    manager.on('job:retrying', () => controller.abort());
    const started = Date.now();
    const summary = await manager.startComputation({ signal: controller.signal });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(summary).toMatchObject({ cancelled: 2, failed: 0, stopReason: 'cancelled' });
    const waiting = resultOf(summary.results, 'waiting');
    expect(waiting).toMatchObject({ status: 'cancelled', attempts: 1 });
    expect(waiting.error).toBeInstanceOf(JobCancelledError);
    expect(createdJobs(runtime)).toEqual(['waiting']);
  });
});

describe('resume', () => {
  const dataDirectory = (): string => path.join(tmp, 'data');

  /** Every job prints its name and the run number, so each log shows which run wrote it. */
  function runtimeFor(run: number, failing: readonly string[] = []): InMemoryRuntime {
    return new InMemoryRuntime({
      images: { [IMAGE]: {} },
      behaviour: (spec) => {
        const job = spec.labels[LABELS.job] ?? '';
        return { stdout: `${job} run ${run}\n`, exitCode: failing.includes(job) ? 4 : 0 };
      },
    });
  }

  function jobsOf(templateFile: string, changedCommand: string): SimJobOptions[] {
    return [
      { name: 'same', command: '-i 10', env: { SEED: '1' } },
      { name: 'changed', command: changedCommand },
      { name: 'bad', command: '-i 10' },
      { name: 'tpl', templates: [templateFile] },
    ];
  }

  test('skips unchanged succeeded jobs, re-runs failed and changed ones with their old output set aside; the manifest records every outcome', async () => {
    const templateFile = path.join(tmp, 'params.yaml');
    await writeFile(templateFile, 'alpha: 1\n');

    // Run 1: `bad` fails.
    const first = runtimeFor(1, ['bad']);
    const manager1 = new DockerSimManager({ image: IMAGE, dataDirectory: dataDirectory(), runtime: first, maxWorkers: 2 });
    manager1.addSimJobs(jobsOf(templateFile, '-i 10'));
    const summary1 = await manager1.startComputation();
    expect(summary1).toMatchObject({ succeeded: 3, failed: 1, skipped: 0 });

    const records1 = await readManifest(manifestPath(dataDirectory()));
    expect(records1.map((r) => r.job).sort()).toEqual(['bad', 'changed', 'same', 'tpl']);
    for (const record of records1) {
      const result = resultOf(summary1.results, record.job);
      const expected: ManifestRecord = {
        v: 1,
        runId: summary1.runId,
        job: result.name,
        specHash: result.specHash,
        status: result.status === 'failed' ? 'failed' : 'succeeded',
        exitCode: result.exitCode,
        attempts: 1,
        imageId: result.imageId,
        imageDigest: null,
        startedAt: result.startedAt?.toISOString() ?? 'missing',
        finishedAt: result.finishedAt.toISOString(),
        durationMs: result.durationMs,
        slot: record.slot,
        engine: 'default',
        outputDir: path.join(dataDirectory(), `job_${result.name}`),
        ...(result.error ? { error: { code: result.error.code, message: result.error.message } } : {}),
      };
      expect(record).toEqual(expected);
      expect([0, 1]).toContain(record.slot);
      expect(record.specHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    }
    expect(records1.find((r) => r.job === 'bad')).toMatchObject({ status: 'failed', exitCode: 4, error: { code: 'E_JOB_EXIT' } });

    // Run 2, resumed: `changed` has a new command, `tpl` a new template content, `bad` now succeeds.
    await writeFile(templateFile, 'alpha: 2\n');
    const second = runtimeFor(2);
    const manager2 = new DockerSimManager({ image: IMAGE, dataDirectory: dataDirectory(), runtime: second, maxWorkers: 2, resume: true });
    manager2.addSimJobs(jobsOf(templateFile, '-i 20'));
    const skippedEvents: Array<{ job: string; status: string }> = [];
    manager2.on('job:skipped', ({ job, result }) => skippedEvents.push({ job: job.name, status: result.status }));
    const summary2 = await manager2.startComputation();

    expect(summary2).toMatchObject({ total: 4, skipped: 1, succeeded: 3, failed: 0, stopReason: null });
    expect(skippedEvents).toEqual([{ job: 'same', status: 'skipped' }]);
    expect(resultOf(summary2.results, 'same')).toMatchObject({ status: 'skipped', attempts: 0, exitCode: 0, containerId: null, specHash: resultOf(summary1.results, 'same').specHash });
    expect(manager2.simJobs.find((j) => j.name === 'same')?.status).toBe('skipped');
    expect(createdJobs(second).sort()).toEqual(['bad', 'changed', 'tpl']);
    for (const job of ['bad', 'changed', 'tpl']) {
      const dir = path.join(dataDirectory(), `job_${job}`);
      expect(await readFile(path.join(dir, '.attempt-1', 'log.txt'), 'utf8')).toBe(`${job} run 1\n`);
      expect(await readFile(path.join(dir, 'log.txt'), 'utf8')).toBe(`${job} run 2\n`);
    }
    const sameDir = path.join(dataDirectory(), 'job_same');
    expect((await readdir(sameDir)).sort()).toEqual(['log.txt', 'stderr.log', 'stdout.log']);
    expect(await readFile(path.join(sameDir, 'log.txt'), 'utf8')).toBe('same run 1\n');

    const records2 = await readManifest(manifestPath(dataDirectory()));
    expect(records2).toHaveLength(4 + 3); // a skipped job adds no line
    expect(records2.slice(4).every((r) => r.runId === summary2.runId && r.status === 'succeeded')).toBe(true);

    // Run 3, resumed again: everything succeeded with these specs, nothing runs.
    const third = runtimeFor(3);
    const manager3 = new DockerSimManager({ image: IMAGE, dataDirectory: dataDirectory(), runtime: third, resume: true });
    manager3.addSimJobs(jobsOf(templateFile, '-i 20'));
    const summary3 = await manager3.startComputation();
    expect(summary3).toMatchObject({ total: 4, skipped: 4, succeeded: 0 });
    expect(third.created).toEqual([]);
  });

  test('without resume, a job folder that holds files is a ValidationError and nothing is created or moved', async () => {
    const first = runtimeFor(1);
    const manager1 = new DockerSimManager({ image: IMAGE, dataDirectory: dataDirectory(), runtime: first });
    manager1.addSimJob({ name: 'J' });
    await manager1.startComputation();
    const before = await readdir(path.join(dataDirectory(), 'job_J'));

    const second = runtimeFor(2);
    const manager2 = new DockerSimManager({ image: IMAGE, dataDirectory: dataDirectory(), runtime: second });
    manager2.addSimJobs([{ name: 'fresh' }, { name: 'J' }]);
    const error = await manager2.startComputation().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('jobs[J]');
    expect((error as ValidationError).message).toMatch(/already holds files from an earlier run.*set `resume: true` \(dsim: `dsim run --resume`\)/s);
    expect(second.calls).toEqual([]); // refused before the engine was even asked
    expect(await readdir(path.join(dataDirectory(), 'job_J'))).toEqual(before);
    expect(await readdir(dataDirectory())).not.toContain('job_fresh');
    expect(await readManifest(manifestPath(dataDirectory()))).toHaveLength(1);
  });

  test('resume with no manifest yet runs every job, and sets aside a stray folder instead of refusing it', async () => {
    await mkdir(path.join(dataDirectory(), 'job_J'), { recursive: true });
    await writeFile(path.join(dataDirectory(), 'job_J', 'notes.txt'), 'keep me');
    const runtime = runtimeFor(1);
    const manager = new DockerSimManager({ image: IMAGE, dataDirectory: dataDirectory(), runtime, resume: true });
    manager.addSimJob({ name: 'J' });
    const summary = await manager.startComputation();
    expect(summary).toMatchObject({ succeeded: 1, skipped: 0 });
    expect(await readFile(path.join(dataDirectory(), 'job_J', '.attempt-1', 'notes.txt'), 'utf8')).toBe('keep me');
  });
});

describe('orphaned containers', () => {
  /** A pid that belonged to a process that has exited (and been reaped). */
  function deadPid(): number {
    const child = spawnSync(process.execPath, ['-e', '']);
    if (child.pid === undefined) throw new Error('could not spawn a child process');
    return child.pid;
  }

  const ownLabels = (overrides: Record<string, string | undefined>): Record<string, string> => {
    const labels: Record<string, string | undefined> = {
      [LABELS.run]: 'oldrun',
      [LABELS.ownerHost]: os.hostname(),
      [LABELS.ownerPid]: String(process.pid),
      [LABELS.ownerStart]: processStartTime(process.pid),
      ...overrides,
    };
    return Object.fromEntries(Object.entries(labels).filter((entry): entry is [string, string] => entry[1] !== undefined));
  };

  test('processStartTime reads this process start time (Linux)', () => {
    expect(processStartTime(process.pid)).toMatch(/^\d+$/);
    expect(processStartTime(deadPid())).toBeUndefined();
  });

  test('isOwnerGone: a dead pid on this host is gone; a live owner, another host or an unreadable pid is not; a reused pid is gone', () => {
    const dead = String(deadPid());
    expect(isOwnerGone(ownLabels({ [LABELS.ownerPid]: dead, [LABELS.ownerStart]: undefined }))).toBe(true);
    expect(isOwnerGone(ownLabels({ [LABELS.ownerPid]: dead }))).toBe(true);
    expect(isOwnerGone(ownLabels({}))).toBe(false);
    expect(isOwnerGone(ownLabels({ [LABELS.ownerHost]: 'some-other-host', [LABELS.ownerPid]: dead }))).toBe(false);
    expect(isOwnerGone(ownLabels({ [LABELS.ownerStart]: '1' }))).toBe(true); // alive pid, but started at another time
    expect(isOwnerGone(ownLabels({ [LABELS.ownerStart]: undefined }))).toBe(false); // no start time: cannot tell, keep
    for (const pid of ['0', '-1', 'abc', '', '1.5']) expect(isOwnerGone(ownLabels({ [LABELS.ownerPid]: pid }))).toBe(false);
    expect(isOwnerGone({})).toBe(false);
  });

  test('reapOrphanContainers removes only the containers whose owner is gone, running or not', async () => {
    const runtime = new InMemoryRuntime({ images: { img: {} }, behaviour: () => ({ durationMs: 60_000 }) });
    const dead = String(deadPid());
    const make = async (name: string, labels: Record<string, string>, start = false): Promise<string> => {
      const id = await runtime.createContainer({ name, image: 'img', env: {}, labels, binds: [] });
      if (start) await runtime.start(id);
      return id;
    };
    const deadOwner = await make('dead-owner', ownLabels({ [LABELS.ownerPid]: dead }), true);
    const reusedPid = await make('reused-pid', ownLabels({ [LABELS.ownerStart]: '1' }));
    const alive = await make('alive', ownLabels({}), true);
    const otherHost = await make('other-host', ownLabels({ [LABELS.ownerHost]: 'elsewhere', [LABELS.ownerPid]: dead }));
    const unrelated = await make('unrelated', { app: 'not ours' });

    const { removed, kept } = await reapOrphanContainers(runtime);

    expect(removed.map((c) => c.id).sort()).toEqual([deadOwner, reusedPid].sort());
    expect(kept.map((c) => c.id).sort()).toEqual([alive, otherHost].sort());
    expect(runtime.existing.map((s) => s.name).sort()).toEqual(['alive', 'other-host', 'unrelated']);
    expect(unrelated).toBeDefined();
    for (const id of [alive, deadOwner]) await runtime.remove(id).catch(() => undefined);
  });

  test('DockerSimManager.reapOrphans({ runtime }) and startComputation remove orphans (run:orphans-removed)', async () => {
    const runtime = new InMemoryRuntime({ images: { [IMAGE]: {} } });
    const orphan = (name: string) => runtime.createContainer({ name, image: IMAGE, env: {}, labels: ownLabels({ [LABELS.ownerPid]: String(deadPid()) }), binds: [] });
    const first = await orphan('orphan-1');
    const { removed } = await DockerSimManager.reapOrphans({ runtime });
    expect(removed.map((c) => c.id)).toEqual([first]);
    expect(runtime.calls).toContain('ping');

    const second = await orphan('orphan-2');
    const manager = new DockerSimManager({ image: IMAGE, dataDirectory: path.join(tmp, 'data'), runtime });
    manager.addSimJob({ name: 'J' });
    const reported: string[][] = [];
    manager.on('run:orphans-removed', ({ containers }) => reported.push(containers.map((c) => c.id)));
    const summary = await manager.startComputation();
    expect(summary.succeeded).toBe(1);
    expect(reported).toEqual([[second]]);
    expect(runtime.existing).toEqual([]);
  });
});

describe('hardening settings reach the container', () => {
  test("security: 'strict' applies the preset; explicit settings win; templates must then go under the mount path", async () => {
    const { runtime, manager } = setup({}, { defaults: { security: 'strict' } });
    manager.addSimJob({ name: 'strict', templates: [{ content: 'x', target: '/mnt/data/in.txt' }] });
    manager.addSimJob({ name: 'open', network: 'bridge', pidsLimit: 64, tmpfs: ['/scratch'], capAdd: ['net_raw'] });
    manager.addSimJob({ name: 'plain', security: 'default' });
    await manager.startComputation();
    const spec = (job: string): ContainerSpec | undefined => runtime.created.find((s) => s.labels[LABELS.job] === job);
    expect(spec('strict')).toMatchObject({ readOnlyRootfs: true, tmpfs: ['/tmp'], capDrop: ['ALL'], noNewPrivileges: true, pidsLimit: 1024, networkMode: 'none' });
    expect(spec('open')).toMatchObject({ readOnlyRootfs: true, tmpfs: ['/tmp', '/scratch'], capDrop: ['ALL'], capAdd: ['NET_RAW'], pidsLimit: 64, networkMode: 'bridge' });
    expect(spec('plain')?.readOnlyRootfs).toBeUndefined();
    expect(spec('plain')?.capDrop).toBeUndefined();
    expect(spec('plain')?.networkMode).toBeUndefined();

    const bad = setup({}, { dataDirectory: path.join(tmp, 'other') });
    bad.manager.addSimJob({ name: 'ro', readOnlyRootfs: true, templates: [{ content: 'x', target: '/etc/x' }] });
    const error = await bad.manager.startComputation().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('jobs[ro].templates[0].target');
    expect(bad.runtime.created).toEqual([]);
  });
});
