import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DockerSimManager, JobSourceError, ValidationError, manifestPath, readRunResults, type SimJobOptions } from '../../src/index.js';
import { InMemoryRuntime, type InMemoryRuntimeOptions } from '../../src/testing.js';
import { EngineScheduler, type EngineSlot } from '../../src/manager/engine-scheduler.js';
import { ResumeIndex } from '../../src/manifest/resume-index.js';
import { NameSet } from '../../src/util/name-set.js';

const IMAGE = 'sim:1.0';
let dataDirectory: string;

beforeEach(async () => {
  dataDirectory = await mkdtemp(path.join(os.tmpdir(), 'dsim-sources-'));
});
afterEach(async () => {
  await rm(dataDirectory, { recursive: true, force: true });
});

function setup(options: InMemoryRuntimeOptions = {}, maxWorkers = 2) {
  const runtime = new InMemoryRuntime({ images: { [IMAGE]: {} }, ...options });
  const manager = new DockerSimManager({ image: IMAGE, dataDirectory, runtime, maxWorkers });
  return { runtime, manager };
}

/** A generator of `count` jobs that counts how many were read, and whether it was closed. */
function countingSource(count: number, make: (i: number) => SimJobOptions = (i) => ({ name: `j${i}` })) {
  const state = { read: 0, closed: false };
  function* jobs(): Generator<SimJobOptions> {
    try {
      for (let i = 0; i < count; i++) {
        state.read += 1;
        yield make(i);
      }
    } finally {
      state.closed = true;
    }
  }
  return { state, jobs: jobs() };
}

async function manifestLines(): Promise<Array<{ job: string; status: string; runId: string }>> {
  const text = await readFile(manifestPath(dataDirectory), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { job: string; status: string; runId: string });
}

describe('EngineScheduler', () => {
  const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  test('first come first served within the jobs that share engines', async () => {
    const scheduler = new EngineScheduler([1]);
    const first = (await scheduler.acquire([0])) as EngineSlot;
    const order: number[] = [];
    for (let i = 0; i < 5; i++) void scheduler.acquire([0]).then((slot) => order.push(i) && slot && scheduler.release(slot));
    scheduler.release(first);
    await settle();
    expect(order).toEqual([0, 1, 2, 3, 4]);
  });

  test('a job waiting for a busy engine does not hold back a later job that another engine can run', async () => {
    const scheduler = new EngineScheduler([1, 1]);
    const busy0 = (await scheduler.acquire([0])) as EngineSlot;
    let onlyZero: EngineSlot | undefined;
    void scheduler.acquire([0]).then((slot) => (onlyZero = slot));
    const either = await scheduler.acquire([0, 1]);
    expect(either).toEqual({ engine: 1, slot: 0 });
    expect(onlyZero).toBeUndefined();
    scheduler.release(busy0);
    await settle();
    expect(onlyZero).toEqual({ engine: 0, slot: 0 });
  });

  test('a freed slot goes to the oldest waiter that can use it, across groups', async () => {
    const scheduler = new EngineScheduler([1, 1]);
    const a = (await scheduler.acquire([0])) as EngineSlot;
    const b = (await scheduler.acquire([1])) as EngineSlot;
    const served: string[] = [];
    void scheduler.acquire([0, 1]).then(() => served.push('either (oldest)'));
    void scheduler.acquire([0]).then(() => served.push('only 0'));
    scheduler.release(a);
    await settle();
    expect(served).toEqual(['either (oldest)']);
    scheduler.release(b);
    await settle();
    expect(served).toEqual(['either (oldest)']); // 'only 0' cannot use engine 1
  });

  test('new work goes to the emptiest engine', async () => {
    const scheduler = new EngineScheduler([2, 4]);
    const slots = await Promise.all(Array.from({ length: 4 }, () => scheduler.acquire([0, 1])));
    expect(slots.map((slot) => slot?.engine).sort()).toEqual([0, 1, 1, 1]);
  });
});

describe('lazy job sources', () => {
  test('a generator is read as slots free up, a bounded number of jobs ahead, and never all at once', async () => {
    const { manager } = setup({ behaviour: () => ({ durationMs: 5 }) });
    const { state, jobs } = countingSource(200);
    manager.addSimJobs(jobs, { total: 200 });
    let ended = 0;
    let mostAhead = 0;
    let totalSeen: number | null | undefined;
    manager.on('run:started', ({ total }) => (totalSeen = total));
    manager.on('job:started', () => (mostAhead = Math.max(mostAhead, state.read - ended)));
    manager.on('job:succeeded', () => (ended += 1));
    const summary = await manager.startComputation();
    expect(summary).toMatchObject({ total: 200, succeeded: 200, results: [] });
    expect(totalSeen).toBe(200);
    // 2 slots, 2 jobs read ahead per slot: never more than 4 read and not ended (plus the one being read).
    expect(mostAhead).toBeGreaterThan(0);
    expect(mostAhead).toBeLessThanOrEqual(5);
    expect(manager.simJobs).toEqual([]); // streamed jobs are not held
    expect((await manifestLines()).filter((r) => r.status === 'succeeded')).toHaveLength(200);
  });

  test('jobs start in the order they were read, though they are checked side by side', async () => {
    // One worker: each job starts only once the one before it ended, so the start order is the order in which
    // jobs asked for a slot (with several workers, container start-up times may reorder the job:started events).
    const { manager } = setup({ behaviour: (spec) => ({ durationMs: Number(spec.cmd?.[0]) % 3 }) }, 1);
    manager.addSimJobs(countingSource(30, (i) => ({ name: `j${i}`, command: [String(i)], ...(i % 4 === 0 ? { templates: [{ content: 'x', target: '/mnt/data/in.txt' }] } : {}) })).jobs);
    const started: string[] = [];
    const queued: string[] = [];
    manager.on('job:started', ({ job }) => started.push(job.name));
    manager.on('job:queued', ({ job }) => queued.push(job.name));
    await manager.startComputation();
    const inOrder = Array.from({ length: 30 }, (_, i) => `j${i}`);
    expect(queued).toEqual(inOrder);
    expect(started).toEqual(inOrder);
  });

  test('an async generator works, and the held jobs run first', async () => {
    const { manager } = setup();
    manager.addSimJob({ name: 'held' });
    manager.addSimJobs(
      (async function* () {
        for (let i = 0; i < 3; i++) {
          await new Promise((resolve) => setTimeout(resolve, 1));
          yield { name: `async${i}` };
        }
      })(),
    );
    const started: string[] = [];
    manager.on('job:queued', ({ job }) => started.push(job.name));
    const summary = await manager.startComputation();
    expect(summary).toMatchObject({ total: 4, succeeded: 4 });
    expect(started).toEqual(['held', 'async0', 'async1', 'async2']); // queued in the order they were read
    expect(summary.results.map((r) => r.name)).toEqual(['held']);
  });

  test('a generator that throws ends the run with JobSourceError; what ran is recorded and a resume continues', async () => {
    const { runtime, manager } = setup();
    manager.addSimJobs(
      (function* () {
        for (let i = 0; i < 10; i++) {
          if (i === 6) throw new Error('the parameter file has a bad row');
          yield { name: `j${i}` };
        }
      })(),
    );
    const error = (await manager.startComputation().catch((e: unknown) => e)) as JobSourceError;
    expect(error).toBeInstanceOf(JobSourceError);
    expect(error.code).toBe('E_JOB_SOURCE');
    expect(error.message).toMatch(/after 6 jobs were read.*the parameter file has a bad row.*resume/s);
    expect((error.cause as Error).message).toBe('the parameter file has a bad row');
    expect(error.summary).toMatchObject({ total: 6, succeeded: 6 });
    expect((await manifestLines()).map((r) => r.job).sort()).toEqual(['j0', 'j1', 'j2', 'j3', 'j4', 'j5']);

    const resumed = new DockerSimManager({ image: IMAGE, dataDirectory, runtime, maxWorkers: 2, resume: true });
    resumed.addSimJobs((function* () {
      for (let i = 0; i < 10; i++) yield { name: `j${i}` };
    })());
    const summary = await resumed.startComputation();
    expect(summary).toMatchObject({ total: 10, skipped: 6, succeeded: 4 });
  });

  test('a repeated name or an invalid job read after the run began ends it with JobSourceError naming the field', async () => {
    const { manager } = setup({}, 1);
    manager.addSimJob({ name: 'held' });
    const { state, jobs } = countingSource(50, (i) => ({ name: i === 7 ? 'held' : `j${i}` }));
    manager.addSimJobs(jobs);
    const error = (await manager.startComputation().catch((e: unknown) => e)) as JobSourceError;
    expect(error).toBeInstanceOf(JobSourceError);
    expect(error.cause).toBeInstanceOf(ValidationError);
    expect((error.cause as ValidationError).field).toBe('name');
    expect(error.message).toMatch(/'held' appears twice/);
    expect(state.read).toBeLessThan(50);
    expect(state.closed).toBe(true);

    const bad = new DockerSimManager({ image: IMAGE, dataDirectory: path.join(dataDirectory, 'second'), runtime: new InMemoryRuntime({ images: { [IMAGE]: {} } }), maxWorkers: 1 });
    bad.addSimJobs(countingSource(20, (i) => ({ name: `j${i}`, ...(i === 9 ? { memory: 'lots' } : {}) })).jobs);
    const invalid = (await bad.startComputation().catch((e: unknown) => e)) as JobSourceError;
    expect(invalid).toBeInstanceOf(JobSourceError);
    expect((invalid.cause as ValidationError).field).toMatch(/memory/);
  });

  test('a bad job among the first ones is a ValidationError before anything is created', async () => {
    const { runtime, manager } = setup();
    manager.addSimJobs(countingSource(1000, (i) => ({ name: `j${i}`, ...(i === 1 ? { templates: [{ source: '/nonexistent/input.txt' }] } : {}) })).jobs);
    await expect(manager.startComputation()).rejects.toThrow(ValidationError);
    expect(runtime.created).toEqual([]);
    expect(await manifestLines()).toEqual([]);
  });

  test('cancelling stops reading the source and closes it; held jobs that never ran are cancelled', async () => {
    const { manager } = setup({ behaviour: () => ({ durationMs: 20 }) });
    manager.addSimJob({ name: 'held-a' });
    const { state, jobs } = countingSource(10_000);
    manager.addSimJobs(jobs);
    manager.on('job:succeeded', () => manager.cancel());
    const summary = await manager.startComputation();
    expect(summary.stopReason).toBe('cancelled');
    expect(state.closed).toBe(true);
    expect(state.read).toBeLessThan(10);
    expect(summary.total).toBe(summary.succeeded + summary.cancelled);
  });

  test('summaries stay bounded: exact counts, the first 1,000 failures, no results for streamed jobs', async () => {
    const { manager } = setup({ keepHistory: false, behaviour: () => ({ exitCode: 2 }) }, 8);
    manager.addSimJobs(countingSource(1200).jobs);
    const summary = await manager.startComputation();
    expect(summary).toMatchObject({ total: 1200, failed: 1200, results: [] });
    expect(summary.failures).toHaveLength(1000);
    expect(summary.failures[0]?.error?.code).toBe('E_JOB_EXIT');
    let count = 0;
    for await (const record of readRunResults(summary)) {
      expect(record.runId).toBe(summary.runId);
      count += 1;
    }
    expect(count).toBe(1200);
  });

  test('addSimJobs refuses what is not a list of jobs, and a bad total', () => {
    const { manager } = setup();
    expect(() => manager.addSimJobs('j1' as never)).toThrow(/array, an iterable or an async iterable/);
    expect(() => manager.addSimJobs(new Set([{ name: 'a' }]), { total: -1 })).toThrow(ValidationError);
  });
});

describe('resume at scale', () => {
  test('the resume index keeps the newest record per job, skips torn lines, and compares the spec', async () => {
    const file = manifestPath(dataDirectory);
    const line = (job: string, status: string, specHash: string): string => JSON.stringify({ v: 1, runId: 'r', job, status, specHash });
    await rm(path.dirname(file), { recursive: true, force: true });
    await (await import('node:fs/promises')).mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, [line('a', 'succeeded', 'h1'), line('b', 'succeeded', 'h2'), line('b', 'failed', 'h2'), line('c', 'failed', 'h3'), line('c', 'succeeded', 'h3'), '{"v":1,"job":"d","sta'].join('\n'));
    const index = await ResumeIndex.read(file);
    expect(index.isDone('a', 'h1')).toBe(true);
    expect(index.isDone('a', 'other spec')).toBe(false);
    expect(index.isDone('b', 'h2')).toBe(false); // its newest record failed
    expect(index.isDone('c', 'h3')).toBe(true);
    expect(index.isDone('d', '')).toBe(false);
    expect(index.isDone('never', 'h1')).toBe(false);
    expect(await (await ResumeIndex.read(path.join(dataDirectory, 'none.jsonl'))).isDone('a', 'h1')).toBe(false);
  });

  test('a name set holds a million names in typed arrays and finds every one', () => {
    const names = new NameSet();
    let added = 0;
    for (let i = 0; i < 1_000_000; i++) if (names.add(`job-${i}`)) added += 1;
    expect(added).toBe(1_000_000);
    expect(names.size).toBe(1_000_000);
    let found = 0;
    for (let i = 0; i < 1_000_000; i += 7) if (names.has(`job-${i}`)) found += 1;
    expect(found).toBe(Math.ceil(1_000_000 / 7));
    expect(names.add('job-123456')).toBe(false);
    expect(names.has('job-1000000')).toBe(false);
    expect(names.bytes).toBeLessThanOrEqual(1_000_000 * 17); // a string and a Set entry would take some 80
  });
});
