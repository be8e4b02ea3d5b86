import { spawnSync } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LABELS } from '../../src/index.js';
import { MONTE_CARLO, SHELL_IMAGE, describeEngine, docker, packageContainers, useEngineSuite } from '../helpers/engine.js';
import { dsim } from '../helpers/cli.js';

const GRID = `image: ${MONTE_CARLO}
pullPolicy: never
maxWorkers: 3
dataDirectory: ./out
name: "mc_s{seed}_n{iterations}"
command: "-o /mnt/data -r {seed} -i {iterations}"
network: none
parameters:
  grid: { seed: [1, 2, 3], iterations: [100, 1000] }
retries: 1
timeout: 30m
`;

/** A pid that no process has any more. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  return Number(child.stdout.trim());
}

/** Starts a container labelled as a job of docker-sim-manager, owned by `pid` on this host. */
async function plantJobContainer(name: string, pid: number): Promise<string> {
  const container = await docker.createContainer({
    name,
    Image: SHELL_IMAGE,
    Cmd: ['sleep 60'],
    Labels: { [LABELS.run]: 'planted', [LABELS.job]: name, [LABELS.ownerHost]: os.hostname(), [LABELS.ownerPid]: String(pid) },
    HostConfig: { NetworkMode: 'none' },
  });
  await container.start();
  return container.id;
}

describeEngine('dsim, the command line, end to end', () => {
  const data = useEngineSuite();

  test('run: a 6-job grid sweep succeeds (exit 0) with outputs, report.html and trace.csv in the sweep folder', async () => {
    await writeFile(path.join(data.dir, 'sweep.yaml'), GRID);
    const run = await dsim(['run', 'sweep.yaml'], { cwd: data.dir });
    expect(run.stderr).toMatch(/6 succeeded, 0 failed, 0 cancelled, 0 skipped of 6/);
    expect(run.code).toBe(0);
    const out = path.join(data.dir, 'out');
    const entries = await readdir(out);
    expect(entries.filter((e) => e.startsWith('job_')).sort()).toEqual(['job_mc_s1_n100', 'job_mc_s1_n1000', 'job_mc_s2_n100', 'job_mc_s2_n1000', 'job_mc_s3_n100', 'job_mc_s3_n1000']);
    expect(Number(await readFile(path.join(out, 'job_mc_s2_n1000', 'pi.txt'), 'utf8'))).toBeGreaterThan(2.5);
    expect(entries).toEqual(expect.arrayContaining(['report.html', 'trace.csv']));
    const csv = (await readFile(path.join(out, 'trace.csv'), 'utf8')).trim().split('\n');
    expect(csv[0]).toMatch(/^job,run_id,slot,status,exit_code,attempts,.*,param_seed,param_iterations$/);
    expect(csv).toHaveLength(7);

    // Not on a TTY: one plain line per job event.
    expect(run.stderr.match(/succeeded mc_s\d_n\d+/g)).toHaveLength(6);
    // Again with --resume: everything is skipped, nothing runs, still exit 0.
    const again = await dsim(['run', 'sweep.yaml', '--resume'], { cwd: data.dir });
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/0 succeeded, 0 failed, 0 cancelled, 6 skipped of 6/);
    // Without --resume the filled job folders are refused: bad input, exit 2, nothing touched.
    const refused = await dsim(['run', 'sweep.yaml'], { cwd: data.dir });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/already holds files/);
  });

  test('run: a failing job gives exit 1; --json prints every event as one parseable line', async () => {
    await writeFile(
      path.join(data.dir, 'sweep.json'),
      JSON.stringify({ image: SHELL_IMAGE, pullPolicy: 'never', maxWorkers: 2, network: 'none', name: 'code{code}', command: ['echo job {code}; exit {code}'], parameters: { list: [{ code: 0 }, { code: 3 }] } }),
    );
    const run = await dsim(['run', 'sweep.json', '--json'], { cwd: data.dir });
    expect(run.code).toBe(1);
    const events = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { event: string; time: string; job?: string; exitCode?: number; error?: { code: string } });
    for (const event of events) expect(Date.parse(event.time)).not.toBeNaN();
    const names = events.map((e) => e.event);
    expect(names[0]).toBe('run:started');
    expect(names).toEqual(expect.arrayContaining(['image:ready', 'job:queued', 'job:started', 'job:log', 'job:succeeded', 'job:failed', 'run:finished', 'report']));
    expect(events.find((e) => e.event === 'job:failed')).toMatchObject({ job: 'code3', exitCode: 3, error: { code: 'E_JOB_EXIT' } });
    expect(events.find((e) => e.event === 'job:log' && e.job === 'code3')).toMatchObject({ stream: 'stdout', line: 'job 3' });
    expect(events.find((e) => e.event === 'run:finished')).toMatchObject({ succeeded: 1, failed: 1 });
  });

  test('run: a schema error exits 2 naming the field by its path; --dry-run prints the jobs without an engine', async () => {
    await writeFile(path.join(data.dir, 'bad.yaml'), `image: sim\nparameters:\n  grid:\n    seed: [1, 2, {x: 1}]\n`);
    const bad = await dsim(['run', 'bad.yaml'], { cwd: data.dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/parameters\.grid\.seed\[2\]: expected a string, number or boolean/);

    await writeFile(path.join(data.dir, 'sweep.yaml'), GRID);
    // An engine that cannot exist: a dry run must not need one.
    const noEngine = { DOCKER_HOST: `unix://${path.join(data.dir, 'no-engine.sock')}` };
    const dry = await dsim(['run', 'sweep.yaml', '--dry-run'], { cwd: data.dir, env: noEngine });
    expect(dry.code).toBe(0);
    expect(dry.stdout.trim().split('\n')).toEqual([1, 2, 3].flatMap((s) => [100, 1000].map((n) => `mc_s${s}_n${n}\t-o /mnt/data -r ${s} -i ${n}`)));
    await expect(readdir(path.join(data.dir, 'out'))).rejects.toThrow(/ENOENT/);
    // The same sweep for real with that engine: exit 3, engine problem.
    const unreachable = await dsim(['run', 'sweep.yaml'], { cwd: data.dir, env: noEngine });
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toMatch(/DockerUnavailableError/);
  });

  test('ps lists running jobs; clean removes a planted orphan and keeps a live driver’s container', async () => {
    const orphan = await plantJobContainer(`dsim-orphan-${process.pid}`, deadPid());
    const live = await plantJobContainer(`dsim-live-${process.pid}`, process.pid);
    try {
      const ps = await dsim(['ps'], { cwd: data.dir });
      expect(ps.code).toBe(0);
      expect(ps.stdout).toMatch(/^RUN\s+JOB\s+CONTAINER\s+UPTIME\s+DRIVER/);
      expect(ps.stdout).toContain(`dsim-orphan-${process.pid}`);
      expect(ps.stdout).toContain(orphan.slice(0, 12));

      const clean = await dsim(['clean'], { cwd: data.dir });
      expect(clean.code).toBe(0);
      expect(clean.stdout).toContain(`removed dsim-orphan-${process.pid}`);
      const left = (await packageContainers({ anyOwner: true })).map((c) => c.Id);
      expect(left).not.toContain(orphan);
      expect(left).toContain(live);
    } finally {
      await docker.getContainer(live).remove({ force: true });
      await docker.getContainer(orphan).remove({ force: true }).catch(() => undefined);
    }
  });

  test('--help documents the commands and exit codes; an unknown command exits 2', async () => {
    const help = await dsim(['--help'], { cwd: data.dir });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/dsim run <sweep\.yaml\|sweep\.json>/);
    expect(help.stdout).toMatch(/2 +bad input/);
    expect(help.stdout).toMatch(/3 +engine or registry problem/);
    const unknown = await dsim(['launch'], { cwd: data.dir });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'launch'/);
  });
});
