import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DockerSimManager } from '../../src/index.js';
import { SHELL_IMAGE, describeEngine, engineAnswers, packageContainers, useEngineSuite } from '../helpers/engine.js';

const ENGINE_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'docker-engine.sh');
const isCi = process.env.CI === 'true' || process.env.CI === '1';

/** The local dockerd's pid when this process may restart it (root, engine started on this machine). */
function restartableEngine(): number | undefined {
  if (process.getuid?.() !== 0) return undefined;
  // The default engine (the one scripts/docker-engine.sh starts again) writes /var/run/docker.pid. `pidof dockerd`
  // alone may name another dockerd on this machine (a second engine of a test or of a developer) first.
  let pid = Number.NaN;
  try {
    pid = Number(readFileSync('/var/run/docker.pid', 'utf8').trim());
  } catch {
    const found = spawnSync('pidof', ['dockerd'], { encoding: 'utf8' }).stdout.trim().split(' ').filter(Boolean);
    if (found.length === 1) pid = Number(found[0]);
  }
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

async function stopEngine(pid: number): Promise<void> {
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`dockerd (pid ${pid}) did not stop within 20 s`);
}

describeEngine('engine restart in the middle of a run', () => {
  const data = useEngineSuite();

  afterAll(async () => {
    // Never leave the machine without an engine, whatever happened above.
    if (!(await engineAnswers())) execFileSync('bash', [ENGINE_SCRIPT], { stdio: 'inherit' });
  });

  test('with retries: 2, every job succeeds once the engine is back; no container is left', async () => {
    const pid = restartableEngine();
    if (pid === undefined) {
      // Restarting needs a local dockerd this process may signal; under CI that is a failure, not a skip.
      if (isCi) throw new Error('engine restart test: no local dockerd that root can restart (pidof dockerd)');
      console.warn('engine restart test skipped: no local dockerd that this user can restart');
      return;
    }
    const manager = new DockerSimManager({
      image: SHELL_IMAGE,
      dataDirectory: data.dir,
      maxWorkers: 3,
      stopGracePeriodMs: 1000,
      defaults: { network: 'none', init: true, retries: 2, backoff: { initialDelayMs: 500 } },
    });
    for (let i = 1; i <= 6; i++) manager.addSimJob({ name: `E${i}`, command: [`echo run >> /mnt/data/runs.txt; sleep 3; echo ok > /mnt/data/ok.txt`] });
    const retried: string[] = [];
    manager.on('job:retrying', ({ job, error }) => retried.push(`${job.name}:${error.code}`));
    let startedCount = 0;
    let restart: Promise<void> | undefined;
    manager.on('job:started', () => {
      startedCount += 1;
      if (startedCount === 3) {
        restart = (async () => {
          await new Promise((resolve) => setTimeout(resolve, 500));
          await stopEngine(pid);
          execFileSync('bash', [ENGINE_SCRIPT], { stdio: 'ignore' });
        })();
      }
    });

    const summary = await manager.startComputation();
    await restart;

    expect(summary.results.map((r) => [r.name, r.status])).toEqual([1, 2, 3, 4, 5, 6].map((i) => [`E${i}`, 'succeeded']));
    // The 3 jobs running when the engine stopped failed with an engine error and ran again.
    expect(retried.length).toBeGreaterThanOrEqual(3);
    for (const entry of retried) expect(entry).toMatch(/:(E_ENGINE|E_DOCKER_UNAVAILABLE)$/);
    for (const result of summary.results) {
      expect(await readFile(path.join(result.outputDir, 'ok.txt'), 'utf8')).toBe('ok\n');
    }
    expect(await packageContainers()).toEqual([]);
  }, 180_000);
});
