import { execFileSync } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  DockerSimManager,
  DockerUnavailableError,
  ImageNotFoundError,
  ImagePullError,
  RunInProgressError,
  SimJob,
  ValidationError,
  isDockerSimError,
} from '../../src/index.js';
import { MONTE_CARLO, describeEngine, packageContainers, useEngineSuite } from '../helpers/engine.js';

/** Runs `start` and expects it to reject with `errorClass` having created no container and no folder. */
async function expectRejectedBeforeAnything(
  start: () => Promise<unknown>,
  errorClass: new (...args: never[]) => Error,
  pattern: RegExp,
  untouched: string,
): Promise<Error> {
  const before = await readdir(untouched).catch(() => undefined);
  const containersBefore = (await packageContainers()).length;
  const error = (await start().then(
    () => undefined,
    (e: unknown) => e,
  )) as Error;
  expect(error).toBeInstanceOf(errorClass);
  expect(isDockerSimError(error)).toBe(true);
  expect(error.message).toMatch(pattern);
  expect((await packageContainers()).length).toBe(containersBefore);
  expect(await readdir(untouched).catch(() => undefined)).toEqual(before);
  return error;
}

describeEngine('bad input is refused before any container or folder is created', () => {
  const data = useEngineSuite();

  test('duplicate and invalid job names, maxWorkers < 1: ValidationError at once, naming field and value', () => {
    const manager = new DockerSimManager({ image: MONTE_CARLO, dataDirectory: data.dir });
    manager.addSimJob(new SimJob({ name: 'IT1' }));
    expect(() => manager.addSimJob(new SimJob({ name: 'IT1' }))).toThrow(/already added/);
    expect(() => manager.addSimJobs([{ name: 'a' }, { name: 'a' }])).toThrow(ValidationError);
    expect(manager.simJobs.map((j) => j.name)).toEqual(['IT1']); // nothing of the bad batch was added
    for (const name of ['', 'has space', 'slash/name', 'x'.repeat(129), '..']) {
      const error = (() => {
        try {
          new SimJob({ name });
        } catch (e) {
          return e as ValidationError;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(ValidationError);
      expect(error?.field).toBe('name');
    }
    for (const maxWorkers of [0, -1, 1.5, Number.NaN]) {
      expect(() => new DockerSimManager({ image: MONTE_CARLO, dataDirectory: data.dir, maxWorkers })).toThrow(
        new RegExp(`Expected \`maxWorkers\` to be an integer >= 1, got ${String(maxWorkers)} \\(number\\)`),
      );
    }
  });

  test('a missing template source: ValidationError naming the job and template, no container, no folder', async () => {
    const dataDirectory = path.join(data.dir, 'out');
    const manager = new DockerSimManager({ image: MONTE_CARLO, dataDirectory });
    manager.addSimJob({ name: 'ok', command: '-i 10' });
    manager.addSimJob({ name: 'IT2', templates: ['./definitely-missing.yaml'] });
    const error = (await expectRejectedBeforeAnything(() => manager.startComputation(), ValidationError, /definitely-missing\.yaml' of job IT2 does not exist/, data.dir)) as ValidationError;
    expect(error.field).toBe('jobs[IT2].templates[0]');
  });

  test('dataDirectory that is a file, or lies under a file: ValidationError', async () => {
    const file = path.join(data.dir, 'a-file');
    await writeFile(file, 'x');
    for (const dataDirectory of [file, path.join(file, 'below')]) {
      const manager = new DockerSimManager({ image: MONTE_CARLO, dataDirectory });
      manager.addSimJob({ name: 'IT1' });
      await expectRejectedBeforeAnything(() => manager.startComputation(), ValidationError, /is a file/, data.dir);
    }
  });

  test('dataDirectory without write permission: ValidationError', async () => {
    const readOnly = path.join(data.dir, 'read-only');
    await mkdir(readOnly);
    if (process.getuid?.() === 0) {
      // root may write anywhere, except on a read-only file system
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', readOnly]);
    } else {
      execFileSync('chmod', ['0555', readOnly]);
    }
    try {
      const manager = new DockerSimManager({ image: MONTE_CARLO, dataDirectory: path.join(readOnly, 'out') });
      manager.addSimJob({ name: 'IT1' });
      const error = (await expectRejectedBeforeAnything(() => manager.startComputation(), ValidationError, /is not writable/, readOnly)) as ValidationError;
      expect(error.field).toBe('dataDirectory');
    } finally {
      if (process.getuid?.() === 0) execFileSync('umount', [readOnly]);
    }
  });

  test('an output folder holding files from an earlier run is never overwritten', async () => {
    await mkdir(path.join(data.dir, 'job_IT1'));
    await writeFile(path.join(data.dir, 'job_IT1', 'pi.txt'), 'precious');
    const manager = new DockerSimManager({ image: MONTE_CARLO, dataDirectory: data.dir });
    manager.addSimJobs([{ name: 'IT0' }, { name: 'IT1' }]);
    await expectRejectedBeforeAnything(() => manager.startComputation(), ValidationError, /already holds files from an earlier run/, data.dir);
  });

  test("pullPolicy 'never' with an absent image: ImageNotFoundError that says how to fix it", async () => {
    const manager = new DockerSimManager({ image: 'docker-sim-manager/not-built-here', pullPolicy: 'never', dataDirectory: path.join(data.dir, 'out') });
    manager.addSimJob({ name: 'IT1' });
    await expectRejectedBeforeAnything(
      () => manager.startComputation(),
      ImageNotFoundError,
      /^Image docker-sim-manager\/not-built-here:latest is not on the engine at unix:\/\/\/\S+docker\.sock and pullPolicy is 'never'\. Build it/,
      data.dir,
    );
  });

  test('a pull that fails (no registry reachable): ImagePullError with the engine\'s reason, no container', async () => {
    const manager = new DockerSimManager({ image: '127.0.0.1:9/nothing/here:1.0', dataDirectory: path.join(data.dir, 'out') });
    manager.addSimJob({ name: 'IT1' });
    await expectRejectedBeforeAnything(() => manager.startComputation(), ImagePullError, /Cannot pull image 127\.0\.0\.1:9\/nothing\/here:1\.0: .*connection refused/, data.dir);
  });

  test('an unreachable engine: DockerUnavailableError naming the socket and the fix', async () => {
    const manager = new DockerSimManager({ image: MONTE_CARLO, dataDirectory: path.join(data.dir, 'out'), docker: { socketPath: '/tmp/no-such-docker.sock' } });
    manager.addSimJob({ name: 'IT1' });
    const error = (await expectRejectedBeforeAnything(
      () => manager.startComputation(),
      DockerUnavailableError,
      /Cannot reach the Docker engine at unix:\/\/\/tmp\/no-such-docker\.sock \(ENOENT\)\..*DOCKER_HOST/,
      data.dir,
    )) as DockerUnavailableError;
    expect(error.endpoint).toBe('unix:///tmp/no-such-docker.sock');
  });

  test('startComputation twice at once: RunInProgressError; jobs can be added between runs', async () => {
    const manager = new DockerSimManager({ image: MONTE_CARLO, dataDirectory: data.dir });
    manager.addSimJob({ name: 'IT1', command: '-o /mnt/data -i 10' });
    const first = manager.startComputation();
    await expect(manager.startComputation()).rejects.toBeInstanceOf(RunInProgressError);
    expect((await first).succeeded).toBe(1);
    manager.addSimJob({ name: 'IT2', command: '-o /mnt/data -i 10' });
    const second = await manager.startComputation();
    expect(second.results.map((r) => r.name)).toEqual(['IT2']); // only the jobs that had not run
    expect(await packageContainers()).toEqual([]);
  });
});
