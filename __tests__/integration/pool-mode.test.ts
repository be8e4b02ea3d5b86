import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DockerSimManager, JobExitError, JobTimeoutError, LABELS, ValidationError } from '../../src/index.js';
import { buildImage } from '../../examples/images.js';
import { MONTE_CARLO, SHELL_IMAGE, describeEngine, docker, packageContainers, sampleRunning, useEngineSuite } from '../helpers/engine.js';

const NO_SLEEP_IMAGE = 'docker-sim-manager/test-no-sleep:latest';
const NO_SH_IMAGE = 'docker-sim-manager/test-no-sh:latest';

/** The worker containers of this process, running or not. */
async function workers(): Promise<string[]> {
  return (await packageContainers()).filter((c) => c.Labels[LABELS.worker] !== undefined).map((c) => c.Id);
}

describeEngine("executionMode 'pool' against a real Docker engine", () => {
  const data = useEngineSuite({ expectNoLeftovers: true });

  test('12 jobs at 3 workers: each output in its own folder, failing exit code, templates, env, and only 3 containers ever', async () => {
    await writeFile(path.join(data.dir, 'params.txt'), 'from the host\n');
    const manager = new DockerSimManager({ image: MONTE_CARLO, maxWorkers: 3, dataDirectory: path.join(data.dir, 'out'), executionMode: 'pool', defaults: { network: 'none' } });
    for (let i = 1; i <= 12; i++) {
      manager.addSimJob({
        name: `IT${i}`,
        command: `-o /mnt/data -r ${i} -i 200`,
        env: { SEED_LABEL: `seed-${i}` },
        templates: [path.join(data.dir, 'params.txt'), { content: `job ${i}\n`, target: '/mnt/data/inputs/job.txt', mode: 0o600 }],
      });
    }
    const shell = new DockerSimManager({ image: SHELL_IMAGE, maxWorkers: 2, dataDirectory: path.join(data.dir, 'shell'), executionMode: 'pool', defaults: { network: 'none' } });
    shell.addSimJob({ name: 'env', command: ['echo "$SEED_LABEL in $(pwd) as $(id -u)"; cat /etc/dsim-extra.txt'], env: { SEED_LABEL: 'shell' }, workingDir: '/tmp', templates: [{ content: 'outside the mount\n', target: '/etc/dsim-extra.txt' }] });
    shell.addSimJob({ name: 'fails', command: ['echo broken >&2; exit 7'] });

    const containers = new Set<string>();
    manager.on('job:started', ({ containerId }) => containers.add(containerId));
    const sampler = sampleRunning();
    const summary = await manager.startComputation();
    const shellSummary = await shell.startComputation();
    expect(await sampler.stop()).toBeLessThanOrEqual(3);

    expect(summary).toMatchObject({ total: 12, succeeded: 12 });
    expect(containers.size).toBe(3); // 12 jobs, 3 workers
    for (const result of summary.results) {
      const i = Number(result.name.slice(2));
      const pi = Number(await readFile(path.join(result.outputDir, 'pi.txt'), 'utf8'));
      expect(pi).toBeGreaterThan(2.5);
      expect(await readFile(result.logFile, 'utf8')).toContain(`(seed ${i})`); // its own seed, in its own log
      expect(await readFile(path.join(result.outputDir, 'params.txt'), 'utf8')).toBe('from the host\n');
      expect(await readFile(path.join(result.outputDir, 'inputs', 'job.txt'), 'utf8')).toBe(`job ${i}\n`);
    }
    const env = shellSummary.results.find((r) => r.name === 'env');
    expect(await readFile(env?.logFile ?? '', 'utf8')).toBe(`shell in /tmp as ${process.getuid?.() ?? 0}\noutside the mount\n`);
    const fails = shellSummary.results.find((r) => r.name === 'fails');
    expect(fails).toMatchObject({ status: 'failed', exitCode: 7 });
    expect(fails?.error).toBeInstanceOf(JobExitError);
    expect(await readFile(fails?.stderrFile ?? '', 'utf8')).toBe('broken\n');
    expect(await workers()).toEqual([]);
  });

  test('an exec per job (residentRunner: false): a job past its timeoutMs takes its worker with it; the next job gets a fresh worker', async () => {
    const manager = new DockerSimManager({ image: SHELL_IMAGE, maxWorkers: 1, dataDirectory: data.dir, executionMode: 'pool', residentRunner: false, defaults: { network: 'none' } });
    manager.addSimJob({ name: 'hangs', command: ['echo started; sleep 60'], timeoutMs: 1000 });
    manager.addSimJob({ name: 'next', command: ['echo fine'] });
    const startedIn: Record<string, string> = {};
    manager.on('job:started', ({ job, containerId }) => (startedIn[job.name] = containerId));
    const started = Date.now();
    const summary = await manager.startComputation();
    expect(Date.now() - started).toBeLessThan(15_000);
    const hangs = summary.results.find((r) => r.name === 'hangs');
    expect(hangs).toMatchObject({ status: 'failed' });
    expect(hangs?.error).toBeInstanceOf(JobTimeoutError);
    expect(await readFile(hangs?.logFile ?? '', 'utf8')).toBe('started\n');
    expect(summary.results.find((r) => r.name === 'next')).toMatchObject({ status: 'succeeded' });
    expect(startedIn.next).not.toBe(startedIn.hangs);
    await expect(docker.getContainer(startedIn.hangs ?? '').inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  test('cancelling a pool run stops its jobs and leaves no worker behind', async () => {
    const manager = new DockerSimManager({ image: SHELL_IMAGE, maxWorkers: 2, dataDirectory: data.dir, executionMode: 'pool', defaults: { network: 'none' } });
    for (let i = 1; i <= 5; i++) manager.addSimJob({ name: `L${i}`, command: ['sleep 60'] });
    manager.on('job:started', () => {
      if (manager.simJobs.filter((j) => j.status === 'running').length === 2) manager.cancel();
    });
    const started = Date.now();
    const summary = await manager.startComputation();
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(summary).toMatchObject({ cancelled: 5, stopReason: 'cancelled' });
    expect(await workers()).toEqual([]);
  });

  test('recycleAfter: a worker is replaced after that many jobs', async () => {
    const manager = new DockerSimManager({ image: SHELL_IMAGE, maxWorkers: 1, dataDirectory: data.dir, executionMode: 'pool', recycleAfter: 2, defaults: { network: 'none' } });
    // Each job leaves a file outside its folder; a recycled worker starts clean.
    for (let i = 1; i <= 5; i++) manager.addSimJob({ name: `R${i}`, command: ['ls /tmp/left-* 2>/dev/null | wc -l; touch /tmp/left-$RANDOM'] });
    const order: string[] = [];
    manager.on('job:started', ({ containerId }) => order.push(containerId));
    const summary = await manager.startComputation();
    expect(summary.succeeded).toBe(5);
    expect(order[0]).toBe(order[1]);
    expect(order[2]).toBe(order[3]);
    expect(new Set(order).size).toBe(3);
    const seen = await Promise.all(summary.results.map(async (r) => (await readFile(r.logFile, 'utf8')).trim()));
    expect(seen).toEqual(['0', '1', '0', '1', '0']);
  });

  test('an image that cannot keep a worker alive, has no shell, or a read-only root fails the run before any job with a clear error', async () => {
    await buildImage({ tag: NO_SLEEP_IMAGE, dockerfile: `FROM ${SHELL_IMAGE}\nRUN ["/bin/rm", "/bin/sleep"]\n`, docker });
    const noSleep = new DockerSimManager({ image: NO_SLEEP_IMAGE, maxWorkers: 2, dataDirectory: path.join(data.dir, 'a'), executionMode: 'pool', defaults: { network: 'none' } });
    noSleep.addSimJob({ name: 'never', command: ['echo hi'] });
    const error = await noSleep.startComputation().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ field: 'executionMode' });
    expect((error as Error).message).toMatch(/keeps each worker alive with 'sleep infinity'.*poolKeepAlive/);
    expect(noSleep.simJobs[0]?.status).toBe('pending');
    await expect(readdir(path.join(data.dir, 'a', 'job_never'))).rejects.toThrow(/ENOENT/);

    // The same image works with a keep-alive it has.
    const tail = new DockerSimManager({ image: NO_SLEEP_IMAGE, maxWorkers: 1, dataDirectory: path.join(data.dir, 'b'), executionMode: 'pool', poolKeepAlive: ['tail', '-f', '/dev/null'], defaults: { network: 'none' } });
    tail.addSimJob({ name: 'ok', command: ['echo hi'] });
    expect((await tail.startComputation()).succeeded).toBe(1);

    const strict = new DockerSimManager({ image: SHELL_IMAGE, maxWorkers: 1, dataDirectory: path.join(data.dir, 'c'), executionMode: 'pool', defaults: { security: 'strict' } });
    strict.addSimJob({ name: 'never', command: ['echo hi'] });
    await expect(strict.startComputation()).rejects.toThrow(/Read-only file system\. The image needs .*a writable root file system/);

    // No shell: the mount path cannot be repointed per job (a distroless image, say).
    await buildImage({ tag: NO_SH_IMAGE, dockerfile: `FROM ${SHELL_IMAGE}\nRUN ["/bin/busybox", "rm", "/bin/sh"]\n`, docker });
    const noSh = new DockerSimManager({ image: NO_SH_IMAGE, maxWorkers: 1, dataDirectory: path.join(data.dir, 'd'), executionMode: 'pool', defaults: { network: 'none' } });
    noSh.addSimJob({ name: 'never', command: ['echo hi'] });
    await expect(noSh.startComputation()).rejects.toThrow(/\/bin\/sh.*The image needs \/bin\/sh, mkdir, chmod, rm and ln/);
    expect(await workers()).toEqual([]);
  });
});
