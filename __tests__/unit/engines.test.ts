import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DockerSimManager, ValidationError, manifestPath, readManifest } from '../../src/index.js';
import { EngineScheduler } from '../../src/manager/engine-scheduler.js';
import { InMemoryRuntime } from '../../src/testing.js';

const IMAGE = 'sim:1.0';
let dataDirectory: string;
beforeEach(async () => {
  dataDirectory = await mkdtemp(path.join(os.tmpdir(), 'dsim-engines-'));
});
afterEach(async () => {
  await rm(dataDirectory, { recursive: true, force: true });
});

describe('several engines (in-memory runtimes)', () => {
  test('jobs spread over the engines, each within its maxWorkers; results, events and the manifest name the engine', async () => {
    // The first five jobs hold until five run at once: both engines must be filled to their maxWorkers.
    let releaseFirst: () => void = () => undefined;
    const firstFive = new Promise<void>((resolve) => (releaseFirst = resolve));
    let made = 0;
    const behaviour = (engine: string) => () => ({ durationMs: 5, stdout: `on ${engine}\n`, ...(made++ < 5 ? { until: firstFive } : {}) });
    const a = new InMemoryRuntime({ images: { [IMAGE]: {} }, behaviour: behaviour('a') });
    const b = new InMemoryRuntime({ images: { [IMAGE]: {} }, behaviour: behaviour('b') });
    const manager = new DockerSimManager({ image: IMAGE, dataDirectory, engines: [{ name: 'a', runtime: a, maxWorkers: 2 }, { name: 'b', runtime: b, maxWorkers: 3 }] });
    for (let i = 1; i <= 20; i++) manager.addSimJob({ name: `J${i}` });
    const started: Record<string, string> = {};
    manager.on('job:started', ({ job, engine }) => {
      started[job.name] = engine;
      if (Object.keys(started).length === 5) releaseFirst();
    });
    const summary = await manager.startComputation();

    expect(summary.succeeded).toBe(20);
    expect(a.maxRunning).toBe(2);
    expect(b.maxRunning).toBe(3);
    expect(a.created.length + b.created.length).toBe(20);
    expect(a.created.length).toBeGreaterThan(4);
    expect(b.created.length).toBeGreaterThan(4);
    for (const result of summary.results) {
      expect(result.engine).toBe(started[result.name]);
      expect(await readFile(result.logFile, 'utf8')).toBe(`on ${result.engine}\n`);
    }
    const records = await readManifest(manifestPath(dataDirectory));
    expect(new Set(records.map((r) => r.engine))).toEqual(new Set(['a', 'b']));
    // Slots are numbered across engines: a has 0-1, b has 2-4.
    for (const record of records) expect(record.engine === 'a' ? [0, 1] : [2, 3, 4]).toContain(record.slot);
  });

  test('a different image under the same name on two engines is refused before any container', async () => {
    const a = new InMemoryRuntime({ images: { [IMAGE]: { id: 'sha256:aaaa' } } });
    const b = new InMemoryRuntime({ images: { [IMAGE]: { id: 'sha256:bbbb' } } });
    const manager = new DockerSimManager({ image: IMAGE, dataDirectory, engines: [{ name: 'a', runtime: a, maxWorkers: 1 }, { name: 'b', runtime: b, maxWorkers: 1 }] });
    manager.addSimJob({ name: 'J' });
    const error = await manager.startComputation().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(/different images under that name/);
    expect([...a.created, ...b.created]).toEqual([]);
  });

  test('engines cannot be combined with docker, runtime or maxWorkers; names are unique', () => {
    const runtime = new InMemoryRuntime();
    expect(() => new DockerSimManager({ image: IMAGE, dataDirectory, maxWorkers: 2, engines: [{ name: 'a', runtime, maxWorkers: 1 }] })).toThrow(/cannot be combined with `engines`/);
    expect(() => new DockerSimManager({ image: IMAGE, dataDirectory, engines: [{ name: 'a', runtime, maxWorkers: 1 }, { name: 'a', runtime, maxWorkers: 1 }] })).toThrow(/unique/);
    expect(() => new DockerSimManager({ image: IMAGE, dataDirectory, engines: [] })).toThrow(ValidationError);
  });
});

describe("backend 'swarm' (validation)", () => {
  test('needs a swarm manager, and cannot be combined with engines or pool mode', async () => {
    const runtime = new InMemoryRuntime({ images: { [IMAGE]: {} } });
    const manager = new DockerSimManager({ image: IMAGE, dataDirectory, runtime, backend: 'swarm' });
    manager.addSimJob({ name: 'J' });
    await expect(manager.startComputation()).rejects.toThrow(/needs a Docker Swarm manager.*docker swarm init/);
    expect(runtime.created).toEqual([]);
    expect(() => new DockerSimManager({ image: IMAGE, dataDirectory, backend: 'swarm', engines: [{ name: 'a', runtime, maxWorkers: 1 }] })).toThrow(/one swarm/);
    expect(() => new DockerSimManager({ image: IMAGE, dataDirectory, runtime, backend: 'swarm', executionMode: 'pool' })).toThrow(/cannot be combined with backend 'swarm'/);
    expect(() => new DockerSimManager({ image: IMAGE, dataDirectory, runtime, backend: 'kubernetes' as never })).toThrow(/'engine', 'swarm' or 'slurm'/);
  });
});

describe('EngineScheduler', () => {
  test('hands out the emptiest engine first, respects capacities, and reports when no engine is left', async () => {
    const scheduler = new EngineScheduler([1, 2]);
    const first = await scheduler.acquire([0, 1]);
    expect(first).toEqual({ engine: 1, slot: 0 });
    const second = await scheduler.acquire([0, 1]);
    const third = await scheduler.acquire([0, 1]);
    expect([second?.engine, third?.engine].sort()).toEqual([0, 1]);
    let fourth: unknown = 'pending';
    void scheduler.acquire([0, 1]).then((slot) => (fourth = slot));
    await Promise.resolve();
    expect(fourth).toBe('pending');
    scheduler.release(first ?? { engine: 1, slot: 0 });
    await Promise.resolve();
    expect(fourth).toEqual({ engine: 1, slot: 0 });
    // Only engine 0 can run this one; once it is down, the waiter hears there is none.
    const onlyZero = scheduler.acquire([0]);
    scheduler.markDown(0);
    await expect(onlyZero).resolves.toBeUndefined();
  });
});
