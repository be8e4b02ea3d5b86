import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DockerSimManager, JobExitError, JobTimeoutError, LABELS, ValidationError } from '../../src/index.js';
import { InMemoryRuntime, type InMemoryRuntimeOptions } from '../../src/testing.js';

const IMAGE = 'sim:1.0';
let dataDirectory: string;
beforeEach(async () => {
  dataDirectory = await mkdtemp(path.join(os.tmpdir(), 'dsim-pool-'));
});
afterEach(async () => {
  await rm(dataDirectory, { recursive: true, force: true });
});

function setup(options: InMemoryRuntimeOptions = {}, managerOptions: Partial<ConstructorParameters<typeof DockerSimManager>[0]> = {}) {
  const runtime = new InMemoryRuntime({ images: { [IMAGE]: { entrypoint: ['/bin/sim'], cmd: ['--default'], workingDir: '/work' } }, ...options });
  const manager = new DockerSimManager({ image: IMAGE, dataDirectory, runtime, maxWorkers: 3, executionMode: 'pool', ...managerOptions });
  return { runtime, manager };
}

/** The job argv inside an exec of the pool's shell wrapper. */
const jobArgv = (cmd: readonly string[]): string[] => cmd.slice(5);

describe("executionMode 'pool' (in-memory runtime)", () => {
  test('maxWorkers workers run every job as an exec with the argv, env, user and folder a fresh container would get', async () => {
    const { runtime, manager } = setup({ behaviour: (spec) => ({ durationMs: 10, stdout: `${spec.cmd?.join(' ')} in ${spec.workingDir}\n` }) }, { defaults: { env: { SHARED: '1' }, cpus: 1 } });
    for (let i = 1; i <= 10; i++) manager.addSimJob({ name: `J${i}`, command: ['-r', String(i)], env: { SEED: String(i) }, user: '1000:1000' });
    manager.addSimJob({ name: 'own-entry', entrypoint: ['/bin/other'] });
    const summary = await manager.startComputation();

    expect(summary.succeeded).toBe(11);
    expect(runtime.created).toHaveLength(3); // only the workers
    for (const worker of runtime.created) {
      expect(worker.labels[LABELS.worker]).toBeDefined();
      expect(worker.init).toBe(true);
      expect(worker.nanoCpus).toBe(1e9); // the defaults shape the workers
      expect(worker.entrypoint).toEqual(['sleep', 'infinity']);
    }
    expect(runtime.maxRunningExecs).toBe(3);
    const jobs = runtime.execs.filter((exec) => exec.cmd[3] === 'dsim-job');
    expect(jobs).toHaveLength(11);
    const first = jobs.find((exec) => exec.env.SEED === '1');
    expect(first && jobArgv(first.cmd)).toEqual(['/bin/sim', '-r', '1']);
    expect(first?.cmd[4]).toBe('/.docker-sim-manager-data/job_J1');
    expect(first).toMatchObject({ env: { SHARED: '1', SEED: '1' }, user: '1000:1000', workingDir: '/work' });
    // An own entrypoint drops the image's CMD, as docker run --entrypoint does.
    expect(jobArgv(jobs.find((exec) => exec.cmd.includes('/bin/other'))?.cmd ?? [])).toEqual(['/bin/other']);
    expect(await readFile(path.join(dataDirectory, 'job_J4', 'log.txt'), 'utf8')).toBe('/bin/sim -r 4 in /work\n');
    expect(runtime.existing).toEqual([]); // workers removed at the end
  });

  test('a failing job keeps its worker; a timed-out one is replaced by a fresh worker', async () => {
    const { runtime, manager } = setup(
      { behaviour: (spec) => (spec.cmd?.includes('fail') ? { exitCode: 3 } : spec.cmd?.includes('hang') ? { durationMs: 60_000 } : { durationMs: 5 }) },
      { maxWorkers: 1 },
    );
    manager.addSimJobs([{ name: 'a', command: ['fail'] }, { name: 'b' }, { name: 'c', command: ['hang'], timeoutMs: 50 }, { name: 'd' }]);
    const containers: Record<string, string> = {};
    manager.on('job:started', ({ job, containerId }) => (containers[job.name] = containerId));
    const summary = await manager.startComputation();
    expect(summary.results.map((r) => [r.name, r.status])).toEqual([
      ['a', 'failed'],
      ['b', 'succeeded'],
      ['c', 'failed'],
      ['d', 'succeeded'],
    ]);
    expect(summary.results[0]?.error).toBeInstanceOf(JobExitError);
    expect(summary.results[2]?.error).toBeInstanceOf(JobTimeoutError);
    expect(containers.a).toBe(containers.c); // the failure did not cost the worker
    expect(containers.d).not.toBe(containers.c); // the stopped job did
    expect(runtime.created).toHaveLength(2);
  });

  test.each([
    [{ cpus: 2 }, 'jobs[J].cpus', /set `cpus` in the manager's `defaults`/],
    [{ network: 'host' }, 'jobs[J].network', /shared worker container/],
    [{ security: 'strict' as const }, 'jobs[J].security', /defaults/],
    [{ collect: ['/tmp/x'] }, 'jobs[J].collect', /not available in executionMode 'pool'/],
    [{ outputMode: 'copy' as const }, 'jobs[J].outputMode', /not available in executionMode 'pool'/],
  ])('a job setting of the shared workers (%j) is refused before anything runs', async (settings, field, message) => {
    const { runtime, manager } = setup();
    manager.addSimJob({ name: 'J', ...settings });
    const error = await manager.startComputation().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ field });
    expect((error as Error).message).toMatch(message);
    expect(runtime.created).toEqual([]);
  });

  test('recycleAfter and poolKeepAlive are validated', () => {
    expect(() => setup({}, { recycleAfter: 0 })).toThrow(/recycleAfter/);
    expect(() => setup({}, { poolKeepAlive: [] })).toThrow(/poolKeepAlive/);
    expect(() => setup({}, { executionMode: 'threads' as never })).toThrow(/'container' or 'pool'/);
  });
});
