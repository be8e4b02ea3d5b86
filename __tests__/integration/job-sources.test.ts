import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { DockerSimManager, JobSourceError, readRunResults, type SimJobOptions } from '../../src/index.js';
import { SHELL_IMAGE, describeEngine, packageContainers, sampleRunning, useEngineSuite } from '../helpers/engine.js';

describeEngine('a sweep read lazily from a generator, on a real Docker engine', () => {
  const data = useEngineSuite({ expectNoLeftovers: true });

  for (const executionMode of ['container', 'pool'] as const) {
    test(`${executionMode} mode: 40 jobs from a generator at 4 workers, read as slots free up, every output in its folder`, async () => {
      const dataDirectory = path.join(data.dir, executionMode);
      const manager = new DockerSimManager({ image: SHELL_IMAGE, maxWorkers: 4, dataDirectory, executionMode, defaults: { network: 'none' } });
      const state = { read: 0, ended: 0, mostAhead: 0 };
      manager.addSimJobs(
        (function* (): Generator<SimJobOptions> {
          for (let i = 0; i < 40; i++) {
            state.read += 1;
            yield { name: `g${i}`, command: [`echo "job ${i}"; echo ${i * i} > /mnt/data/square.txt`], parameters: { i } };
          }
        })(),
        { total: 40 },
      );
      manager.on('job:started', () => (state.mostAhead = Math.max(state.mostAhead, state.read - state.ended)));
      manager.on('job:succeeded', () => (state.ended += 1));
      const sampler = sampleRunning();
      const summary = await manager.startComputation();
      expect(await sampler.stop()).toBeLessThanOrEqual(4);

      expect(summary).toMatchObject({ total: 40, succeeded: 40, failed: 0, results: [] });
      expect(state.mostAhead).toBeLessThanOrEqual(4 * 2 + 1); // two jobs per slot read ahead, at most
      const folders = (await readdir(dataDirectory)).filter((name) => name.startsWith('job_'));
      expect(folders).toHaveLength(40);
      for (const i of [0, 17, 39]) {
        expect(await readFile(path.join(dataDirectory, `job_g${i}`, 'square.txt'), 'utf8')).toBe(`${i * i}\n`);
        expect(await readFile(path.join(dataDirectory, `job_g${i}`, 'log.txt'), 'utf8')).toBe(`job ${i}\n`);
      }
      const records = [];
      for await (const record of readRunResults(summary)) records.push(record);
      expect(records).toHaveLength(40);
      expect(records.find((r) => r.job === 'g17')?.parameters).toEqual({ i: 17 });
      expect(await packageContainers()).toEqual([]);
    });
  }

  test('a generator that fails mid-sweep: running jobs finish and are recorded, nothing is left, and a resume completes the sweep', async () => {
    const dataDirectory = path.join(data.dir, 'failing');
    const sweep = (failAt: number | undefined) =>
      async function* (): AsyncGenerator<SimJobOptions> {
        for (let i = 0; i < 12; i++) {
          if (i === failAt) throw new Error(`row ${i} of params.csv is malformed`);
          yield { name: `r${i}`, command: [`sleep 0.2; echo ${i} > /mnt/data/out.txt`] };
        }
      };
    const first = new DockerSimManager({ image: SHELL_IMAGE, maxWorkers: 3, dataDirectory, defaults: { network: 'none' } });
    first.addSimJobs(sweep(8)());
    const error = (await first.startComputation().catch((e: unknown) => e)) as JobSourceError;
    expect(error).toBeInstanceOf(JobSourceError);
    expect(error.message).toContain('row 8 of params.csv is malformed');
    expect(error.summary).toMatchObject({ total: 8, succeeded: 8 });
    expect(await packageContainers()).toEqual([]);

    const second = new DockerSimManager({ image: SHELL_IMAGE, maxWorkers: 3, dataDirectory, resume: true, defaults: { network: 'none' } });
    second.addSimJobs(sweep(undefined)());
    const summary = await second.startComputation();
    expect(summary).toMatchObject({ total: 12, skipped: 8, succeeded: 4 });
    expect(await readFile(path.join(dataDirectory, 'job_r11', 'out.txt'), 'utf8')).toBe('11\n');
  });
});
