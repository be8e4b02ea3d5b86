import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
// @ts-expect-error: the parser ships no types; it returns metric families as plain objects.
import parsePrometheus from 'parse-prometheus-text-format';
import { DockerSimManager, startMonitor, type MonitorHandle, type MonitorSnapshot } from '../../src/index.js';
import { InMemoryRuntime } from '../../src/testing.js';
import { MonitorState } from '../../src/monitor/monitor-state.js';

let dir: string;
let monitor: MonitorHandle | undefined;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dsim-monitor-'));
});
afterEach(async () => {
  await monitor?.close();
  monitor = undefined;
  await rm(dir, { recursive: true, force: true });
});

function sweep(): DockerSimManager {
  const runtime = new InMemoryRuntime({
    images: { 'sim:latest': {} },
    behaviour: (spec) =>
      spec.labels['docker-sim-manager.job'] === 'bad'
        ? { exitCode: 2, stderr: 'boom with s3cr3t-value\n', durationMs: 20 }
        : { stdout: `hello from ${spec.labels['docker-sim-manager.job']}\n`, durationMs: 40, usage: { cpuMs: 30, peakMemoryBytes: 10 * 1024 ** 2 } },
  });
  const manager = new DockerSimManager({ image: 'sim', dataDirectory: dir, runtime, maxWorkers: 2, defaults: { env: { API_TOKEN: 's3cr3t-value' } } });
  manager.addSimJobs([...Array.from({ length: 5 }, (_, i) => ({ name: `j${i}` })), { name: 'bad' }]);
  return manager;
}

/** The first snapshot of /events that satisfies `predicate`. */
async function snapshotWhere(url: string, predicate: (snapshot: MonitorSnapshot) => boolean): Promise<MonitorSnapshot> {
  const response = await fetch(url);
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  let buffered = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the event stream ended');
      buffered += Buffer.from(value).toString('utf8');
      for (const block of buffered.split('\n\n').slice(0, -1)) {
        const data = block.split('\n').find((line) => line.startsWith('data: '));
        const snapshot = data && (JSON.parse(data.slice(6)) as MonitorSnapshot);
        if (snapshot && predicate(snapshot)) return snapshot;
      }
      buffered = buffered.slice(buffered.lastIndexOf('\n\n') + 2);
    }
  } finally {
    await reader.cancel();
  }
}

test('every endpoint needs the token: none, a wrong one and a wrong scheme get 401; the query parameter and a Bearer header work', async () => {
  monitor = await startMonitor(sweep());
  const base = `http://127.0.0.1:${monitor.port}`;
  for (const pathname of ['/', '/events', '/metrics', '/logs?job=j0']) {
    expect((await fetch(`${base}${pathname}`)).status).toBe(401);
    expect((await fetch(`${base}${pathname}${pathname.includes('?') ? '&' : '?'}token=wrong`)).status).toBe(401);
    expect((await fetch(`${base}${pathname}`, { headers: { authorization: `Basic ${monitor.token}` } })).status).toBe(401);
  }
  expect((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${monitor.token}` } })).status).toBe(200);
  const page = await fetch(monitor.url);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('<title>docker-sim-manager monitor</title>');
  expect(monitor.url).toBe(`http://127.0.0.1:${monitor.port}/?token=${monitor.token}`);
});

test('the event stream follows the run to its end; logs come masked; /metrics parses as Prometheus text', async () => {
  const manager = sweep();
  monitor = await startMonitor(manager);
  const { token } = monitor;
  const base = `http://127.0.0.1:${monitor.port}`;
  const final = snapshotWhere(`${base}/events?token=${token}`, (s) => s.finishedAt !== null);
  await manager.startComputation();
  const snapshot = await final;
  expect(snapshot.counts).toMatchObject({ total: 6, succeeded: 5, failed: 1, running: 0, queued: 0 });
  expect(snapshot.failures.map((job) => job.name)).toEqual(['bad']);
  expect(snapshot.recent).toHaveLength(6);
  expect(snapshot.recent.find((job) => job.name === 'j0')).toMatchObject({ status: 'succeeded', cpuMs: 30, peakMemoryBytes: 10 * 1024 ** 2 });
  expect(JSON.stringify(snapshot)).not.toContain('s3cr3t');

  const log = await fetch(`${base}/logs?token=${token}&job=bad`);
  expect(await log.text()).toBe('boom with ***\n');
  expect((await fetch(`${base}/logs?token=${token}&job=${encodeURIComponent('../../etc/passwd')}`)).status).toBe(404);
  expect((await fetch(`${base}/logs?token=${token}&job=nosuchjob`)).status).toBe(404);

  const text = await (await fetch(`${base}/metrics?token=${token}`)).text();
  const families = parsePrometheus(text) as Array<{ name: string; type: string; metrics: Array<{ labels?: Record<string, string>; value?: string; count?: string }> }>;
  const family = (name: string) => families.find((f) => f.name === name);
  expect(family('dsim_jobs')?.metrics.find((m) => m.labels?.status === 'succeeded')?.value).toBe('5');
  expect(family('dsim_jobs')?.metrics.find((m) => m.labels?.status === 'failed')?.value).toBe('1');
  expect(family('dsim_attempts_total')?.metrics[0]?.value).toBe('6');
  expect(family('dsim_job_duration_seconds')).toMatchObject({ type: 'HISTOGRAM' });
  expect(family('dsim_job_duration_seconds')?.metrics[0]?.count).toBe('6');
  expect(Number(family('dsim_job_cpu_seconds_total')?.metrics[0]?.value)).toBeCloseTo(0.15);
});

test('a port in use or out of range is a clear error naming the port', async () => {
  monitor = await startMonitor(sweep());
  await expect(startMonitor(sweep(), { port: monitor.port })).rejects.toThrow(/cannot listen on 127\.0\.0\.1:\d+ \(EADDRINUSE\)/);
  await expect(startMonitor(sweep(), { port: 70_000 })).rejects.toMatchObject({ name: 'ValidationError', field: 'port' });
});

test('with 100,000 jobs the state and each snapshot stay small: running jobs, the last failures and recent jobs only', () => {
  const events = new EventEmitter();
  const state = new MonitorState(events as unknown as DockerSimManager);
  const jobs = Array.from({ length: 100_000 }, (_, i) => ({ name: `case-${i}` }));
  events.emit('run:started', { runId: 'r1', total: jobs.length });
  for (const job of jobs) events.emit('job:queued', { job });
  jobs.forEach((job, i) => {
    events.emit('job:started', { job, attempt: 1, engine: 'default', containerId: 'c' });
    const failed = i % 10 === 0;
    const result = { name: job.name, status: failed ? 'failed' : 'succeeded', attempts: 1, engine: 'default', startedAt: new Date(0), finishedAt: new Date(1000), durationMs: 1000, exitCode: failed ? 1 : 0, usage: { cpuMs: 10 }, attemptLimits: [], ...(failed ? { error: new Error('exit 1') } : {}) };
    events.emit(failed ? 'job:failed' : 'job:succeeded', { job, result });
  });
  const snapshot = state.snapshot();
  expect(snapshot.counts).toMatchObject({ total: 100_000, succeeded: 90_000, failed: 10_000, running: 0, queued: 0 });
  expect(snapshot.failures).toHaveLength(100);
  expect(snapshot.recent).toHaveLength(300);
  expect(JSON.stringify(snapshot).length).toBeLessThan(200_000);
});
