import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import {
  DockerSimManager,
  JobExitError,
  JobStalledError,
  JobTimeoutError,
  LABELS,
  readManifest,
  manifestPath,
  type DockerSimManagerEvents,
} from '../../src/index.js';
import { SHELL_IMAGE, describeEngine, docker, packageContainers, useEngineSuite } from '../helpers/engine.js';
import { startDriver, type Driver } from '../helpers/driver.js';

/** Event names in the order they were emitted, with the job they concern. */
function recordEvents(manager: DockerSimManager, names: Array<keyof DockerSimManagerEvents>): Array<{ event: string; job?: string; payload: unknown }> {
  const events: Array<{ event: string; job?: string; payload: unknown }> = [];
  for (const name of names) {
    manager.on(name, (payload: unknown) => {
      const job = (payload as { job?: { name: string } }).job?.name;
      events.push({ event: name, ...(job ? { job } : {}), payload });
    });
  }
  return events;
}

/** Waits until no container of the package (made by any process) exists; resolves with how long it took. */
async function expectNoContainersWithin(ms: number, options: { anyOwner?: boolean } = {}): Promise<void> {
  const deadline = Date.now() + ms;
  let left = await packageContainers(options);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    left = await packageContainers(options);
  }
  expect(left.map((c) => c.Names[0])).toEqual([]);
}

/** Shell options shared by the tests: tini as PID 1 so SIGTERM ends `sleep` at once, no network. */
const shell = (dataDirectory: string, extra: Partial<ConstructorParameters<typeof DockerSimManager>[0]> = {}) => ({
  image: SHELL_IMAGE,
  dataDirectory,
  stopGracePeriodMs: 2000,
  ...extra,
  defaults: { network: 'none', init: true, ...extra.defaults },
});

describeEngine('robust runs against a real Docker engine', () => {
  const data = useEngineSuite({ expectNoLeftovers: true });

  test('timeoutMs stops a job that runs too long: SIGTERM, JobTimeoutError with exit code 143, others unaffected', async () => {
    const manager = new DockerSimManager(shell(data.dir, { maxWorkers: 2 }));
    manager.addSimJob({ name: 'slow', command: ['echo started; sleep 60'], timeoutMs: 1500 });
    manager.addSimJob({ name: 'quick', command: ['sleep 0.5; echo done'], timeoutMs: 20_000 });
    const started = Date.now();
    const summary = await manager.startComputation();
    expect(Date.now() - started).toBeLessThan(15_000);
    const slow = summary.results.find((r) => r.name === 'slow');
    expect(slow).toMatchObject({ status: 'failed', exitCode: 143, attempts: 1 });
    expect(slow?.error).toBeInstanceOf(JobTimeoutError);
    expect(slow?.error).toMatchObject({ code: 'E_JOB_TIMEOUT', timeoutMs: 1500, exitCode: 143 });
    expect(await readFile(slow?.logFile ?? '', 'utf8')).toContain('started'); // the output before the stop is kept
    expect(summary.results.find((r) => r.name === 'quick')).toMatchObject({ status: 'succeeded' });
  });

  test('inactivityTimeoutMs stops a silent job (job:stalled first), never one that keeps printing', async () => {
    const manager = new DockerSimManager(shell(data.dir, { maxWorkers: 2 }));
    manager.addSimJob({ name: 'silent', command: ['echo hello; sleep 60'], inactivityTimeoutMs: 1500 });
    manager.addSimJob({ name: 'chatty', command: ['for i in 1 2 3 4 5 6 7 8; do echo tick $i; sleep 0.5; done'], inactivityTimeoutMs: 1500 });
    const events = recordEvents(manager, ['job:stalled', 'job:failed', 'job:succeeded']);
    const summary = await manager.startComputation();

    const silent = summary.results.find((r) => r.name === 'silent');
    expect(silent).toMatchObject({ status: 'failed', exitCode: 143 });
    expect(silent?.error).toBeInstanceOf(JobStalledError);
    expect(summary.results.find((r) => r.name === 'chatty')).toMatchObject({ status: 'succeeded', exitCode: 0 });
    // The chatty job ran 4 s, longer than the 1.5 s limit: only silence counts.
    expect(summary.results.find((r) => r.name === 'chatty')?.durationMs).toBeGreaterThan(3000);
    expect(events.map((e) => `${e.event}:${e.job}`)).toEqual(expect.arrayContaining(['job:stalled:silent', 'job:failed:silent', 'job:succeeded:chatty']));
    expect(events.findIndex((e) => e.event === 'job:stalled')).toBeLessThan(events.findIndex((e) => e.event === 'job:failed'));
    const stalled = events.find((e) => e.event === 'job:stalled')?.payload as { silentMs: number; attempt: number };
    expect(stalled.attempt).toBe(1);
    expect(stalled.silentMs).toBeGreaterThanOrEqual(1500);
  });

  test('a job that fails on its first attempt only is retried and succeeds; the first attempt is set aside, not deleted', async () => {
    const manager = new DockerSimManager(shell(data.dir, { maxWorkers: 2 }));
    // The second attempt sees the first one's output in .attempt-1 (it lies inside its own job folder).
    manager.addSimJob({
      name: 'flaky',
      command: ['if [ -d /mnt/data/.attempt-1 ]; then echo second try > /mnt/data/out.txt; else echo first try; exit 3; fi'],
      retries: 2,
      retryOn: 'exit-code',
      backoff: { initialDelayMs: 200 },
    });
    manager.addSimJob({ name: 'broken', command: ['echo nope; exit 4'], retries: 2 }); // default retryOn: engine errors only
    const events = recordEvents(manager, ['job:started', 'job:retrying', 'job:succeeded', 'job:failed']);
    const summary = await manager.startComputation();

    const flaky = summary.results.find((r) => r.name === 'flaky');
    expect(flaky).toMatchObject({ status: 'succeeded', exitCode: 0, attempts: 2 });
    expect(await readFile(path.join(flaky?.outputDir ?? '', 'out.txt'), 'utf8')).toBe('second try\n');
    expect(await readFile(path.join(flaky?.outputDir ?? '', '.attempt-1', 'log.txt'), 'utf8')).toBe('first try\n');
    expect(await readFile(flaky?.logFile ?? '', 'utf8')).toBe(''); // the log of the attempt that succeeded
    const flakyEvents = events.filter((e) => e.job === 'flaky');
    expect(flakyEvents.map((e) => e.event)).toEqual(['job:started', 'job:retrying', 'job:started', 'job:succeeded']);
    const retrying = flakyEvents[1]?.payload as { attempt: number; error: unknown; delayMs: number };
    expect(retrying.attempt).toBe(2);
    expect(retrying.error).toBeInstanceOf(JobExitError);
    expect(retrying.delayMs).toBeGreaterThanOrEqual(160);
    expect(retrying.delayMs).toBeLessThanOrEqual(240);

    const broken = summary.results.find((r) => r.name === 'broken');
    expect(broken).toMatchObject({ status: 'failed', exitCode: 4, attempts: 1 }); // an exit code is not retried by default

    const manifest = await readManifest(manifestPath(data.dir));
    expect(manifest.map((r) => [r.job, r.status, r.attempts, r.exitCode])).toEqual(
      expect.arrayContaining([
        ['flaky', 'succeeded', 2, 0],
        ['broken', 'failed', 1, 4],
      ]),
    );
  });

  test('failFast: the first failure cancels the rest; running containers are stopped, queued jobs never start', async () => {
    const manager = new DockerSimManager(shell(data.dir, { maxWorkers: 2, failFast: true }));
    manager.addSimJob({ name: 'bad', command: ['sleep 0.5; exit 2'] });
    for (let i = 1; i <= 5; i++) manager.addSimJob({ name: `long${i}`, command: ['sleep 60'] });
    const events = recordEvents(manager, ['job:started', 'run:cancelling']);
    const started = Date.now();
    const summary = await manager.startComputation();

    expect(Date.now() - started).toBeLessThan(15_000);
    expect(summary).toMatchObject({ total: 6, failed: 1, succeeded: 0, cancelled: 5, stopReason: 'fail-fast' });
    expect(events.filter((e) => e.event === 'job:started').map((e) => e.job).sort()).toEqual(['bad', 'long1']);
    expect(events.filter((e) => e.event === 'run:cancelling').map((e) => (e.payload as { reason: string }).reason)).toEqual(['fail-fast']);
    expect(summary.results.find((r) => r.name === 'long1')).toMatchObject({ status: 'cancelled', attempts: 1 });
    expect(summary.results.find((r) => r.name === 'long5')).toMatchObject({ status: 'cancelled', attempts: 0, startedAt: null });
    await expect(readdir(path.join(data.dir, 'job_long5'))).rejects.toThrow(/ENOENT/); // never started, no folder
  });

  test('maxFailures: the run stops once that many jobs failed', async () => {
    const manager = new DockerSimManager(shell(data.dir, { maxWorkers: 1, maxFailures: 2 }));
    manager.addSimJob({ name: 'ok1', command: ['true'] });
    manager.addSimJob({ name: 'bad1', command: ['exit 1'] });
    manager.addSimJob({ name: 'ok2', command: ['true'] });
    manager.addSimJob({ name: 'bad2', command: ['exit 1'] });
    manager.addSimJob({ name: 'never1', command: ['true'] });
    manager.addSimJob({ name: 'never2', command: ['true'] });
    const summary = await manager.startComputation();
    expect(summary).toMatchObject({ succeeded: 2, failed: 2, cancelled: 2, stopReason: 'max-failures' });
    expect(summary.results.map((r) => r.status)).toEqual(['succeeded', 'failed', 'succeeded', 'failed', 'cancelled', 'cancelled']);
  });

  test('an AbortSignal mid-run: running jobs are stopped and marked cancelled, queued ones never start, nothing is left', async () => {
    const manager = new DockerSimManager(shell(data.dir, { maxWorkers: 2 }));
    for (let i = 1; i <= 6; i++) manager.addSimJob({ name: `J${i}`, command: ['echo up; sleep 60'] });
    const controller = new AbortController();
    let startedCount = 0;
    manager.on('job:started', () => {
      startedCount += 1;
      if (startedCount === 2) setTimeout(() => controller.abort(), 300);
    });
    const started = Date.now();
    const summary = await manager.startComputation({ signal: controller.signal });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(summary).toMatchObject({ cancelled: 6, succeeded: 0, failed: 0, stopReason: 'cancelled' });
    expect(summary.results.filter((r) => r.attempts === 1).map((r) => r.name)).toEqual(['J1', 'J2']);
    for (const result of summary.results) expect(result.error?.code).toBe('E_JOB_CANCELLED');
    expect(await readFile(path.join(data.dir, 'job_J1', 'log.txt'), 'utf8')).toBe('up\n');
    await expectNoContainersWithin(10_000);

    // The cancelled run can be resumed: a new manager runs what did not succeed, setting partial output aside.
    const resumed = new DockerSimManager(shell(data.dir, { maxWorkers: 3, resume: true }));
    for (let i = 1; i <= 6; i++) resumed.addSimJob({ name: `J${i}`, command: [`echo again ${i}`] });
    const second = await resumed.startComputation();
    expect(second).toMatchObject({ succeeded: 6, skipped: 0 });
    expect(await readFile(path.join(data.dir, 'job_J1', '.attempt-1', 'log.txt'), 'utf8')).toBe('up\n');
  });

  test("security: 'strict' is what the engine runs (docker inspect); writing to / fails, the mount path and /tmp work", async () => {
    const manager = new DockerSimManager({ image: SHELL_IMAGE, dataDirectory: data.dir, defaults: { security: 'strict' } });
    manager.addSimJob({
      name: 'strict',
      command: ['cat /mnt/data/input.txt; echo out > /mnt/data/out.txt && echo mount-ok; touch /tmp/t && echo tmp-ok; touch /escape || echo root-refused; sleep 2'],
      templates: [{ content: 'template-ok\n', target: '/mnt/data/input.txt' }],
    });
    manager.addSimJob({ name: 'writes-root', command: ['echo x > /etc/planted'] });
    let inspected: Awaited<ReturnType<ReturnType<typeof docker.getContainer>['inspect']>> | undefined;
    manager.on('job:started', ({ job, containerId }) => {
      if (job.name === 'strict') void docker.getContainer(containerId).inspect().then((info) => (inspected = info));
    });
    const summary = await manager.startComputation();

    expect(inspected?.HostConfig).toMatchObject({ ReadonlyRootfs: true, CapDrop: ['ALL'], PidsLimit: 1024, NetworkMode: 'none' });
    expect(inspected?.HostConfig.SecurityOpt).toContain('no-new-privileges');
    expect(Object.keys(inspected?.HostConfig.Tmpfs ?? {})).toEqual(['/tmp']);
    const strict = summary.results.find((r) => r.name === 'strict');
    expect(strict).toMatchObject({ status: 'succeeded' });
    expect(await readFile(strict?.stdoutFile ?? '', 'utf8')).toBe('template-ok\nmount-ok\ntmp-ok\nroot-refused\n');
    expect(await readFile(strict?.stderrFile ?? '', 'utf8')).toMatch(/\/escape: Read-only file system/);
    expect(await readFile(path.join(strict?.outputDir ?? '', 'out.txt'), 'utf8')).toBe('out\n');
    const writesRoot = summary.results.find((r) => r.name === 'writes-root');
    expect(writesRoot).toMatchObject({ status: 'failed', exitCode: 1 });
    expect(await readFile(writesRoot?.logFile ?? '', 'utf8')).toMatch(/Read-only file system/);
  });
});

describeEngine('robust runs: driver processes killed or signalled', () => {
  const data = useEngineSuite();
  let driver: Driver | undefined;
  afterEach(async () => {
    if (!driver) return;
    // A test that failed half-way leaves a live driver and its containers (they are not this process's, so
    // useEngineSuite does not remove them): end both, so the next test starts clean and no child is left.
    const { pid } = driver.child;
    driver.child.kill('SIGKILL');
    await driver.exited;
    driver = undefined;
    const left = await docker.listContainers({ all: true, filters: { label: [`${LABELS.ownerPid}=${pid}`] } });
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  });

  test('SIGINT to a driver with handleSignals: the run is cancelled, its summary printed, no container left within 10 s', async () => {
    const jobs = Array.from({ length: 6 }, (_, i) => ({ name: `S${i + 1}`, command: ['sleep 60'] }));
    driver = startDriver(shell(data.dir, { maxWorkers: 2, handleSignals: true }), jobs);
    await driver.waitFor((_line, all) => all.filter((l) => l.event === 'job:started').length === 2);
    const signalled = Date.now();
    driver.child.kill('SIGINT');
    const summary = await driver.waitFor((line) => line.event === 'summary', 20_000);
    expect(await driver.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeLessThan(10_000);
    expect(summary.stopReason).toBe('signal');
    expect(summary.counts).toEqual({ succeeded: 0, failed: 0, cancelled: 6, skipped: 0 });
    expect(driver.lines.filter((l) => l.event === 'run:cancelling').map((l) => l.reason)).toEqual(['signal']);
    expect(driver.lines.filter((l) => l.event === 'job:started')).toHaveLength(2); // queued jobs never started
    await expectNoContainersWithin(10_000, { anyOwner: true });
  });

  test('a second SIGINT removes the containers and exits at once', async () => {
    const jobs = Array.from({ length: 4 }, (_, i) => ({ name: `T${i + 1}`, command: ['trap "" TERM; sleep 60'] }));
    // No init and a shell that ignores SIGTERM: the first SIGINT's stop would wait the full grace period.
    driver = startDriver({ image: SHELL_IMAGE, dataDirectory: data.dir, maxWorkers: 2, handleSignals: true, stopGracePeriodMs: 60_000, defaults: { network: 'none' } }, jobs);
    await driver.waitFor((_line, all) => all.filter((l) => l.event === 'job:started').length === 2);
    driver.child.kill('SIGINT');
    await driver.waitFor((line) => line.event === 'run:cancelling');
    const second = Date.now();
    driver.child.kill('SIGINT');
    expect(await driver.exited).toEqual({ code: 130, signal: null });
    expect(Date.now() - second).toBeLessThan(10_000);
    expect(driver.lines.some((l) => l.event === 'summary')).toBe(false);
    await expectNoContainersWithin(5_000, { anyOwner: true });
  });

  test('kill -9 of a driver with 4 jobs running and 8 queued, then resume: every job succeeds, finished ones never run again', async () => {
    // Each execution appends a line to runs.txt in its job folder; resume sets interrupted output aside in .attempt-<n>.
    const jobs = Array.from({ length: 12 }, (_, i) => ({ name: `K${String(i + 1).padStart(2, '0')}`, command: [`echo run >> /mnt/data/runs.txt; sleep ${i < 4 ? 1 : 30}; echo ok > /mnt/data/result.txt`] }));
    driver = startDriver(shell(data.dir, { maxWorkers: 4 }), jobs);
    // K01..K04 finish after 1 s; K05..K08 then run (for 30 s) and K09..K12 wait.
    await driver.waitFor((_line, all) => all.filter((l) => l.event === 'job:started').length === 8);
    driver.child.kill('SIGKILL');
    await driver.exited;
    const done = driver.lines.filter((l) => l.event === 'job:succeeded').map((l) => l.job);
    expect(done.sort()).toEqual(['K01', 'K02', 'K03', 'K04']);
    // The killed driver's containers (its pid is on them); other processes may use the engine meanwhile.
    const orphans = (await packageContainers({ anyOwner: true })).filter((c) => c.Labels['docker-sim-manager.owner-pid'] === String(driver?.child.pid));
    expect(orphans.filter((c) => c.State === 'running')).toHaveLength(4); // left running by the killed driver

    // The next driver removes the orphans first, skips what succeeded and runs the rest (now quickly).
    const quick = jobs.map((job, i) => ({ ...job, command: [`echo run >> /mnt/data/runs.txt; echo ok > /mnt/data/result.txt; true ${i}`] }));
    quick.splice(0, 4, ...jobs.slice(0, 4)); // the finished jobs keep their spec, so they are skipped
    driver = startDriver(shell(data.dir, { maxWorkers: 4, resume: true }), quick);
    const summary = await driver.waitFor((line) => line.event === 'summary', 60_000);
    // The 4 running ones, and any of K01..K04 still there: the driver removes finished containers off the
    // critical path, so a removal can have been in flight when it was killed.
    const removed = driver.lines.find((l) => l.event === 'run:orphans-removed')?.removed;
    expect(removed).toBeGreaterThanOrEqual(4);
    expect(removed).toBeLessThanOrEqual(orphans.length);
    expect(summary.counts).toEqual({ succeeded: 8, failed: 0, cancelled: 0, skipped: 4 });
    for (const job of jobs) {
      const folder = path.join(data.dir, `job_${job.name}`);
      expect(await readFile(path.join(folder, 'result.txt'), 'utf8')).toBe('ok\n');
      const runs = (await readFile(path.join(folder, 'runs.txt'), 'utf8')).trim().split('\n');
      expect(runs).toEqual(['run']);
      const entries = await readdir(folder);
      const interrupted = ['K05', 'K06', 'K07', 'K08'].includes(job.name);
      // Finished jobs ran once and were left untouched; interrupted ones kept their partial output aside.
      expect(entries.includes('.attempt-1')).toBe(interrupted);
      if (interrupted) expect(await readFile(path.join(folder, '.attempt-1', 'runs.txt'), 'utf8')).toBe('run\n');
    }
    await expectNoContainersWithin(10_000, { anyOwner: true });
  });
});
