import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DockerSimManager, JobExitError, LABELS, ValidationError } from '../../src/index.js';
import { MONTE_CARLO, SHELL_IMAGE, describeEngine, docker, useEngineSuite } from '../helpers/engine.js';

/** Services and configs of this process on the swarm. */
async function leftovers(): Promise<string[]> {
  const label = [`${LABELS.ownerPid}=${process.pid}`];
  const services = (await docker.listServices({ filters: { label } })) as Array<{ Spec?: { Name?: string } }>;
  const configs = (await docker.listConfigs({ filters: { label } })) as Array<{ Spec?: { Name?: string } }>;
  return [...services, ...configs].map((o) => o.Spec?.Name ?? '?');
}

async function isSwarmManager(): Promise<boolean> {
  const info = (await docker.info()) as { Swarm?: { ControlAvailable?: boolean } };
  return info.Swarm?.ControlAvailable === true;
}

describeEngine("backend 'swarm' on the local engine (docker swarm init)", () => {
  const data = useEngineSuite();
  let initialized = false;

  beforeAll(async () => {
    if (!(await isSwarmManager())) {
      execFileSync('docker', ['swarm', 'init', '--advertise-addr', '127.0.0.1'], { stdio: 'ignore' });
      initialized = true;
    }
  }, 60_000);
  afterAll(() => {
    if (initialized) execFileSync('docker', ['swarm', 'leave', '--force'], { stdio: 'ignore' });
  }, 60_000);

  test('jobs run as services: outputs in their folders, logs, templates as configs and in the folder, env, a failing exit code', async () => {
    await writeFile(path.join(data.dir, 'params.txt'), 'host template\n');
    const manager = new DockerSimManager({ image: MONTE_CARLO, maxWorkers: 3, dataDirectory: path.join(data.dir, 'out'), backend: 'swarm' });
    for (let i = 1; i <= 5; i++) manager.addSimJob({ name: `IT${i}`, command: `-o /mnt/data -r ${i} -i 200`, templates: [path.join(data.dir, 'params.txt')] });
    const shell = new DockerSimManager({ image: SHELL_IMAGE, maxWorkers: 2, dataDirectory: path.join(data.dir, 'shell'), backend: 'swarm' });
    shell.addSimJob({ name: 'config', command: ['cat /etc/dsim/input.txt; echo "$GREETING"; ls -l /etc/dsim/input.txt | cut -c1-10'], env: { GREETING: 'hello swarm' }, templates: [{ content: 'from a swarm config\n', target: '/etc/dsim/input.txt', mode: 0o640 }] });
    shell.addSimJob({ name: 'fails', command: ['echo broken >&2; exit 6'] });
    const services = new Set<string>();
    manager.on('job:started', ({ containerId }) => services.add(containerId));

    const summary = await manager.startComputation();
    const shellSummary = await shell.startComputation();

    expect(summary).toMatchObject({ total: 5, succeeded: 5 });
    expect(services.size).toBe(5); // one service per job
    for (const result of summary.results) {
      const i = Number(result.name.slice(2));
      const pi = Number(await readFile(path.join(result.outputDir, 'pi.txt'), 'utf8'));
      expect(pi).toBeGreaterThan(2.5);
      expect(await readFile(result.logFile, 'utf8')).toContain(`(seed ${i})`);
      expect(await readFile(path.join(result.outputDir, 'params.txt'), 'utf8')).toBe('host template\n');
    }
    const config = shellSummary.results.find((r) => r.name === 'config');
    expect(config).toMatchObject({ status: 'succeeded' });
    expect(await readFile(config?.logFile ?? '', 'utf8')).toBe('from a swarm config\nhello swarm\n-rw-r-----\n');
    const fails = shellSummary.results.find((r) => r.name === 'fails');
    expect(fails).toMatchObject({ status: 'failed', exitCode: 6 });
    expect(fails?.error).toBeInstanceOf(JobExitError);
    expect(await readFile(fails?.stderrFile ?? '', 'utf8')).toBe('broken\n');
    expect(await leftovers()).toEqual([]);
  }, 180_000);

  test('cancelling a swarm run removes every service', async () => {
    const manager = new DockerSimManager({ image: SHELL_IMAGE, maxWorkers: 2, dataDirectory: data.dir, backend: 'swarm', defaults: { init: true } });
    for (let i = 1; i <= 4; i++) manager.addSimJob({ name: `L${i}`, command: ['sleep 60'] });
    let started = 0;
    manager.on('job:started', () => {
      started += 1;
      if (started === 2) manager.cancel();
    });
    const begun = Date.now();
    const summary = await manager.startComputation();
    expect(Date.now() - begun).toBeLessThan(30_000);
    expect(summary).toMatchObject({ cancelled: 4, stopReason: 'cancelled' });
    expect(await leftovers()).toEqual([]);
  }, 120_000);

  test('a template over the config size limit is refused before any service', async () => {
    const big = path.join(data.dir, 'big.bin');
    await writeFile(big, Buffer.alloc(600 * 1024));
    const manager = new DockerSimManager({ image: SHELL_IMAGE, dataDirectory: path.join(data.dir, 'out'), backend: 'swarm' });
    manager.addSimJob({ name: 'big', templates: [{ source: big, target: '/etc/big.bin' }] });
    await expect(manager.startComputation()).rejects.toThrow(ValidationError);
    await expect(manager.startComputation()).rejects.toThrow(/over Swarm's config limit/);
    expect(await leftovers()).toEqual([]);
  });
});
