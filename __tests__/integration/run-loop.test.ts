import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { canReadKernelLog } from '../../src/runtime/kernel-oom-log.js';
import path from 'node:path';
import { DockerSimManager, JobExitError, SimJob, type DockerSimManagerEvents } from '../../src/index.js';
import { MONTE_CARLO, SHELL_IMAGE, describeEngine, docker, sampleRunning, tempDir, useEngineSuite } from '../helpers/engine.js';

type Recorded = { event: keyof DockerSimManagerEvents; job?: string };

/** Records every event of a manager in order. */
function record(manager: DockerSimManager): Recorded[] {
  const events: Recorded[] = [];
  const names: Array<keyof DockerSimManagerEvents> = ['run:started', 'image:ready', 'job:queued', 'job:started', 'job:log', 'job:succeeded', 'job:failed', 'job:cancelled', 'run:finished'];
  for (const name of names) {
    manager.on(name, (payload: unknown) => {
      const job = (payload as { job?: SimJob }).job;
      events.push({ event: name, ...(job ? { job: job.name } : {}) });
    });
  }
  return events;
}

describeEngine('run loop against a real Docker engine', () => {
  const data = useEngineSuite({ expectNoLeftovers: true }); // no container of any run is left behind

  test('12 jobs at maxWorkers 3: never more than 3 containers at once, outputs and log.txt per job, events in order', async () => {
    const manager = new DockerSimManager({ image: MONTE_CARLO, maxWorkers: 3, dataDirectory: data.dir, defaults: { network: 'none' } });
    // A short sleep before the simulation makes jobs overlap long enough for the sampler to see them.
    for (let i = 1; i <= 12; i++) {
      manager.addSimJob(new SimJob({ name: `IT${i}`, command: `-o /mnt/data -r ${i} -i 200` }));
    }
    const slow = new DockerSimManager({ image: SHELL_IMAGE, maxWorkers: 3, dataDirectory: path.join(data.dir, 'slow'), defaults: { network: 'none' } });
    for (let i = 1; i <= 9; i++) slow.addSimJob({ name: `S${i}`, command: ['sleep 0.6; echo done'] });

    const events = record(manager);
    const sampler = sampleRunning();
    const summary = await manager.startComputation();
    const slowSummary = await slow.startComputation();
    const maxRunning = await sampler.stop();

    expect(maxRunning).toBeLessThanOrEqual(3);
    expect(maxRunning).toBeGreaterThanOrEqual(2); // the jobs did run in parallel
    expect(slowSummary.succeeded).toBe(9);
    expect(summary).toMatchObject({ total: 12, succeeded: 12, failed: 0, cancelled: 0 });
    for (const result of summary.results) {
      const pi = Number(await readFile(path.join(result.outputDir, 'pi.txt'), 'utf8'));
      expect(pi).toBeGreaterThan(2.5);
      expect(pi).toBeLessThan(3.8);
      const log = await readFile(result.logFile, 'utf8');
      expect(log).toContain(`Result: pi_hat = ${pi.toFixed(6)}`);
      expect(result.outputDir).toBe(path.join(data.dir, `job_${result.name}`));
      expect(result).toMatchObject({ status: 'succeeded', exitCode: 0, attempts: 1 });
      expect(result.imageId).toMatch(/^sha256:/);
      expect(result.durationMs).toBeGreaterThan(0);
    }

    // Events: run:started, then image:ready, then per job queued < started < log lines < succeeded; run:finished last.
    expect(events[0]?.event).toBe('run:started');
    expect(events[1]?.event).toBe('image:ready');
    expect(events.at(-1)?.event).toBe('run:finished');
    for (let i = 1; i <= 12; i++) {
      const mine = events.filter((e) => e.job === `IT${i}`).map((e) => e.event);
      expect(mine[0]).toBe('job:queued');
      expect(mine[1]).toBe('job:started');
      expect(mine.slice(2, -1).every((e) => e === 'job:log')).toBe(true);
      expect(mine.filter((e) => e === 'job:log')).toHaveLength(2);
      expect(mine.at(-1)).toBe('job:succeeded');
    }
  });

  test('a failing job is failed with its exit code and stderr in log.txt; the others still succeed', async () => {
    const manager = new DockerSimManager({ image: MONTE_CARLO, maxWorkers: 2, dataDirectory: data.dir });
    manager.addSimJobs([
      { name: 'good1', command: '-o /mnt/data -r 1 -i 50' },
      { name: 'bad', command: '-o /mnt/data -r 1 -i not-a-number' },
      { name: 'good2', command: '-o /mnt/data -r 2 -i 50' },
    ]);
    const failures: string[] = [];
    manager.on('job:failed', ({ job, error }) => failures.push(`${job.name}:${error.code}`));
    const summary = await manager.startComputation();

    expect(summary).toMatchObject({ total: 3, succeeded: 2, failed: 1 });
    const bad = summary.results.find((r) => r.name === 'bad');
    expect(bad).toMatchObject({ status: 'failed', exitCode: 2 });
    expect(bad?.error).toBeInstanceOf(JobExitError);
    expect((bad?.error as JobExitError).isOomKilled).toBe(false);
    expect(await readFile(bad!.logFile, 'utf8')).toContain("iterations must be a positive integer, got 'not-a-number'");
    expect(failures).toEqual(['bad:E_JOB_EXIT']);
    expect(manager.simJobs.map((j) => j.status)).toEqual(['succeeded', 'failed', 'succeeded']);
  });

  test('templates from a file, a folder and in-memory content land where they were asked to', async () => {
    const sources = await tempDir('dsim-templates-');
    try {
      await writeFile(path.join(sources.dir, 'config.yaml'), 'alpha: 0.5\n');
      await mkdir(path.join(sources.dir, 'inputs', 'nested'), { recursive: true });
      await writeFile(path.join(sources.dir, 'inputs', 'a.csv'), 'x,y\n1,2\n');
      await writeFile(path.join(sources.dir, 'inputs', 'nested', 'b.txt'), 'deep\n');
      const manager = new DockerSimManager({ image: SHELL_IMAGE, maxWorkers: 1, dataDirectory: data.dir });
      manager.addSimJob({
        name: 'templated',
        command: ['cat /sim/inputs/a.csv /sim/inputs/nested/b.txt /sim/config.txt > /mnt/data/seen.txt && ls -l /sim/config.txt'],
        templates: [
          path.join(sources.dir, 'config.yaml'),
          { source: path.join(sources.dir, 'inputs'), target: '/sim/inputs' },
          { content: 'seed=3\n', target: '/sim/config.txt', mode: 0o600 },
        ],
      });
      const summary = await manager.startComputation();
      expect(summary.succeeded).toBe(1);
      const out = path.join(data.dir, 'job_templated');
      expect(await readFile(path.join(out, 'config.yaml'), 'utf8')).toBe('alpha: 0.5\n'); // bare path: into mountPath
      expect(await readFile(path.join(out, 'seen.txt'), 'utf8')).toBe('x,y\n1,2\ndeep\nseed=3\n');
      expect(await readFile(path.join(out, 'log.txt'), 'utf8')).toMatch(/^-rw------- /); // mode kept
    } finally {
      await sources.cleanup();
    }
  });

  test('env and resource limits are visible inside the container; outputs belong to the calling user', async () => {
    const manager = new DockerSimManager({ image: SHELL_IMAGE, maxWorkers: 1, dataDirectory: data.dir, defaults: { env: { SHARED: 'from-defaults', OVERRIDE: 'no' } } });
    manager.addSimJob({
      name: 'limits',
      env: { OVERRIDE: 'yes', WITH_SPACE: 'a b' },
      memory: '64m',
      cpus: 0.5,
      command: [
        'echo "$SHARED|$OVERRIDE|$WITH_SPACE" > /mnt/data/env.txt; ' +
          'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; ' +
          '(cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) | cut -d" " -f1; id -u',
      ],
    });
    const summary = await manager.startComputation();
    expect(summary.succeeded).toBe(1);
    const out = path.join(data.dir, 'job_limits');
    expect(await readFile(path.join(out, 'env.txt'), 'utf8')).toBe('from-defaults|yes|a b\n');
    const [memory, cpuQuota, uid] = (await readFile(path.join(out, 'log.txt'), 'utf8')).trim().split('\n');
    expect(Number(memory)).toBe(64 * 1024 * 1024);
    expect(Number(cpuQuota)).toBe(50_000); // 0.5 of a 100 ms period
    expect(Number(uid)).toBe(process.getuid!());
  });

  test('an OOM kill is reported as such whenever the engine or the kernel\'s log knows of it', async () => {
    // This engine (20.10, cgroup v1) misses some of its own OOM events: the kernel kills the process, but no `oom`
    // event comes and State.OOMKilled stays false. The package then reads the kernel's log where it may (root);
    // elsewhere it reports what the engine knows, so the engine's event stream is the reference.
    // The engine publishes its events in order: once the container's `destroy` event is in, any `oom` event
    // for it came before (waiting a fixed time instead loses a late event on a loaded machine).
    const events = (await docker.getEvents({ filters: { event: ['oom', 'destroy'] } })) as unknown as NodeJS.ReadableStream & { destroy(): void };
    const seen: Array<{ id: string; action: string }> = [];
    let wake = (): void => undefined;
    let pending = '';
    events.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString()).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines.filter(Boolean)) {
        const event = JSON.parse(line) as { id: string; Action?: string; status?: string };
        seen.push({ id: event.id, action: event.Action ?? event.status ?? '' });
      }
      wake();
    });
    let summary: Awaited<ReturnType<DockerSimManager['startComputation']>>;
    try {
      const manager = new DockerSimManager({ image: SHELL_IMAGE, maxWorkers: 1, dataDirectory: data.dir });
      // Grows a shell variable until the 8 MiB limit kills the process.
      manager.addSimJob({ name: 'hungry', memory: '8m', command: ['x=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; while true; do x="$x$x"; done'] });
      summary = await manager.startComputation();
      const id = summary.results[0]?.containerId;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no destroy event for container ${id} within 30 s; events: ${JSON.stringify(seen)}`)), 30_000);
        wake = () => {
          if (!seen.some((e) => e.id === id && e.action === 'destroy')) return;
          clearTimeout(timer);
          resolve();
        };
        wake();
      });
    } finally {
      events.destroy();
    }
    const oomContainers = new Set(seen.filter((e) => e.action === 'oom').map((e) => e.id));
    const [result] = summary.results;
    expect(result?.status).toBe('failed');
    expect(result?.exitCode).toBe(137);
    expect(result?.error).toBeInstanceOf(JobExitError);
    const error = result?.error as JobExitError;
    // Where this process reads the kernel's log (root), the kill is known from it even when the engine missed it.
    expect(error.isOomKilled).toBe(canReadKernelLog() || oomContainers.has(result!.containerId!));
    expect(error.message).toMatch(error.isOomKilled ? /ran out of memory \(OOMKilled, exit code 137\)/ : /SIGKILL, exit code 137.*memory/);
  });

  test('aborting the signal stops running containers, never starts queued ones, and removes everything', async () => {
    const manager = new DockerSimManager({ image: SHELL_IMAGE, maxWorkers: 2, dataDirectory: data.dir, stopGracePeriodMs: 1000 });
    for (let i = 1; i <= 6; i++) manager.addSimJob({ name: `long${i}`, command: ['sleep 30'] });
    const controller = new AbortController();
    let started = 0;
    manager.on('job:started', () => {
      if (++started === 2) setTimeout(() => controller.abort(), 300);
    });
    const begin = Date.now();
    const summary = await manager.startComputation({ signal: controller.signal });
    expect(Date.now() - begin).toBeLessThan(15_000);
    expect(summary).toMatchObject({ total: 6, cancelled: 6, succeeded: 0, failed: 0 });
    expect(started).toBe(2);
    // Queued jobs never got a folder.
    expect((await readdir(data.dir)).filter((e) => e.startsWith('job_')).sort()).toEqual(['job_long1', 'job_long2']);
  });

  test('a job writing lots of short lines has every line in log.txt', async () => {
    const manager = new DockerSimManager({ image: SHELL_IMAGE, maxWorkers: 1, dataDirectory: data.dir });
    manager.addSimJob({ name: 'chatty', command: ['i=0; while [ $i -lt 20000 ]; do echo "line $i"; echo "err $i" >&2; i=$((i+1)); done'] });
    let lines = 0;
    manager.on('job:log', () => lines++);
    const summary = await manager.startComputation();
    expect(summary.succeeded).toBe(1);
    const log = (await readFile(path.join(data.dir, 'job_chatty', 'log.txt'), 'utf8')).trim().split('\n');
    expect(log).toHaveLength(40_000);
    expect(log).toContain('line 19999');
    expect(log).toContain('err 19999');
    expect(lines).toBe(40_000);
  });
});
