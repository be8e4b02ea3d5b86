import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DockerSimManager, EngineError, ImageNotFoundError, JobCancelledError, JobExitError, LABELS, SimJob, ValidationError } from '../../src/index.js';
import { InMemoryRuntime, type InMemoryRuntimeOptions } from '../../src/testing.js';

const IMAGE = 'sim:1.0';
let dataDirectory: string;

beforeEach(async () => {
  dataDirectory = await mkdtemp(path.join(os.tmpdir(), 'dsim-unit-'));
});
afterEach(async () => {
  await rm(dataDirectory, { recursive: true, force: true });
});

function setup(options: InMemoryRuntimeOptions = {}, managerOptions: Partial<ConstructorParameters<typeof DockerSimManager>[0]> = {}) {
  const runtime = new InMemoryRuntime({ images: { [IMAGE]: {} }, ...options });
  const manager = new DockerSimManager({ image: IMAGE, dataDirectory, runtime, maxWorkers: 3, ...managerOptions });
  return { runtime, manager };
}

describe('scheduling', () => {
  test('never runs more than maxWorkers containers at once, and does use them all', async () => {
    const { runtime, manager } = setup({ behaviour: () => ({ durationMs: 15 }) });
    for (let i = 0; i < 20; i++) manager.addSimJob({ name: `J${i}` });
    const summary = await manager.startComputation();
    expect(summary.succeeded).toBe(20);
    expect(runtime.maxRunning).toBe(3);
    expect(runtime.existing).toEqual([]); // every container removed
  });

  test('a failing job does not stop the others; its exit code and OOM flag are reported', async () => {
    const { manager } = setup({
      behaviour: (spec) => (spec.name.endsWith('-oom') ? { exitCode: 137, isOomKilled: true } : spec.name.endsWith('-bad') ? { exitCode: 3 } : {}),
    });
    manager.addSimJobs([{ name: 'ok' }, { name: 'bad' }, { name: 'oom' }]);
    const summary = await manager.startComputation();
    expect(summary).toMatchObject({ succeeded: 1, failed: 2 });
    const [, bad, oom] = summary.results;
    expect(bad).toMatchObject({ exitCode: 3, status: 'failed' });
    expect((oom?.error as JobExitError).isOomKilled).toBe(true);
  });

  test('an engine failure while starting fails that job with EngineError and still removes its container', async () => {
    const { runtime, manager } = setup({ failOn: { start: (spec) => spec.name.endsWith('-J2') } });
    manager.addSimJobs([{ name: 'J1' }, { name: 'J2' }, { name: 'J3' }]);
    const summary = await manager.startComputation();
    expect(summary.results.map((r) => r.status)).toEqual(['succeeded', 'failed', 'succeeded']);
    expect(summary.results[1]?.error).toBeInstanceOf(EngineError);
    expect(runtime.existing).toEqual([]);
  });

  test('the image is pulled once per run, not once per job', async () => {
    const runtime = new InMemoryRuntime({ registry: { [IMAGE]: {} } });
    const manager = new DockerSimManager({ image: IMAGE, dataDirectory, runtime, maxWorkers: 4 });
    for (let i = 0; i < 8; i++) manager.addSimJob({ name: `J${i}` });
    await manager.startComputation();
    expect(runtime.pulls).toBe(1);
  });

  test('every job runs on the image id resolved before the fan-out, and results record the digest', async () => {
    const digest = `registry.example.org/sims/mc@sha256:${'d'.repeat(64)}`;
    const runtime = new InMemoryRuntime({ registry: { 'registry.example.org/sims/mc:1.2': { id: 'sha256:pinned', repoDigests: [digest] } } });
    const manager = new DockerSimManager({ image: 'registry.example.org/sims/mc:1.2', dataDirectory, runtime, pullPolicy: 'always' });
    manager.addSimJobs([{ name: 'J1' }, { name: 'J2' }]);
    const progress: string[] = [];
    const ready: Array<string | null> = [];
    manager.on('image:pull-progress', ({ status, layer }) => progress.push(`${layer}:${status}`));
    manager.on('image:ready', ({ digest: d }) => ready.push(d));
    const summary = await manager.startComputation();
    expect(runtime.created.map((spec) => spec.image)).toEqual(['sha256:pinned', 'sha256:pinned']);
    expect(summary.results.map((r) => [r.imageId, r.imageDigest])).toEqual([
      ['sha256:pinned', digest],
      ['sha256:pinned', digest],
    ]);
    expect(progress).toEqual(['layer1:Downloaded']);
    expect(ready).toEqual([digest]);
  });

  test('pinDigest: false creates containers from the reference; a local build has no digest', async () => {
    const { runtime, manager } = setup({}, { pinDigest: false });
    manager.addSimJob({ name: 'J' });
    const summary = await manager.startComputation();
    expect(runtime.created[0]?.image).toBe(IMAGE);
    expect(summary.results[0]?.imageDigest).toBeNull();
  });

  test("pullPolicy 'never' with a missing image rejects before any container", async () => {
    const runtime = new InMemoryRuntime({ registry: { [IMAGE]: {} } });
    const manager = new DockerSimManager({ image: IMAGE, dataDirectory, runtime, pullPolicy: 'never' });
    manager.addSimJob({ name: 'J' });
    await expect(manager.startComputation()).rejects.toBeInstanceOf(ImageNotFoundError);
    expect(runtime.created).toEqual([]);
  });

  test('jobs inherit defaults (env and labels merged, job wins), and cannot override the run labels', async () => {
    const { runtime, manager } = setup({}, { defaults: { env: { A: '1', B: '1' }, labels: { team: 'x' }, memory: '1g', command: '-i 10' } });
    manager.addSimJob({ name: 'J', env: { B: '2' }, labels: { [LABELS.run]: 'forged', own: 'y' } });
    const summary = await manager.startComputation();
    const [spec] = runtime.created;
    expect(spec?.env).toEqual({ A: '1', B: '2' });
    expect(spec?.memoryBytes).toBe(1024 ** 3);
    expect(spec?.cmd).toEqual(['-i', '10']);
    expect(spec?.labels).toMatchObject({ team: 'x', own: 'y', [LABELS.run]: summary.runId, [LABELS.job]: 'J' });
    expect(spec?.binds).toEqual([{ hostPath: path.join(dataDirectory, 'job_J'), containerPath: '/mnt/data' }]);
  });
});

describe('events', () => {
  test('a listener that throws is reported and neither breaks the run nor starves other listeners', async () => {
    const { manager } = setup();
    manager.addSimJobs([{ name: 'J1' }, { name: 'J2' }]);
    const seen: string[] = [];
    const reported: string[] = [];
    manager.on('job:succeeded', () => {
      throw new Error('listener bug');
    });
    manager.on('job:succeeded', ({ job }) => seen.push(job.name));
    manager.on('job:started', async () => Promise.reject(new Error('async listener bug')));
    manager.on('listener:error', ({ event, error }) => reported.push(`${event}:${(error as Error).message}`));
    const summary = await manager.startComputation();
    await new Promise((resolve) => setImmediate(resolve));
    expect(summary.succeeded).toBe(2);
    expect(seen.sort()).toEqual(['J1', 'J2']);
    expect(reported.filter((r) => r === 'job:succeeded:listener bug')).toHaveLength(2);
    expect(reported.filter((r) => r === 'job:started:async listener bug')).toHaveLength(2);
  });

  test('once() listeners fire once', async () => {
    const { manager } = setup();
    manager.addSimJobs([{ name: 'J1' }, { name: 'J2' }]);
    let calls = 0;
    manager.once('job:succeeded', () => calls++);
    await manager.startComputation();
    expect(calls).toBe(1);
  });

  test('log lines are split per stream, survive chunking, and come after job:started', async () => {
    const { manager } = setup({ behaviour: () => ({ stdout: 'one\ntwo\r\nthree', stderr: 'warn\n' }) });
    manager.addSimJob({ name: 'J' });
    const events: string[] = [];
    manager.on('job:started', () => events.push('started'));
    manager.on('job:log', ({ stream, line }) => events.push(`${stream}:${line}`));
    await manager.startComputation();
    expect(events[0]).toBe('started');
    expect(events.slice(1).sort()).toEqual(['stderr:warn', 'stdout:one', 'stdout:three', 'stdout:two']);
    expect(await readFile(path.join(dataDirectory, 'job_J', 'log.txt'), 'utf8')).toBe('one\ntwo\r\nthreewarn\n');
  });
});

describe('cancellation', () => {
  test('manager.cancel() stops running jobs and never starts queued ones', async () => {
    const { runtime, manager } = setup({ behaviour: () => ({ durationMs: 60_000 }) }, { maxWorkers: 2 });
    for (let i = 0; i < 5; i++) manager.addSimJob({ name: `J${i}` });
    manager.on('job:started', ({ job }) => {
      if (job.name === 'J1') setTimeout(() => manager.cancel(), 5);
    });
    const summary = await manager.startComputation();
    expect(summary).toMatchObject({ cancelled: 5, succeeded: 0, failed: 0 });
    expect(runtime.created).toHaveLength(2);
    expect(runtime.calls.filter((c) => c === 'stop')).toHaveLength(2);
    expect(runtime.existing).toEqual([]);
    expect(manager.simJobs.every((j) => j.status === 'cancelled')).toBe(true);
    expect(summary.results.every((r) => r.error instanceof JobCancelledError)).toBe(true); // queued ones too
  });

  test('an already aborted signal cancels every job without creating a container', async () => {
    const { runtime, manager } = setup();
    manager.addSimJobs([{ name: 'J1' }, { name: 'J2' }]);
    const summary = await manager.startComputation({ signal: AbortSignal.abort() });
    expect(summary.cancelled).toBe(2);
    expect(runtime.created).toEqual([]);
  });
});

describe('options', () => {
  test.each([
    [{ image: '' }, 'image'],
    [{ image: 'has space' }, 'image'],
    [{ image: 'sim:1.0', tag: '2.0' }, 'tag'],
    [{ image: 'sim@sha256:abc', tag: '2.0' }, 'tag'],
    [{ mountPath: 'relative' }, 'mountPath'],
    [{ mountPath: '/' }, 'mountPath'],
    [{ pullPolicy: 'sometimes' }, 'pullPolicy'],
    [{ dataDirectory: '' }, 'dataDirectory'],
    [{ stopGracePeriodMs: -1 }, 'stopGracePeriodMs'],
    [{ maxWorker: 3 }, 'maxWorker'],
    [{ defaults: { memory: 'lots' } }, 'defaults.memory'],
    [{ defaults: { comand: '-i 3' } }, 'defaults.comand'],
  ])('%j is refused naming %s', (bad, field) => {
    const runtime = new InMemoryRuntime();
    const make = () => new DockerSimManager({ image: IMAGE, dataDirectory: '/tmp/x', runtime, ...(bad as object) });
    expect(make).toThrow(ValidationError);
    try {
      make();
    } catch (error) {
      expect((error as ValidationError).field).toBe(field);
    }
  });

  test.each([
    [{ maxWorker: 3 }, 'Did you mean `maxWorkers`?'],
    [{ maxworkers: 3 }, 'Did you mean `maxWorkers`?'],
    [{ timeoutMs: 1000 }, '`timeoutMs` is a job setting: put it under `defaults` (or on each job).'],
    [{ timeoutMS: 1000 }, 'Did you mean the job setting `timeoutMs` (under `defaults`)?'],
    [{ colour: 'red' }, 'Check its spelling; job settings go under `defaults`.'],
    [{ defaults: { comand: '-i 3' } }, 'Did you mean `command`?'],
    [{ engines: [{ name: 'a', maxWorker: 1 }] }, 'Did you mean `maxWorkers`?'],
  ])('an unknown option %j suggests the likely fix', (bad, hint) => {
    const make = () => new DockerSimManager({ image: IMAGE, dataDirectory: '/tmp/x', ...(bad as object) });
    expect(make).toThrow(hint);
  });

  test('an unknown job option suggests the nearest one', () => {
    expect(() => new SimJob({ name: 'J', comand: 'typo' } as never)).toThrow('Unknown job option `comand` on job J. Did you mean `command`?');
    expect(() => new SimJob({ name: 'J', parameter: { a: 1 } } as never)).toThrow('Did you mean `parameters`?');
  });

  test('a tag is appended only to an untagged image; registry ports are not mistaken for tags', () => {
    const runtime = new InMemoryRuntime();
    const ref = (image: string, tag?: string) => new DockerSimManager({ image, ...(tag ? { tag } : {}), dataDirectory: '/tmp/x', runtime }).config.imageReference;
    expect(ref('ghcr.io/me/sims/monte-carlo-pi')).toBe('ghcr.io/me/sims/monte-carlo-pi:latest');
    expect(ref('localhost:5000/sim', '1.2')).toBe('localhost:5000/sim:1.2');
    expect(ref('localhost:5000/sim:0.9')).toBe('localhost:5000/sim:0.9');
    expect(ref(`sim@sha256:${'a'.repeat(64)}`)).toBe(`sim@sha256:${'a'.repeat(64)}`);
  });

  test.each([
    [{ cpus: 0 }, 'jobs[J].cpus'],
    [{ cpus: Number.NaN }, 'jobs[J].cpus'],
    [{ memory: -5 }, 'jobs[J].memory'],
    [{ memory: '2x' }, 'jobs[J].memory'],
    [{ env: { A: 1 } }, 'jobs[J].env.A'],
    [{ env: { 'A=B': 'x' } }, 'jobs[J].env.A=B'],
    [{ command: 'echo "unbalanced' }, 'jobs[J].command'],
    [{ command: 'a | b' }, 'jobs[J].command'],
    [{ templates: [{ content: 'x' }] }, 'jobs[J].templates[0].target'],
    [{ templates: [{ source: './a', target: 'relative' }] }, 'jobs[J].templates[0].target'],
    [{ gpus: 0 }, 'jobs[J].gpus'],
    [{ workingDir: 'rel' }, 'jobs[J].workingDir'],
    [{ comand: 'typo' }, 'jobs[J].comand'],
  ])('job option %j is refused naming %s', (bad, field) => {
    expect(() => new SimJob({ name: 'J', ...(bad as object) })).toThrow(ValidationError);
    try {
      new SimJob({ name: 'J', ...(bad as object) });
    } catch (error) {
      expect((error as ValidationError).field).toBe(field);
    }
  });
});
