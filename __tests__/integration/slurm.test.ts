/**
 * backend 'slurm' on the one-node cluster (scripts/slurm-cluster.sh): what the conformance suite does not cover,
 * as a user would meet it: the Slurm job's name and comment, the queue time, a job Slurm holds pending and the
 * run cancelled, a partition that does not exist, `dsim run` with a sweep file that names the cluster, and nodes
 * that run containers with Podman.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { slurmCommands } from '../../src/backends/slurm/slurm-commands.js';
import { DockerSimManager, JobCancelledError, JobTimeoutError, ValidationError } from '../../src/index.js';
import { dsim } from '../helpers/cli.js';
import { LABELS } from '../../src/index.js';
import { MONTE_CARLO, PODMAN_SOCKET, SHELL_IMAGE, ensurePodmanImages, podman, requirePodman, useEngineSuite } from '../helpers/engine.js';
import { describeSlurm, requireSlurm, slurmJobsOf } from '../helpers/slurm.js';

describeSlurm("backend 'slurm' on a one-node cluster", () => {
  const data = useEngineSuite();

  beforeAll(() => requireSlurm());

  test('each attempt is a Slurm job named after the run and job, its comment the owner; queue time apart from run time', async () => {
    const manager = new DockerSimManager({ image: SHELL_IMAGE, dataDirectory: path.join(data.dir, 'out'), backend: 'slurm', maxWorkers: 2 });
    manager.addSimJobs([{ name: 'first', command: ['echo one > /mnt/data/one.txt'] }, { name: 'second', command: ['echo two'] }]);
    const seen: Array<{ job: string; slurmId: string }> = [];
    manager.on('job:started', ({ job, containerId }) => seen.push({ job: job.name, slurmId: containerId }));
    const summary = await manager.startComputation();
    expect(summary.results.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
    const jobs = await slurmCommands.jobs();
    for (const { job, slurmId } of seen) {
      const slurmJob = jobs.get(slurmId);
      expect(slurmJob).toMatchObject({ state: 'COMPLETED', exitCode: 0, name: `dsim-${summary.runId}-1-${job}` });
      expect(slurmJob?.comment).toMatch(new RegExp(`^dsim;run=${summary.runId};host=.*;pid=${process.pid};.*job=${job}$`));
    }
    for (const result of summary.results) {
      expect(result.queuedMs).toEqual(expect.any(Number));
      expect(result.queuedMs).toBeGreaterThanOrEqual(0);
    }
    expect(await readFile(path.join(data.dir, 'out', 'job_first', 'one.txt'), 'utf8')).toBe('one\n');
    // The staging folder of the run's scripts is gone with the run.
    await expect(stat(path.join(data.dir, 'out', '.dsim-slurm'))).rejects.toMatchObject({ code: 'ENOENT' });
  }, 120_000);

  test('a job Slurm holds pending is cancelled with the run: JobCancelledError, nothing left queued', async () => {
    // --begin in an hour: Slurm keeps the job PENDING (Reason=BeginTime) whatever the cluster has free.
    const manager = new DockerSimManager({ image: SHELL_IMAGE, dataDirectory: path.join(data.dir, 'held'), backend: 'slurm', slurm: { sbatchArgs: ['--begin=now+1hour'] } });
    manager.addSimJob({ name: 'held', command: ['echo never'] });
    manager.once('job:queued', () => setTimeout(() => manager.cancel(), 1500));
    const summary = await manager.startComputation();
    expect(summary.results[0]?.status).toBe('cancelled');
    expect(summary.results[0]?.error).toBeInstanceOf(JobCancelledError);
    expect(await slurmJobsOf(process.pid)).toEqual([]);
  }, 60_000);

  test("Slurm's own time limit (TIMEOUT, here --time=1 from sbatchArgs) is a JobTimeoutError, the container stopped", async () => {
    // No timeoutMs: only Slurm's limit applies. Slurm checks limits every 30 s, so the job ends 60-90 s in.
    const manager = new DockerSimManager({ image: SHELL_IMAGE, dataDirectory: path.join(data.dir, 'limit'), backend: 'slurm', stopGracePeriodMs: 1000, slurm: { sbatchArgs: ['--time=1'] } });
    manager.addSimJob({ name: 'endless', command: ['echo working; sleep 600'] });
    const summary = await manager.startComputation();
    const result = summary.results[0];
    expect(result?.status).toBe('failed');
    expect(result?.error).toBeInstanceOf(JobTimeoutError);
    expect(await readFile(path.join(data.dir, 'limit', 'job_endless', 'log.txt'), 'utf8')).toBe('working\n');
  }, 240_000);

  test('a partition the cluster lacks: a ValidationError naming slurm.partition and the ones it has, before anything is submitted', async () => {
    const since = Date.now();
    const manager = new DockerSimManager({ image: SHELL_IMAGE, dataDirectory: path.join(data.dir, 'nopart'), backend: 'slurm', slurm: { partition: 'gpu-huge' } });
    manager.addSimJob({ name: 'a', command: ['true'] });
    const error = await manager.startComputation().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ field: 'slurm.partition', value: 'gpu-huge', message: expect.stringMatching(/sinfo lists main/) });
    expect(await slurmJobsOf(process.pid, { sinceMs: since, names: ['a'] })).toEqual([]);
  }, 60_000);

  test('dsim run with a sweep file that names the cluster: the Monte Carlo sweep runs as Slurm jobs, with its report', async () => {
    const sweep = path.join(data.dir, 'sweep.yaml');
    await writeFile(
      sweep,
      [`image: ${MONTE_CARLO}`, 'backend: slurm', 'slurm: { partition: main }', 'maxWorkers: 2', 'dataDirectory: ./mc', 'name: "mc-{seed}"', 'command: "-o /mnt/data -r {seed} -i 1000"', 'parameters:', '  grid: { seed: [1, 2, 3, 4] }', ''].join('\n'),
    );
    const run = await dsim(['run', sweep], { cwd: data.dir, timeoutMs: 120_000 });
    expect({ code: run.code, summary: run.stderr.trim().split('\n').at(-1) }).toEqual({ code: 0, summary: expect.stringMatching(/^4 succeeded, 0 failed/) });
    for (const seed of [1, 2, 3, 4]) expect(Number((await readFile(path.join(data.dir, 'mc', `job_mc-${seed}`, 'pi.txt'), 'utf8')).trim())).toBeCloseTo(3.14, 0);
    expect(await readFile(path.join(data.dir, 'mc', 'report.html'), 'utf8')).toContain('mc-4');
  }, 180_000);

  test("nodes that run containers with Podman (nodeEngine: 'podman'): the driver resolves the image on Podman, the batch scripts run podman; outputs, env, user and a failing exit come back as on Docker, nothing left", async () => {
    await requirePodman();
    await ensurePodmanImages();
    const manager = new DockerSimManager({
      image: SHELL_IMAGE,
      docker: { socketPath: PODMAN_SOCKET },
      dataDirectory: path.join(data.dir, 'podman-nodes'),
      backend: 'slurm',
      slurm: { nodeEngine: 'podman' },
      maxWorkers: 2,
      defaults: { env: { GREETING: 'hello from the node' } },
    });
    manager.addSimJobs([
      // Podman sets `container=podman` in every container it runs; Docker sets nothing.
      { name: 'writes', command: ['echo "$GREETING from ${container:-an engine that is not podman}" > /mnt/data/out.txt'] },
      { name: 'who', user: '1234:1234', workingDir: '/tmp', command: ['id -u; id -g; pwd'] },
      { name: 'fails', command: ['echo about to fail >&2; exit 3'] },
    ]);
    const summary = await manager.startComputation();
    expect(summary.results.map((r) => [r.name, r.status, r.exitCode])).toEqual([
      ['writes', 'succeeded', 0],
      ['who', 'succeeded', 0],
      ['fails', 'failed', 3],
    ]);
    const out = path.join(data.dir, 'podman-nodes');
    expect(await readFile(path.join(out, 'job_writes', 'out.txt'), 'utf8')).toBe('hello from the node from podman\n');
    expect(await readFile(path.join(out, 'job_who', 'log.txt'), 'utf8')).toBe('1234\n1234\n/tmp\n');
    expect(await readFile(path.join(out, 'job_fails', 'log.txt'), 'utf8')).toBe('about to fail\n');
    // The batch scripts removed their containers from Podman.
    expect(await podman.listContainers({ all: true, filters: { label: [`${LABELS.run}=${summary.runId}`] } })).toEqual([]);
    expect(await slurmJobsOf(process.pid)).toEqual([]);
  }, 180_000);
});
