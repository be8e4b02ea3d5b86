import { readFile } from 'node:fs/promises';
import path from 'node:path';
import Docker from 'dockerode';
import { DockerSimManager, DockerodeRuntime, LABELS, loadImage, saveImage } from '../../src/index.js';
import { SHELL_IMAGE, describeEngine, docker, packageContainers, tempDir, useEngineSuite } from '../helpers/engine.js';
import { startSecondEngine, type SecondEngine } from '../helpers/second-engine.js';

/** The most containers of this process that ran at once on an engine, sampled until `stop()`. */
function sampleEngine(engine: Docker): { stop(): Promise<number> } {
  let max = 0;
  let isStopped = false;
  const loop = (async () => {
    while (!isStopped) {
      const running = await engine.listContainers({ filters: { label: [`${LABELS.ownerPid}=${process.pid}`], status: ['running'] } }).catch(() => []);
      max = Math.max(max, running.length);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  })();
  return {
    stop: async () => {
      isStopped = true;
      await loop;
      return max;
    },
  };
}

describeEngine('several engines at once (a second dockerd on this machine)', () => {
  const data = useEngineSuite();
  let second: SecondEngine | undefined;

  beforeAll(async () => {
    second = await startSecondEngine();
    if (!second) return;
    // The fixture image travels as a bundle, as it would to an engine with no registry.
    const bundle = await tempDir('dsim-engine2-bundle-');
    try {
      const file = path.join(bundle.dir, 'shell.tar');
      await saveImage({ image: SHELL_IMAGE, file, docker });
      await loadImage({ file, docker: second.docker });
    } finally {
      await bundle.cleanup();
    }
  }, 180_000);
  afterAll(async () => {
    await second?.dispose();
  }, 60_000);

  test('12 jobs across two engines: both get work, per-engine maxWorkers holds, every output lands in the one data directory', async () => {
    if (!second) return console.warn('skipped: a second engine cannot be started here');
    const manager = new DockerSimManager({
      image: SHELL_IMAGE,
      dataDirectory: data.dir,
      engines: [
        { name: 'main', docker, maxWorkers: 2 },
        { name: 'second', docker: second.docker, maxWorkers: 3 },
      ],
      defaults: { network: 'none', init: true },
    });
    for (let i = 1; i <= 12; i++) manager.addSimJob({ name: `E${i}`, command: [`sleep 0.7; echo job ${i} > /mnt/data/out.txt; hostname`] });
    const onMain = sampleEngine(docker);
    const onSecond = sampleEngine(second.docker);
    // Stopped even when the run rejects: a sampler left polling keeps Jest from exiting.
    const summary = await manager.startComputation().finally(() => Promise.all([onMain.stop(), onSecond.stop()]));
    const [maxMain, maxSecond] = [await onMain.stop(), await onSecond.stop()];

    expect(summary.succeeded).toBe(12);
    expect(maxMain).toBeLessThanOrEqual(2);
    expect(maxSecond).toBeLessThanOrEqual(3);
    expect(maxMain + maxSecond).toBeGreaterThanOrEqual(4); // they really ran side by side
    const byEngine = (name: string): number => summary.results.filter((r) => r.engine === name).length;
    expect(byEngine('main')).toBeGreaterThan(0);
    expect(byEngine('second')).toBeGreaterThan(0);
    for (const result of summary.results) {
      expect(result.outputDir).toBe(path.join(data.dir, `job_${result.name}`));
      expect(await readFile(path.join(result.outputDir, 'out.txt'), 'utf8')).toBe(`job ${result.name.slice(1)}\n`);
    }
    expect(await packageContainers()).toEqual([]);
    expect(await second.docker.listContainers({ all: true, filters: { label: [`${LABELS.ownerPid}=${process.pid}`] } })).toEqual([]);
  });

  test('stopping the second engine mid-run moves its unfinished jobs to the first; the run completes', async () => {
    if (!second) return console.warn('skipped: a second engine cannot be started here');
    const manager = new DockerSimManager({
      image: SHELL_IMAGE,
      dataDirectory: data.dir,
      engines: [
        { name: 'main', docker, maxWorkers: 2 },
        { name: 'second', runtime: new DockerodeRuntime(second.docker), maxWorkers: 2 },
      ],
      defaults: { network: 'none', init: true, retries: 2, backoff: { initialDelayMs: 200 } },
    });
    for (let i = 1; i <= 8; i++) manager.addSimJob({ name: `M${i}`, command: [`sleep 1.5; echo done > /mnt/data/out.txt`] });
    const warnings: string[] = [];
    manager.on('run:warning', ({ message }) => warnings.push(message));
    const startedOn: Array<[string, string]> = [];
    let stopping: Promise<void> | undefined;
    manager.on('job:started', ({ job, engine }) => {
      startedOn.push([job.name, engine]);
      if (engine === 'second' && !stopping) stopping = new Promise((resolve) => setTimeout(resolve, 400)).then(() => second?.stop());
    });
    const summary = await manager.startComputation();
    await stopping;

    expect(summary.results.map((r) => r.status)).toEqual(Array(8).fill('succeeded'));
    const moved = summary.results.filter((r) => startedOn.some(([job, engine]) => job === r.name && engine === 'second'));
    expect(moved.length).toBeGreaterThan(0);
    for (const result of moved) expect(result).toMatchObject({ engine: 'main', attempts: 2 }); // retried on the first
    expect(warnings.some((w) => /Engine second .* stopped answering/.test(w))).toBe(true);
    for (const result of summary.results) expect(await readFile(path.join(result.outputDir, 'out.txt'), 'utf8')).toBe('done\n');
    expect(await packageContainers()).toEqual([]);
  });
});
